"""Stability of explanation maps, and the figure's arrays, from the stored ``explain/<run_id>_maps.npz``.

- Repeatability: one architecture trained with other seeds on the same images (same repeat and fold);
  per image, Spearman's rank correlation of its two maps (``bcbench.explain.rank_correlation``), averaged
  over the pairs of seeds.
- Reproducibility: two architectures trained with the same seed on the same images; per image, the rank
  correlation averaged over seeds. Maps stored at other sizes are brought to the smaller one first.

Both are summarised over the test images with a lesion (mean and t interval over images; a flat map, e.g.
a dead one, has no ranks and is left out). The figure shows, for each model, its first run (lowest seed):
the images ``figure_indices`` chose, their masks and each method's map.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bcbench.explain import rank_correlation, resize_maps
from bcbench.record import RunRecord, group_label
from bcbench.stats import describe

Maps = dict[str, np.ndarray]


@dataclass
class ExplainFigureData:
    """What the figure draws: images (uint8 [k, 3, H, W]), masks (bool [k, H, W]), and per column title
    (model and method) the maps (float [k, H, W] in [0, 1]); one title per image."""

    images: np.ndarray
    masks: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    row_titles: list[str] = field(default_factory=list)


def load_maps(records: Sequence[RunRecord], directory: Path | None) -> dict[str, Maps]:
    """run_id -> the arrays of its stored maps, for every run whose file is on disk."""
    loaded: dict[str, Maps] = {}
    for record in records:
        block = record.explain
        if directory is None or block is None or not block.maps:
            continue
        path = Path(directory) / block.maps
        if path.is_file():
            with np.load(path, allow_pickle=False) as stored:
                loaded[record.run_id] = {name: stored[name] for name in stored.files}
    return loaded


def paired_maps(first: Maps, second: Maps, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(relpaths, first's maps, second's maps) of the lesion images both hold, at one size."""
    common, first_at, second_at = np.intersect1d(first["relpath"], second["relpath"], return_indices=True)
    a = first[method][first_at].astype(np.float32)
    b = second[method][second_at].astype(np.float32)
    if a.shape[1:] != b.shape[1:]:
        side = min(a.shape[-1], b.shape[-1])
        a, b = resize_maps(a, side), resize_maps(b, side)
    return common, a, b


def _image_summary(per_image: dict[Any, list[float]]) -> dict[str, Any]:
    """Mean and t interval over images of each image's mean correlation (NaN ones dropped)."""
    means = [float(np.mean(v)) for v in (np.asarray(x)[~np.isnan(x)] for x in per_image.values()) if v.size]
    summary = describe(means, n_boot=1)  # only the t interval is kept
    return {
        "images": summary["n"],
        "mean": summary["mean"],
        "std": summary["std"],
        "ci_low": summary["ci_t_low"],
        "ci_high": summary["ci_t_high"],
    }


def _correlate(
    pairs: Iterable[tuple[Maps, Maps, Any]], method: str, per_image: dict[Any, list[float]]
) -> int:
    """Add each pair's per-image correlations to ``per_image`` (key: (cell, relpath)); returns the pairs."""
    count = 0
    for first, second, cell in pairs:
        if method not in first or method not in second:
            continue
        relpaths, a, b = paired_maps(first, second, method)
        for relpath, rho in zip(relpaths, rank_correlation(a, b), strict=True):
            per_image.setdefault((cell, str(relpath)), []).append(float(rho))
        count += 1
    return count


def _cells(
    records: Sequence[RunRecord], maps: dict[str, Maps]
) -> dict[tuple[str, Any, Any], dict[Any, Maps]]:
    """(model, repeat, fold) -> seed -> maps: the runs that saw the same test images."""
    cells: dict[tuple[str, Any, Any], dict[Any, Maps]] = {}
    for record in records:
        if record.run_id in maps:
            key = (group_label(record), record.repeat, record.fold)
            cells.setdefault(key, {})[record.seed] = maps[record.run_id]
    return cells


def repeatability_rows(
    records: Sequence[RunRecord], maps: dict[str, Maps], methods: Sequence[str]
) -> list[dict[str, Any]]:
    """Per model and method: rank correlation of one image's maps across seeds (see the module doc)."""
    by_model: dict[str, list[tuple[Maps, Maps, Any]]] = {}
    seeds: dict[str, set[Any]] = {}
    for (model, repeat, fold), runs in _cells(records, maps).items():
        pairs = [(runs[a], runs[b], (repeat, fold)) for a, b in itertools.combinations(sorted(runs), 2)]
        by_model.setdefault(model, []).extend(pairs)
        seeds.setdefault(model, set()).update(runs)
    rows = []
    for model, pairs in by_model.items():
        for method in methods:
            per_image: dict[Any, list[float]] = {}
            count = _correlate(pairs, method, per_image)
            if count:
                rows.append(
                    {"model": model, "method": method, "seeds": len(seeds[model]), "pairs": count}
                    | _image_summary(per_image)
                )
    return rows


def reproducibility_rows(
    records: Sequence[RunRecord], maps: dict[str, Maps], methods: Sequence[str]
) -> list[dict[str, Any]]:
    """Per method and model pair: rank correlation of one image's maps across the two architectures,
    paired by seed on the same images (see the module doc)."""
    runs: dict[str, dict[Any, Maps]] = {}
    for record in records:
        if record.run_id in maps:
            runs.setdefault(group_label(record), {})[(record.seed, record.repeat, record.fold)] = maps[
                record.run_id
            ]
    rows = []
    for method in methods:
        for model_a, model_b in itertools.combinations(runs, 2):
            shared = [key for key in runs[model_a] if key in runs[model_b]]
            pairs = [(runs[model_a][key], runs[model_b][key], key[1:]) for key in shared]
            per_image: dict[Any, list[float]] = {}
            if _correlate(pairs, method, per_image):
                row = {"method": method, "model_a": model_a, "model_b": model_b, "seeds": len(shared)}
                rows.append(row | _image_summary(per_image))
    return rows


def figure_data(
    records: Sequence[RunRecord], maps: dict[str, Maps], methods: Sequence[str]
) -> ExplainFigureData | None:
    """The figure's arrays: the first model's chosen images and masks, and each model's maps of the same
    images from its first run (lowest seed); None when no run stored a figure."""
    first_runs: dict[str, RunRecord] = {}
    for record in sorted(records, key=lambda r: (r.repeat or 0, r.fold or 0, r.seed or 0)):
        if record.run_id in maps and "figure_relpath" in maps[record.run_id]:
            first_runs.setdefault(group_label(record), record)
    if not first_runs:
        return None
    base = maps[next(iter(first_runs.values())).run_id]
    relpaths = [str(path) for path in base["figure_relpath"]]
    if not relpaths:
        return None
    data = ExplainFigureData(base["figure_image"], base["figure_mask"].astype(bool))
    labels = [str(label) for label in base["figure_label"]]
    data.row_titles = [_row_title(path, label) for path, label in zip(relpaths, labels, strict=True)]
    for model, record in first_runs.items():
        stored = maps[record.run_id]
        where = {str(path): row for row, path in enumerate(stored["figure_relpath"])}
        if not all(path in where for path in relpaths):
            continue  # another test set (another fold): not comparable image for image
        rows = [where[path] for path in relpaths]
        for method in methods:
            if f"figure_{method}" in stored:
                data.maps[f"{model}\n{method}"] = stored[f"figure_{method}"][rows].astype(np.float32)
    return data


def _row_title(relpath: str, label: str) -> str:
    """The image's file name, and its class unless the name says it already (BUSI's do)."""
    stem = Path(relpath).stem
    return stem if label.lower() in stem.lower() else f"{stem} ({label})"
