"""A sweep folder written by hand for the corruption, ensemble and selective analyses: runs whose stored
predictions hold test rows, corrupted copies and external sets with probabilities the tests know, so
every number can be recomputed with scikit-learn or by hand."""

from __future__ import annotations

import zlib
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
from bcbench.robustness import RobustnessBlock, corrupted_set
from tests.analysis.fake_sweep import CLASSES

TEST_LABELS = [0, 1, 2, 0, 1, 2, 1, 0, 2, 1]
VAL_LABELS = [0, 1, 2, 0, 1, 2]
EXTERNAL_LABELS = [0, 1, 1, 0, 1]


def known_probs(model: str, seed: object, set_name: str, count: int) -> np.ndarray:
    """Probabilities [count, 3] fixed by (model, seed, set): the same whenever a test asks again."""
    rng = np.random.default_rng(zlib.crc32(f"{model}|{seed}|{set_name}".encode()))
    return rng.dirichlet([1.0, 1.0, 1.0], size=count)


def rows(set_name: str, probs: np.ndarray, labels: list[int], start: int, temperature: float, **where):
    paths = [f"{set_name}/{start + i}.png" for i in range(len(labels))]
    index = range(start, start + len(labels))
    frame = prediction_rows(set_name, paths, index, np.asarray(labels), probs, CLASSES, **where)
    return with_calibrated(frame, CLASSES, temperature)


def robust_run(
    directory: Path,
    model: str,
    seed: int,
    corruptions: tuple[str, ...] = (),
    severities: tuple[int, ...] = (1, 2),
    *,
    models: tuple[str, ...] = ("a", "b"),
    reference: str | None = None,
    repeat: int | None = None,
    fold: int | None = None,
    test_labels: list[int] = TEST_LABELS,
    start: int = 100,
    external: bool = False,
    probs_key: str | None = None,
) -> RunRecord:
    """One ok run: val and test rows, each corruption x severity of the test images, and optionally an
    external set ``ext`` (probabilities from ``known_probs``; ``probs_key`` stands in for the model's
    name and seed there, so two runs can be given the same predictions)."""
    key, draw = (probs_key, 0) if probs_key else (model, seed)
    where = {"repeat": repeat, "fold": fold}
    frames = [rows("val", known_probs(key, draw, "val", len(VAL_LABELS)), VAL_LABELS, 0, 1.5, **where)]
    count = len(test_labels)
    test_key = f"test{start}"
    frames.append(rows("test", known_probs(key, draw, test_key, count), test_labels, start, 1.5, **where))
    for corruption in corruptions:
        for severity in severities:
            name = corrupted_set(corruption, severity)
            probs = known_probs(key, draw, f"{name}{start}", count)
            frames.append(rows(name, probs, test_labels, start, 1.5, split="test", **where))
    if external:
        probs = known_probs(key, f"{draw}-{fold}", "external", len(EXTERNAL_LABELS))
        frames.append(rows("external:ext", probs, EXTERNAL_LABELS, 0, 1.5))
    run_id = f"{model}-s{seed}" + (f"-r{repeat}f{fold}" if fold is not None else "")
    block = None
    if corruptions:
        distance = {name: [float(s) + seed for s in severities] for name in corruptions}
        block = RobustnessBlock(
            corruptions=list(corruptions),
            severities=list(severities),
            images=count,
            device="cpu",
            seconds=2.0 + seed,
            corrupt_seconds=1.0,
            predict_seconds=1.0 + seed,
            cpu_seconds=1.5,
            distance=distance,
        )
    config = {
        "models": list(models),
        "evaluation": {"positive_class": "malignant", "folds": 2},
        "robustness": {"reference_model": reference},
    }
    record = RunRecord(
        sweep="fake",
        run_id=run_id,
        model=model,
        seed=seed,
        repeat=repeat,
        fold=fold,
        status="ok",
        config=config,
        data=DataSummary(classes=list(CLASSES), n_train=20, n_test=count),
        test=TestMetrics(calibration={"temperature": 1.5}, accuracy=0.5),
        predictions=write_predictions(directory, run_id, frames),
        robustness=block,
    )
    append_record(shard_path(directory, "w"), record)
    return record
