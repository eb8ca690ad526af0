"""Stored per-image predictions: one CSV per run beside the records, so every number can be recomputed.

``predictions/<run_id>.csv`` (pandas-readable; written atomically; named in the record's
``predictions``), one row per image of the validation set, the test set and each external set:
``set`` (val, test, external:<name>), ``index`` (position in the data set), ``path`` (relative to the
data root; ``<split>/<i>`` for .npz files), ``split``, ``repeat``, ``fold``, ``label`` (class name),
``label_index``, ``prob_<class>`` for every class the model knows, and ``cal_prob_<class>``: the same
after temperature scaling fitted on the validation rows (the record's ``test.calibration``).
Probabilities are written with full precision, so metrics recomputed from the file equal the recorded
ones exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bcbench.atomic import atomic_open
from bcbench.metrics import apply_temperature
from bcbench.record.schema import RunRecord

PREDICTIONS_DIR = "predictions"
PROB_PREFIX = "prob_"
CALIBRATED_PREFIX = "cal_prob_"


def prediction_rows(
    set_name: str,
    paths: Sequence[str],
    indices: Sequence[int],
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    split: str | None = None,
    repeat: int | None = None,
    fold: int | None = None,
) -> pd.DataFrame:
    """The rows of one set of images: ``probs`` [N, C] softmax outputs, ``labels`` [N] class indices."""
    frame = pd.DataFrame(
        {
            "set": set_name,
            "index": np.asarray(indices, dtype=np.int64),
            "path": list(paths),
            "split": split if split is not None else set_name,
            "repeat": repeat,
            "fold": fold,
            "label": [classes[int(label)] for label in labels],
            "label_index": np.asarray(labels, dtype=np.int64),
        }
    )
    for column, name in enumerate(classes):
        frame[f"{PROB_PREFIX}{name}"] = np.asarray(probs[:, column], dtype=np.float64)
    return frame


def with_calibrated(frame: pd.DataFrame, classes: Sequence[str], temperature: float) -> pd.DataFrame:
    """``frame`` with ``cal_prob_<class>`` columns: its probabilities scaled by the run's temperature."""
    raw = frame[[f"{PROB_PREFIX}{name}" for name in classes]].to_numpy(dtype=np.float64)
    scaled = apply_temperature(raw, temperature)
    return frame.assign(
        **{f"{CALIBRATED_PREFIX}{name}": scaled[:, index] for index, name in enumerate(classes)}
    )


def write_predictions(directory: Path, run_id: str, frames: Sequence[pd.DataFrame]) -> str:
    """Write a run's rows atomically; returns the file's path relative to the sweep ``directory``."""
    relative = f"{PREDICTIONS_DIR}/{run_id}.csv"
    with atomic_open(directory / relative, "w", newline="") as handle:
        pd.concat(list(frames), ignore_index=True).to_csv(handle, index=False)
    return relative


def read_predictions(directory: Path, record: RunRecord) -> pd.DataFrame | None:
    """The run's stored predictions, or None when it stored none (older records) or the file is gone."""
    if not record.predictions:
        return None
    path = Path(directory) / record.predictions
    return pd.read_csv(path) if path.is_file() else None


def probabilities(
    frame: pd.DataFrame, classes: Sequence[str], calibrated: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [N, C] in ``classes`` order, label indices [N]) of prediction rows; ``calibrated``
    reads the temperature-scaled ones."""
    prefix = CALIBRATED_PREFIX if calibrated else PROB_PREFIX
    columns = [f"{prefix}{name}" for name in classes]
    probs = frame[columns].to_numpy(dtype=np.float64, copy=True)
    return probs, frame["label_index"].to_numpy(dtype=np.int64, copy=True)
