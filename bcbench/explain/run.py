"""What the sweep calls after training a model: ``explain_run`` scores its maps on every test image with
a lesion, ``explain_maps`` returns raw maps (for the figure, and small copies for repeatability and
reproducibility across runs), ``figure_indices`` picks the figure's images by a fixed rule.

The table has one row per test image, in test order: ``image`` (position in the test set), ``relpath``
and ``class`` when given, ``label``, ``predicted`` (the run's predictions when given, else the model's
argmax in this pass), ``target`` (the class explained), ``has_lesion``,
``lesion_fraction``, then ``<map>.<score>`` for every map source and score: the sources are each method
(``gradcam``, ``hirescam``), each method on the randomised copy (``gradcam_randomised``, ...), and the
references ``centre`` and ``random``; the scores are ``pointing``, ``energy``, ``iou<k>`` for each k of
``top_percent``, and ``ap`` (see ``bcbench.explain.scores``). Images without a lesion keep their row with
empty scores (NaN) and ``has_lesion`` False: they are excluded from the scores and counted. The frame's
``attrs`` hold ``layer``, ``excluded`` (that count) and ``seconds`` (time spent on maps, per source).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from bcbench.data import Normalizer, PackedMasks
from bcbench.errors import ConfigError
from bcbench.explain.cam import METHODS, class_activation_maps
from bcbench.explain.layers import resolve_layer
from bcbench.explain.references import CENTRE_SIGMA, RANDOM_SEED, centre_prior_maps, uniform_random_maps
from bcbench.explain.sanity import randomised_copy, resize_maps
from bcbench.explain.scores import dilate, localisation_scores, scaled_tolerance

TARGETS = ("true_class", "predicted_class")
REFERENCES = ("centre", "random")


@dataclass(frozen=True)
class ExplainSettings:
    """The ``explain`` block. ``layer``: dotted module name of the CAM layer (None = the model's default,
    see ``bcbench.explain.layers``); ``randomised``: also score a copy with re-initialised weights."""

    methods: tuple[str, ...] = METHODS
    target: str = "true_class"
    tolerance_px: float = 15.0
    top_percent: tuple[float, ...] = (5.0, 10.0, 20.0)
    layer: str | None = None
    randomised: bool = True
    randomisation_seed: int = 0
    centre_sigma: float = CENTRE_SIGMA
    random_seed: int = RANDOM_SEED
    batch_size: int = 16
    figure_count: int = 4
    figure_class: str = "malignant"

    def __post_init__(self) -> None:
        unknown = [method for method in self.methods if method not in METHODS]
        if unknown or not self.methods:
            raise ConfigError(
                f"explain.methods {list(self.methods)}: use one or more of {', '.join(METHODS)}"
            )
        if self.target not in TARGETS:
            raise ConfigError(f"explain.target {self.target!r}: use {' or '.join(TARGETS)}")
        if self.tolerance_px < 0 or not all(0 < k <= 100 for k in self.top_percent):
            raise ConfigError(
                f"explain.tolerance_px {self.tolerance_px} must be >= 0 and explain.top_percent "
                f"{list(self.top_percent)} within (0, 100]"
            )
        if self.batch_size < 1 or self.centre_sigma <= 0:
            raise ConfigError("explain.batch_size must be >= 1 and explain.centre_sigma > 0")


def score_columns(settings: ExplainSettings) -> list[str]:
    """The ``<map>.<score>`` columns of ``explain_run``'s table, in order."""
    scores = ["pointing", "energy", *(f"iou{k:g}" for k in settings.top_percent), "ap"]
    return [f"{source}.{score}" for source in map_sources(settings) for score in scores]


def map_sources(settings: ExplainSettings) -> list[str]:
    randomised = [f"{method}_randomised" for method in settings.methods] if settings.randomised else []
    return [*settings.methods, *randomised, *REFERENCES]


def explain_run(
    model: nn.Module,
    images: Any,
    masks: PackedMasks | torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    predictions: torch.Tensor | np.ndarray | None = None,
    normalizer: Normalizer | None = None,
    settings: ExplainSettings | None = None,
    class_names: Sequence[str] | None = None,
    relpaths: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Localisation scores of ``model``'s maps on the test images (see the module doc for the table).

    ``images``: uint8 [N, 3, H, W] (a tensor, or anything indexed by an index tensor like
    ``StreamedImages``); ``masks``: their lesion masks [N, H, W]; ``predictions``: the run's predicted
    classes [N] or probabilities [N, classes] (None: the model's argmax in this pass); ``normalizer``:
    the run's (it sets the device; None = ImageNet statistics on the model's device). The model is left
    as it was (mode, weights, no gradients); the randomised copy is dropped afterwards.
    """
    job = _job(model, images, masks, labels, predictions, normalizer, settings or ExplainSettings())
    table = _image_table(job, class_names, relpaths)
    layer_name, _ = resolve_layer(model, job.settings.layer)
    seconds: dict[str, float] = {}
    scored = _scored_model(model, job, seconds, "")
    predicted = scored.pop("predicted")
    if job.given is None:  # else the run's own predictions stay
        table.loc[job.rows, "predicted"] = predicted
    table.loc[job.rows, "target"] = scored.pop("target")
    if job.settings.randomised:
        copy_model = randomised_copy(model, job.settings.randomisation_seed)
        copied = _scored_model(copy_model, job, seconds, "_randomised")
        scored.update({key: values for key, values in copied.items() if "." in key})
        del copy_model
    started = time.perf_counter()
    scored.update(_reference_scores(job))
    seconds["references"] = time.perf_counter() - started
    for column in score_columns(job.settings):
        table[column] = np.nan
        table.loc[job.rows, column] = scored[column]
    table.attrs.update(layer=layer_name, excluded=int(len(table) - len(job.rows)), seconds=seconds)
    return table


def explain_maps(
    model: nn.Module,
    images: Any,
    indices: Sequence[int],
    labels: Sequence[int] | torch.Tensor,
    predictions: torch.Tensor | np.ndarray | None = None,
    normalizer: Normalizer | None = None,
    settings: ExplainSettings | None = None,
    size: int | None = None,
) -> dict[str, np.ndarray]:
    """Raw maps float32 [len(indices), S, S] in [0, 1] by method, of the images at ``indices`` (S = the
    image side, or ``size`` to store them small: see ``resize_maps``), with the same targets as
    ``explain_run``. For the figure, and for repeatability / reproducibility across runs."""
    settings = settings or ExplainSettings()
    rows = np.asarray(indices, dtype=np.int64)
    job = _job(model, images, None, labels, predictions, normalizer, settings, rows)
    collected: dict[str, list[np.ndarray]] = {method: [] for method in settings.methods}
    for _, _, maps, _, _ in _map_batches(model, job):
        for method, method_maps in maps.items():
            collected[method].append(resize_maps(method_maps, size) if size else method_maps.cpu().numpy())
    empty = np.empty((0, size or 0, size or 0), dtype=np.float32)
    return {method: np.concatenate(parts) if parts else empty for method, parts in collected.items()}


def figure_indices(
    labels: Sequence[int] | np.ndarray,
    has_lesion: Sequence[bool] | np.ndarray,
    class_index: int | None,
    count: int,
) -> np.ndarray:
    """The figure's images, by a fixed rule: the first ``count`` test images (in test order) of class
    ``class_index`` that have a lesion, topped up with the first other images with a lesion."""
    label_array, lesion = np.asarray(labels), np.asarray(has_lesion, dtype=bool)
    preferred = (
        np.flatnonzero(lesion & (label_array == class_index)) if class_index is not None else np.empty(0)
    )
    others = np.flatnonzero(lesion & ~np.isin(np.arange(len(lesion)), preferred))
    return np.concatenate([preferred, others])[:count].astype(np.int64)


@dataclass
class _Job:
    """Everything one ``explain_run`` works on, checked and on the host."""

    images: Any
    masks: np.ndarray | None  # bool [N, H, W]
    near: np.ndarray | None  # the masks of ``rows`` dilated by the tolerance
    rows: np.ndarray  # the images scored (with a lesion), in test order
    labels: np.ndarray
    given: np.ndarray | None  # the run's predicted classes
    normalizer: Normalizer
    settings: ExplainSettings


def _job(
    model: nn.Module,
    images: Any,
    masks: PackedMasks | torch.Tensor | None,
    labels: Sequence[int] | torch.Tensor,
    predictions: torch.Tensor | np.ndarray | None,
    normalizer: Normalizer | None,
    settings: ExplainSettings,
    rows: np.ndarray | None = None,
) -> _Job:
    label_array = np.asarray(torch.as_tensor(labels).cpu(), dtype=np.int64)
    given = None
    if predictions is not None:
        array = np.asarray(torch.as_tensor(predictions).detach().cpu())
        given = (array.argmax(axis=1) if array.ndim == 2 else array).astype(np.int64)
    normalizer = normalizer or Normalizer("imagenet", _model_device(model))
    if masks is None:
        return _Job(images, None, None, rows, label_array, given, normalizer, settings)
    mask_array = (masks.unpack() if isinstance(masks, PackedMasks) else masks.cpu()).numpy().astype(bool)
    if len(label_array) != len(mask_array) or (given is not None and len(given) != len(mask_array)):
        raise ValueError(f"{len(mask_array)} masks but {len(label_array)} labels; pass one per test image")
    rows = np.flatnonzero(mask_array.reshape(len(mask_array), -1).any(axis=1))
    near = dilate(mask_array[rows], scaled_tolerance(settings.tolerance_px, mask_array.shape[1]))
    return _Job(images, mask_array, near, rows, label_array, given, normalizer, settings)


def _scored_model(
    model: nn.Module, job: _Job, seconds: dict[str, float], suffix: str
) -> dict[str, np.ndarray]:
    """``<method><suffix>.<score>`` arrays over ``job.rows``, and the ``predicted`` and ``target`` classes."""
    assert job.masks is not None and job.near is not None
    collected: dict[str, list[np.ndarray]] = {"predicted": [], "target": []}
    started = time.perf_counter()
    for start, batch, maps, logits, targets in _map_batches(model, job):
        collected["predicted"].append(logits.argmax(dim=1).cpu().numpy())
        collected["target"].append(targets)
        near = job.near[start : start + len(batch)]
        for method, method_maps in maps.items():
            scores = localisation_scores(
                method_maps.cpu().numpy(), job.masks[batch], near, job.settings.top_percent
            )
            for name, values in scores.items():
                collected.setdefault(f"{method}{suffix}.{name}", []).append(values)
    seconds[f"model{suffix}"] = time.perf_counter() - started
    return {key: np.concatenate(parts) if parts else np.empty(0) for key, parts in collected.items()}


def _map_batches(
    model: nn.Module, job: _Job
) -> Iterator[tuple[int, np.ndarray, dict[str, torch.Tensor], torch.Tensor, np.ndarray]]:
    """(offset in ``job.rows``, the batch's image indices, maps by method, logits, targets) per batch."""
    settings = job.settings
    layer_name, layer = resolve_layer(model, settings.layer)
    for start in range(0, len(job.rows), settings.batch_size):
        batch = job.rows[start : start + settings.batch_size]
        inputs = job.normalizer(job.images[torch.as_tensor(batch, dtype=torch.int64)])
        if settings.target == "true_class":
            targets = job.labels[batch]
        else:
            targets = job.given[batch] if job.given is not None else None
        device_targets = None if targets is None else torch.as_tensor(targets, device=inputs.device)
        maps, logits = class_activation_maps(
            model, inputs, device_targets, layer, layer_name, settings.methods
        )
        chosen = logits.argmax(dim=1).cpu().numpy() if targets is None else np.asarray(targets)
        yield start, batch, maps, logits, chosen


def _reference_scores(job: _Job) -> dict[str, np.ndarray]:
    assert job.masks is not None and job.near is not None
    _, height, width = job.masks.shape
    settings = job.settings
    references = {
        "centre": centre_prior_maps(len(job.rows), height, width, settings.centre_sigma),
        "random": uniform_random_maps(job.rows, height, width, settings.random_seed),
    }
    scored = {}
    for name, maps in references.items():
        for score, values in localisation_scores(
            maps, job.masks[job.rows], job.near, settings.top_percent
        ).items():
            scored[f"{name}.{score}"] = values
    return scored


def _image_table(
    job: _Job, class_names: Sequence[str] | None, relpaths: Sequence[str] | None
) -> pd.DataFrame:
    assert job.masks is not None
    count = len(job.masks)
    table = pd.DataFrame({"image": np.arange(count)})
    if relpaths is not None:
        table["relpath"] = list(relpaths)
    table["label"] = job.labels
    if class_names is not None:
        table["class"] = [class_names[label] for label in job.labels]
    table["predicted"] = pd.array(job.given if job.given is not None else [None] * count, dtype="Int64")
    table["target"] = pd.array([None] * count, dtype="Int64")
    lesion_pixels = job.masks.reshape(count, -1).sum(axis=1)
    table["has_lesion"] = lesion_pixels > 0
    table["lesion_fraction"] = lesion_pixels / (job.masks.shape[1] * job.masks.shape[2])
    return table


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
