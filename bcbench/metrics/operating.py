"""Operating points of one class against the rest: a threshold chosen on validation predictions,
applied to test, and the sensitivity a model reaches at a fixed high specificity.

A score is the predicted probability of the positive class; an image is called positive when its
score is at or above the threshold.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

ThresholdRule = Literal["youden", "sensitivity", "specificity"]
POSITIVE_NAMES = ("malignant", "malignancy", "cancer", "tumor", "tumour", "disease", "abnormal", "positive")


def default_positive_class(classes: list[str]) -> str | None:
    """The class that matters when none is named: a class called e.g. malignant, else for two classes
    the second (label 1, the usual positive); None for several classes with no such name."""
    for name in classes:
        if name.lower() in POSITIVE_NAMES:
            return name
    return classes[1] if len(classes) == 2 else None


def choose_threshold(
    scores: Any, positive: Any, rule: ThresholdRule = "youden", target: float = 0.9
) -> float:
    """The threshold on validation scores: Youden's J (sensitivity + specificity - 1 at its largest),
    the highest threshold reaching ``target`` sensitivity, or the lowest reaching ``target`` specificity."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        raise ValueError("the validation images hold one class only: no threshold can be chosen")
    fpr, tpr, thresholds = roc_curve(positive, np.asarray(scores, dtype=np.float64), drop_intermediate=False)
    usable = np.isfinite(thresholds)  # roc_curve's first threshold is +inf (nothing called positive)
    fpr, tpr, thresholds = fpr[usable], tpr[usable], thresholds[usable]
    if rule == "youden":
        return float(thresholds[int(np.argmax(tpr - fpr))])
    if rule == "sensitivity":
        return float(thresholds[int(np.argmax(tpr >= target))])  # thresholds fall as tpr rises
    reaching = np.flatnonzero(1 - fpr >= target)
    return float(thresholds[reaching[-1]]) if reaching.size else float(thresholds[0])


def rates_at(scores: Any, positive: Any, threshold: float) -> dict[str, Any]:
    """Counts and rates of calling images positive at ``threshold``: tp, fp, tn, fn, sensitivity,
    specificity, ppv, npv (None where a denominator is 0)."""
    called = np.asarray(scores, dtype=np.float64) >= threshold
    positive = np.asarray(positive, dtype=bool)
    tp, fp = int((called & positive).sum()), int((called & ~positive).sum())
    tn, fn = int((~called & ~positive).sum()), int((~called & positive).sum())
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
    }


def sensitivity_at_specificity(scores: Any, positive: Any, specificity: float) -> float | None:
    """The highest sensitivity on the empirical ROC curve among thresholds with specificity >= target."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return None
    fpr, tpr, _ = roc_curve(positive, np.asarray(scores, dtype=np.float64), drop_intermediate=False)
    allowed = 1 - fpr >= specificity - 1e-12
    return float(tpr[allowed].max())


def roc_points(scores: Any, positive: Any) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) of the empirical ROC curve."""
    fpr, tpr, _ = roc_curve(np.asarray(positive, dtype=bool), np.asarray(scores, dtype=np.float64))
    return fpr, tpr


def pr_points(scores: Any, positive: Any) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) of the precision-recall curve."""
    precision, recall, _ = precision_recall_curve(
        np.asarray(positive, dtype=bool), np.asarray(scores, dtype=np.float64)
    )
    return recall, precision


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None
