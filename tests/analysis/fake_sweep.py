"""A sweep folder written by hand: records with stored predictions, holdout or cross-validation, whose every
number the analysis tests work out independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bcbench.data import DataSummary
from bcbench.metrics import TestMetrics
from bcbench.record import (
    RunRecord,
    append_record,
    prediction_rows,
    shard_path,
    with_calibrated,
    write_predictions,
)

CLASSES = ["benign", "malignant", "normal"]


def malignant_probs(scores: list[float]) -> np.ndarray:
    """Probabilities [N, 3] whose P(malignant) is ``scores``, the rest split 2:1 between benign and normal."""
    scores_array = np.asarray(scores, dtype=np.float64)
    rest = 1.0 - scores_array
    return np.stack([rest * 2 / 3, scores_array, rest / 3], axis=1)


def stored_run(
    directory: Path,
    model: str,
    seed: int,
    val: tuple[list[float], list[int]],
    test: tuple[list[float], list[int]],
    temperature: float = 1.0,
    *,
    index_offset: int = 100,
    repeat: int | None = None,
    fold: int | None = None,
    evaluation: dict | None = None,
) -> RunRecord:
    """One ok run with stored val and test predictions (P(malignant) given per image, labels as indices),
    appended to the folder's shard; ``temperature`` is the one the run 'fitted'."""
    frames = []
    for name, (scores, labels), start in (("val", val, 0), ("test", test, index_offset)):
        probs, labels_array = malignant_probs(scores), np.asarray(labels)
        paths = [f"{name}/{start + i}.png" for i in range(len(labels))]
        rows = prediction_rows(name, paths, range(start, start + len(labels)), labels_array, probs, CLASSES)
        frames.append(with_calibrated(rows, CLASSES, temperature))
    run_id = f"{model}-s{seed}" + (f"-r{repeat}f{fold}" if fold is not None else "")
    record = RunRecord(
        sweep="fake",
        run_id=run_id,
        model=model,
        seed=seed,
        repeat=repeat,
        fold=fold,
        status="ok",
        config={"evaluation": evaluation or {"positive_class": "malignant", "folds": 2}},
        data=DataSummary(classes=list(CLASSES), n_train=20, n_test=len(test[1])),
        test=TestMetrics(calibration={"temperature": temperature}, accuracy=0.5),
        predictions=write_predictions(directory, run_id, frames),
    )
    append_record(shard_path(directory, "w"), record)
    return record
