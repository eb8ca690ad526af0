"""The units a clinical statistic is computed on, read from stored predictions only.

Holdout: one unit per run (its validation and test predictions). Cross-validation: one unit per model,
seed and repeat, pooling the test predictions of all its folds (every image once); each fold's images
keep the threshold chosen on that fold's own validation set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bcbench.metrics.calibration import apply_temperature, fit_temperature, nll
from bcbench.metrics.operating import choose_threshold
from bcbench.record import RunRecord, group_label
from bcbench.record.predictions import probabilities, read_predictions


@dataclass
class Unit:
    """Test predictions of one run (holdout) or one pooled cross-validation repeat, with per-image
    thresholds (from each run's own validation predictions) and calibrated probabilities."""

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


def build_units(
    records: Sequence[RunRecord], directory: Path | None, positive: str | None, rule: str, target: float
) -> list[Unit]:
    """One unit per holdout run, or per (model, seed, repeat) of cross-validation; runs without stored
    predictions are left out."""
    cells: dict[tuple[str, object, object], list[tuple[RunRecord, pd.DataFrame]]] = {}
    for record in records:
        frame = read_predictions(directory, record) if directory is not None else None
        if frame is None:
            continue
        key = (group_label(record), record.seed, record.repeat if record.fold is not None else record.run_id)
        cells.setdefault(key, []).append((record, frame))
    return [_unit(key, runs, positive, rule, target) for key, runs in cells.items()]


def _unit(
    key: tuple[str, object, object],
    runs: list[tuple[RunRecord, pd.DataFrame]],
    positive: str | None,
    rule: str,
    target: float,
) -> Unit:
    classes = runs[0][0].classes
    parts = [_run_part(record, frame, classes, positive, rule, target) for record, frame in runs]
    record = runs[0][0]
    label = f"seed {record.seed}"
    if record.fold is not None:
        label += f", repeat {record.repeat} (pooled over {len(runs)} folds)"
    thresholds = (
        None
        if any(p["thresholds"] is None for p in parts)
        else np.concatenate([p["thresholds"] for p in parts])
    )
    return Unit(
        model=key[0],
        label=label,
        seed=record.seed,
        repeat=record.repeat,
        classes=classes,
        index=np.concatenate([p["index"] for p in parts]),
        probs=np.concatenate([p["probs"] for p in parts]),
        calibrated=np.concatenate([p["calibrated"] for p in parts]),
        labels=np.concatenate([p["labels"] for p in parts]),
        thresholds=thresholds,
        temperatures=[p["temperature"] for p in parts],
        val_nll=[p["val_nll"] for p in parts],
    )


def _run_part(
    record: RunRecord, frame: pd.DataFrame, classes: list[str], positive: str | None, rule: str, target: float
) -> dict:
    """One run's test predictions, its temperature and its positive-class threshold (from its val rows)."""
    test, val = frame[frame["set"] == "test"], frame[frame["set"] == "val"]
    probs, labels = probabilities(test, classes)
    val_probs, val_labels = probabilities(val, classes)
    temperature = fit_temperature(val_probs, val_labels)
    thresholds = None
    if positive is not None:
        column = classes.index(positive)
        try:
            threshold = choose_threshold(val_probs[:, column], val_labels == column, rule, target)  # type: ignore[arg-type]
            thresholds = np.full(labels.size, threshold)
        except ValueError:
            thresholds = None
    return {
        "index": test["index"].to_numpy(),
        "probs": probs,
        "calibrated": apply_temperature(probs, temperature),
        "labels": labels,
        "thresholds": thresholds,
        "temperature": temperature,
        "val_nll": (nll(val_probs, val_labels), nll(apply_temperature(val_probs, temperature), val_labels)),
    }
