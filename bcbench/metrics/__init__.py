"""Metrics: pure functions from predictions to scores (``classification``), test-set bootstrap intervals
(``bootstrap``), validation scores that pick the best epoch (``selection``), and the record's typed
``test`` block (``block``)."""

from bcbench.metrics.block import ClassScores, TestMetrics
from bcbench.metrics.bootstrap import bootstrap_metric_ci
from bcbench.metrics.classification import (
    classification_metrics,
    metrics_from_confusion,
    present_class_metrics,
)
from bcbench.metrics.selection import selection_score

__all__ = [
    "ClassScores",
    "TestMetrics",
    "bootstrap_metric_ci",
    "classification_metrics",
    "metrics_from_confusion",
    "present_class_metrics",
    "selection_score",
]
