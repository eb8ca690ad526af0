"""The blocks a run's predictions become, each built by one function used at run time and when the record
is checked against its stored predictions: ``evaluate`` (the ``test`` block: scores, their bootstrap
intervals over test images, calibration before and after temperature scaling) and ``evaluate_external``
(scores over the classes an external test set holds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.metrics.block import TestMetrics
from bcbench.metrics.calibration import calibration_block
from bcbench.metrics.classification import classification_metrics, present_class_metrics, validated_probs
from bcbench.metrics.stratified import METHOD as BOOTSTRAP_METHOD
from bcbench.metrics.stratified import stratified_bootstrap


def evaluate(
    test_probs: Any, test_targets: Any, val_probs: Any, val_targets: Any, classes: Sequence[str]
) -> TestMetrics:
    """The record's ``test`` block from softmax probabilities and class indices of the test and validation
    images (numpy or torch)."""
    classes = list(classes)
    probs, targets = validated_probs(test_probs, test_targets, len(classes))
    val = validated_probs(val_probs, val_targets, len(classes))
    metrics = classification_metrics(probs, targets, classes)
    metrics["bootstrap"] = stratified_bootstrap(probs, targets, classes)
    metrics["bootstrap_method"] = BOOTSTRAP_METHOD
    metrics["calibration"] = calibration_block(*val, probs, targets)
    return TestMetrics.from_json(metrics)


def evaluate_external(probs: Any, targets: Any, classes: Sequence[str]) -> TestMetrics:
    """Scores on an external test set, over the classes it holds (``classes_present``)."""
    return TestMetrics.from_json(present_class_metrics(probs, targets, list(classes)))
