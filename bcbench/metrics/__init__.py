"""Metrics: every score's formula once, batched (``formulas``); the scores of a set of predictions
(``classification``); temperature scaling and calibration scores (``calibration``); the stratified
bootstrap over test images (``stratified``); operating points of one class against the rest
(``operating``); validation scores that pick the best epoch (``selection``); selective prediction and the
ensemble of stored probabilities (``selective``); and the builders of the record's ``test`` and external
blocks (``evaluate``, ``block``)."""

from bcbench.metrics.block import ClassScores, TestMetrics
from bcbench.metrics.calibration import apply_temperature, calibration_scores, fit_temperature
from bcbench.metrics.classification import classification_metrics, metrics_from_confusion
from bcbench.metrics.evaluate import evaluate, evaluate_external
from bcbench.metrics.formulas import ECE_BINS, nll, reliability
from bcbench.metrics.operating import (
    choose_threshold,
    default_positive_class,
    pr_points,
    rates_at,
    roc_points,
    sensitivity_at_specificity,
)
from bcbench.metrics.selection import selection_score
from bcbench.metrics.selective import (
    RiskCoverage,
    at_coverage,
    aurc,
    ensemble_probabilities,
    kept_count,
    optimal_aurc,
    resampled_selective,
    risk_coverage,
    selective_block,
)
from bcbench.metrics.stratified import METHOD as BOOTSTRAP_METHOD
from bcbench.metrics.stratified import resampled_scores, stratified_bootstrap, stratified_indices

__all__ = [
    "BOOTSTRAP_METHOD",
    "ECE_BINS",
    "ClassScores",
    "RiskCoverage",
    "TestMetrics",
    "apply_temperature",
    "at_coverage",
    "aurc",
    "calibration_scores",
    "choose_threshold",
    "classification_metrics",
    "default_positive_class",
    "ensemble_probabilities",
    "evaluate",
    "evaluate_external",
    "fit_temperature",
    "kept_count",
    "metrics_from_confusion",
    "nll",
    "optimal_aurc",
    "pr_points",
    "rates_at",
    "reliability",
    "resampled_scores",
    "resampled_selective",
    "risk_coverage",
    "roc_points",
    "selection_score",
    "selective_block",
    "sensitivity_at_specificity",
    "stratified_bootstrap",
    "stratified_indices",
]
