"""The ``test`` block of a run record (also used for external test sets): typed, JSON both ways."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcbench.serial import JsonBlock


@dataclass
class ClassScores(JsonBlock):
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    support: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestMetrics(JsonBlock):
    """Scores on one set of images; see ``classification_metrics`` for the definitions."""

    __test__ = False  # not a pytest test class, despite the name

    accuracy: float | None = None
    balanced_accuracy: float | None = None
    f1_macro: float | None = None
    f1_weighted: float | None = None
    precision_macro: float | None = None
    recall_macro: float | None = None
    precision_weighted: float | None = None
    recall_weighted: float | None = None
    auroc_macro: float | None = None
    ece: float | None = None
    nll: float | None = None
    n: int | None = None
    per_class: dict[str, ClassScores] = field(default_factory=dict)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    bootstrap: dict[str, list[float] | None] = field(
        default_factory=dict
    )  # metric -> [low, high] over images
    bootstrap_method: str | None = None
    classes_present: list[str] | None = None  # external sets: the classes scored (None: all)
    calibration: dict[str, Any] | None = None  # temperature, test NLL / Brier / ECE before and after
    extra: dict[str, Any] = field(default_factory=dict)
