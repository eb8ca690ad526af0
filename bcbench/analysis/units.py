"""The units a clinical statistic is computed on, read from stored predictions and records only.

Holdout: one unit per run (its validation and test predictions). Cross-validation: one unit per model,
seed and repeat, pooling the test predictions of all its folds (every image once); each fold's images
keep the threshold chosen on that fold's own validation set. Temperatures and temperature-scaled
probabilities are read as stored (the record's ``test.calibration`` and the ``cal_prob_*`` columns),
never refitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    runs: int = 1  # runs pooled into this unit (folds in cross-validation)


def build_units(
    records: Sequence[RunRecord], directory: Path | None, positive: str | None, rule: str, target: float
) -> list[PredictionUnit]:
    """One unit per holdout run, or per (model, seed, repeat) of cross-validation; runs without stored
    predictions are left out."""
    cells: dict[tuple[str, object, object], list[tuple[RunRecord, pd.DataFrame]]] = {}
    for record in records:
        frame = read_predictions(directory, record) if directory is not None else None
        if frame is None:
            continue
        key = (group_label(record), record.seed, record.repeat if record.fold is not None else record.run_id)
        cells.setdefault(key, []).append((record, frame))
    return [_unit(key[0], runs, positive, rule, target) for key, runs in cells.items()]


def _unit(
    model: str, runs: list[tuple[RunRecord, pd.DataFrame]], positive: str | None, rule: str, target: float
) -> PredictionUnit:
    classes = runs[0][0].classes
    parts = [_run_part(record, frame, classes, positive, rule, target) for record, frame in runs]
    record = runs[0][0]
    label = f"seed {record.seed}"
    if record.fold is not None:
        label += f", repeat {record.repeat} (pooled over {len(runs)} folds)"
    thresholds = (
        None
        if any(part["thresholds"] is None for part in parts)
        else np.concatenate([part["thresholds"] for part in parts])
    )
    return PredictionUnit(
        model=model,
        label=label,
        seed=record.seed,
        repeat=record.repeat,
        classes=classes,
        index=np.concatenate([part["index"] for part in parts]),
        probs=np.concatenate([part["probs"] for part in parts]),
        calibrated=np.concatenate([part["calibrated"] for part in parts]),
        labels=np.concatenate([part["labels"] for part in parts]),
        thresholds=thresholds,
        temperatures=[part["temperature"] for part in parts],
        val_nll=[part["val_nll"] for part in parts],
        runs=len(runs),
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
