"""The units a clinical statistic is computed on, read from stored predictions and records only.

Every run is a unit: its test predictions, scored by one model, with the threshold chosen on its own
validation predictions. In cross-validation ``pool_units`` also joins the folds of one model, seed and
repeat into one unit (every image once, each fold's images keeping their fold's threshold): a pooled unit
is used for counts at the threshold, never for statistics of scores (AUROC, ROC curves, DeLong), which
would mix fold models whose scores are on different scales. Temperatures and temperature-scaled
probabilities are read as stored (the record's ``test.calibration`` and the ``cal_prob_*`` columns),
never refitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bcbench.metrics import choose_threshold, nll
from bcbench.record import CALIBRATED_PREFIX, RunRecord, group_label, probabilities, read_predictions


@dataclass
class PredictionUnit:
    """Test predictions of one run (holdout) or of one pooled cross-validation repeat, with per-image
    thresholds (from each run's own validation predictions) and the stored calibrated probabilities."""

    model: str
    label: str  # "seed 0", or "seed 0, repeat 1 (pooled over 5 folds)"
    seed: object
    repeat: int | None
    classes: list[str]
    index: np.ndarray  # image positions in the data set, to pair models on the same images
    probs: np.ndarray
    calibrated: np.ndarray
    labels: np.ndarray
    thresholds: np.ndarray | None  # per image; None without a positive class or a usable val set
    temperatures: list[float]
    val_nll: list[tuple[float, float]]  # (before, after) per run
    fold: int | None = None  # cross-validation: the test fold (None for a pooled unit and in holdout)
    parts: list[PredictionUnit] = field(default_factory=list)  # a pooled unit's runs (folds)

    @property
    def runs(self) -> int:
        return len(self.parts) or 1


def build_units(
    records: Sequence[RunRecord], directory: Path | None, positive: str | None, rule: str, target: float
) -> list[PredictionUnit]:
    """One unit per run with stored predictions (runs without them are left out)."""
    units = []
    for record in records:
        frame = read_predictions(directory, record) if directory is not None else None
        if frame is not None:
            units.append(_unit(record, frame, positive, rule, target))
    return units


def pool_units(units: Sequence[PredictionUnit]) -> list[PredictionUnit]:
    """Cross-validation: one unit per model, seed and repeat joining its folds; holdout units as they are."""
    cells: dict[tuple[str, object, object], list[PredictionUnit]] = {}
    for unit in units:
        key = (unit.model, unit.seed, unit.repeat if unit.fold is not None else id(unit))
        cells.setdefault(key, []).append(unit)
    return [parts[0] if parts[0].fold is None else _pooled(parts) for parts in cells.values()]


def _pooled(parts: list[PredictionUnit]) -> PredictionUnit:
    first = parts[0]
    thresholds = (
        None if any(p.thresholds is None for p in parts) else np.concatenate([p.thresholds for p in parts])
    )
    return PredictionUnit(
        model=first.model,
        label=f"seed {first.seed}, repeat {first.repeat} (pooled over {len(parts)} folds)",
        seed=first.seed,
        repeat=first.repeat,
        classes=first.classes,
        index=np.concatenate([p.index for p in parts]),
        probs=np.concatenate([p.probs for p in parts]),
        calibrated=np.concatenate([p.calibrated for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        thresholds=thresholds,
        temperatures=[t for p in parts for t in p.temperatures],
        val_nll=[pair for p in parts for pair in p.val_nll],
        parts=list(parts),
    )


def _unit(
    record: RunRecord, frame: pd.DataFrame, positive: str | None, rule: str, target: float
) -> PredictionUnit:
    part = _run_part(record, frame, record.classes, positive, rule, target)
    label = f"seed {record.seed}"
    if record.fold is not None:
        label += f", repeat {record.repeat}, fold {record.fold}"
    return PredictionUnit(
        model=group_label(record),
        label=label,
        seed=record.seed,
        repeat=record.repeat,
        classes=record.classes,
        index=part["index"],
        probs=part["probs"],
        calibrated=part["calibrated"],
        labels=part["labels"],
        thresholds=part["thresholds"],
        temperatures=[part["temperature"]],
        val_nll=[part["val_nll"]],
        fold=record.fold,
    )


def _run_part(
    record: RunRecord, frame: pd.DataFrame, classes: list[str], positive: str | None, rule: str, target: float
) -> dict:
    """One run's test predictions, its stored temperature and its positive-class threshold (from its val
    rows)."""
    test, val = frame[frame["set"] == "test"], frame[frame["set"] == "val"]
    probs, labels = probabilities(test, classes)
    val_probs, val_labels = probabilities(val, classes)
    calibrated, val_calibrated = probs, val_probs  # predictions stored before calibration existed
    if f"{CALIBRATED_PREFIX}{classes[0]}" in frame.columns:
        calibrated, val_calibrated = (
            probabilities(rows, classes, calibrated=True)[0] for rows in (test, val)
        )
    return {
        "index": test["index"].to_numpy(),
        "probs": probs,
        "calibrated": calibrated,
        "labels": labels,
        "thresholds": _thresholds(val_probs, val_labels, labels.size, classes, positive, rule, target),
        "temperature": stored_temperature(record),
        "val_nll": (nll(val_probs, val_labels), nll(val_calibrated, val_labels)),
    }


def stored_temperature(record: RunRecord) -> float:
    """The temperature the run fitted and stored (1.0 for records from before calibration existed)."""
    calibration = record.test.calibration if record.test is not None else None
    return float((calibration or {}).get("temperature", 1.0))


def _thresholds(
    val_probs: np.ndarray,
    val_labels: np.ndarray,
    count: int,
    classes: list[str],
    positive: str | None,
    rule: str,
    target: float,
) -> np.ndarray | None:
    """The run's validation threshold on P(positive), repeated for each of its ``count`` test images; None
    without a positive class or when the validation images hold one class only."""
    if positive is None:
        return None
    column = classes.index(positive)
    try:
        threshold = choose_threshold(val_probs[:, column], val_labels == column, rule, target)  # type: ignore[arg-type]
    except ValueError:
        return None
    return np.full(count, threshold)
