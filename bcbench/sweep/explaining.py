"""After training, with ``explain.enabled``: where the run's model looks on its test images, scored against
their lesion masks (``explain_outcome``), stored beside the records.

Two files per run, written atomically under ``explain/`` and named in the record's ``explain`` block:

- ``<run_id>.csv``: ``bcbench.explain.explain_run``'s table, one row per test image (scores per map
  source, target, class, lesion share; images without a lesion keep their row with empty scores);
- ``<run_id>_maps.npz``: only what the analysis needs across runs. ``relpath`` and ``image`` (test
  position) of every test image with a lesion, and per method its maps there at ``explain.maps_size`` px
  (float16, antialiased: repeatability across seeds, reproducibility across architectures); and for the
  figure, the ``explain.figure_count`` images chosen by ``figure_indices`` (the first test images of
  ``explain.figure_class`` with a lesion, topped up with other lesion images) at full size:
  ``figure_relpath``, ``figure_label``, ``figure_image`` (uint8 [k, 3, H, W]), ``figure_mask`` (bool) and
  ``figure_<method>`` (float16).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from bcbench.atomic import atomic_open
from bcbench.config import Config
from bcbench.data import DataBundle, Normalizer
from bcbench.errors import DataError
from bcbench.explain import ExplainBlock, ExplainSettings, explain_maps, explain_run, figure_indices
from bcbench.sweep.plan import PlannedRun
from bcbench.train import RunOutcome

EXPLAIN_DIR = "explain"


def explain_settings(config: Config, model: str, seed: int = 0) -> ExplainSettings:
    """The run's ``explain`` block as ``bcbench.explain`` takes it (``explain.layers`` gives this model's
    layer; the randomised copy draws its weights from the run's ``seed``, so it varies over seeds as the
    trained model does)."""
    block = config.explain
    return ExplainSettings(
        methods=tuple(block.methods),
        target=block.target,
        tolerance_px=block.tolerance_px,
        top_percent=tuple(block.top_percent),
        layer=block.layers.get(model),
        randomised=block.randomised,
        randomisation_seed=seed,
        batch_size=block.batch_size,
        figure_count=block.figure_count,
        figure_class=block.figure_class,
    )


def explain_outcome(
    outcome: RunOutcome, planned: PlannedRun, data: DataBundle, directory: Path, device: torch.device
) -> ExplainBlock:
    """Score the trained model's maps on ``data``'s test images with a lesion, store the table and the
    maps (see the module doc) and return the record's block. The run's test predictions are the target
    when ``explain.target`` is ``predicted_class``."""
    started = time.perf_counter()
    masks = data.split_masks("test")
    if masks is None:
        raise DataError("explain.enabled is true but the data set was built without its lesion masks")
    config, test_probs = planned.config, outcome.test_probs
    settings = explain_settings(config, planned.spec.model, planned.spec.seed)
    images, labels = data.tensors("test")
    normalizer = Normalizer(config.data.normalize, device)
    relpaths = data.relpaths("test")
    model = getattr(outcome.model, "_orig_mod", outcome.model)  # hooks on compiled graphs are unreliable
    table = explain_run(
        model, images, masks, labels, test_probs, normalizer, settings, data.classes, relpaths
    )
    seconds = dict(table.attrs["seconds"])
    maps_started = time.perf_counter()
    arrays = _stored_maps(
        model, images, masks.unpack(), labels, test_probs, normalizer, settings, config, data
    )
    seconds["maps"] = time.perf_counter() - maps_started
    block = ExplainBlock(
        table=_write_table(directory, planned.run_id, table),
        maps=_write_maps(directory, planned.run_id, arrays),
        layer=table.attrs["layer"],
        methods=list(settings.methods),
        target=settings.target,
        images=len(table),
        scored=int(table["has_lesion"].sum()),
        excluded=int(table.attrs["excluded"]),
        maps_size=_maps_size(config),
        figure=[str(path) for path in arrays["figure_relpath"]],
    )
    block.seconds = {**seconds, "total": time.perf_counter() - started}
    return block


def _maps_size(config: Config) -> int:
    return min(config.explain.maps_size, config.data.image_size)


def _stored_maps(
    model: torch.nn.Module,
    images: Any,
    masks: torch.Tensor,
    labels: torch.Tensor,
    test_probs: torch.Tensor,
    normalizer: Normalizer,
    settings: ExplainSettings,
    config: Config,
    data: DataBundle,
) -> dict[str, np.ndarray]:
    """The arrays of ``<run_id>_maps.npz`` (see the module doc)."""
    has_lesion = masks.flatten(1).any(dim=1).numpy()
    lesion = np.flatnonzero(has_lesion)
    label_array = labels.cpu().numpy()
    relpaths = np.asarray(data.relpaths("test"), dtype=np.str_)
    small = explain_maps(model, images, lesion, labels, test_probs, normalizer, settings, _maps_size(config))
    wanted = data.classes.index(settings.figure_class) if settings.figure_class in data.classes else None
    chosen = figure_indices(label_array, has_lesion, wanted, settings.figure_count)
    large = explain_maps(model, images, chosen, labels, test_probs, normalizer, settings)
    pictures = images[torch.as_tensor(chosen, dtype=torch.int64)].cpu().numpy()
    arrays = {"relpath": relpaths[lesion], "image": lesion.astype(np.int64)}
    arrays.update({method: maps.astype(np.float16) for method, maps in small.items()})
    arrays.update(
        figure_relpath=relpaths[chosen],
        figure_label=np.asarray([data.classes[label_array[i]] for i in chosen], dtype=np.str_),
        figure_image=pictures.astype(np.uint8),
        figure_mask=masks[torch.as_tensor(chosen, dtype=torch.int64)].numpy(),
    )
    arrays.update({f"figure_{method}": maps.astype(np.float16) for method, maps in large.items()})
    return arrays


def _write_table(directory: Path, run_id: str, table: pd.DataFrame) -> str:
    relative = f"{EXPLAIN_DIR}/{run_id}.csv"
    with atomic_open(directory / relative, "w", newline="") as handle:
        table.to_csv(handle, index=False)
    return relative


def _write_maps(directory: Path, run_id: str, arrays: dict[str, np.ndarray]) -> str:
    relative = f"{EXPLAIN_DIR}/{run_id}_maps.npz"
    with atomic_open(directory / relative, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return relative
