"""Localisation scores over seeds, from the stored per-image tables (``explain/<run_id>.csv``).

The unit is a run (holdout), or one seed and repeat of cross-validation with its folds' test images
pooled (every image once): its value of a score is the mean over its test images with a lesion (images
without one have empty scores and are left out). Per model and method: mean and t interval over units
(raw scale, clipped to [0, 1], where every score lies). The two reference maps are the same for every
model of a unit, so they get one row each. The randomisation check pairs each unit's trained maps with
its randomised copy's; models are compared paired over units (same seed, same test images),
Holm-corrected across the pairs of each method and score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bcbench.record import RunRecord, group_label
from bcbench.stats import describe, paired_comparison, pairwise_comparisons

REFERENCES = {"centre": "centre prior", "random": "uniform random"}
RANDOMISED = "_randomised"
UNIT_COLUMNS = ("model", "seed", "repeat")
DROPPED = 1  # resamples where only the t interval is kept (the percentile interval is not used)


def explain_tables(
    records: Sequence[RunRecord], directory: Path | None
) -> list[tuple[RunRecord, pd.DataFrame]]:
    """(record, its stored table) of every run with an ``explain`` block whose table is on disk."""
    if directory is None:
        return []
    found = []
    for record in records:
        block = record.explain
        if block is None or not block.table or not (Path(directory) / block.table).is_file():
            continue
        found.append((record, pd.read_csv(Path(directory) / block.table)))
    return found


def score_columns(tables: Sequence[tuple[RunRecord, pd.DataFrame]]) -> list[str]:
    """The ``<source>.<score>`` columns, in the tables' order."""
    return list(dict.fromkeys(c for _, table in tables for c in table.columns if "." in c))


def split_column(column: str) -> tuple[str, str]:
    source, _, score = column.partition(".")
    return source, score


def unit_frame(tables: Sequence[tuple[RunRecord, pd.DataFrame]]) -> pd.DataFrame:
    """One row per unit (model, seed, repeat): the mean of every score column over its lesion images."""
    columns = score_columns(tables)
    cells: dict[tuple[str, Any, Any], list[pd.DataFrame]] = {}
    for record, table in tables:
        key = (group_label(record), record.seed, record.repeat)
        cells.setdefault(key, []).append(table[table["has_lesion"].astype(bool)])
    rows = []
    for (model, seed, repeat), parts in cells.items():
        lesion = pd.concat(parts, ignore_index=True).reindex(columns=columns).to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):  # a unit without lesion images has no value (NaN)
            means = np.nanmean(lesion, axis=0) if len(lesion) else np.full(len(columns), np.nan)
        rows.append(
            {"model": model, "seed": seed, "repeat": repeat, **dict(zip(columns, means, strict=True))}
        )
    return pd.DataFrame(rows, columns=[*UNIT_COLUMNS, *columns])


def methods_and_scores(columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """The methods (not randomised, not references) and the scores, in the columns' order."""
    sources = [split_column(c)[0] for c in columns]
    methods = [s for s in dict.fromkeys(sources) if s not in REFERENCES and not s.endswith(RANDOMISED)]
    return methods, list(dict.fromkeys(split_column(c)[1] for c in columns))


def _summary(values: Any) -> dict[str, Any]:
    summary = describe(pd.to_numeric(pd.Series(values), errors="coerce"), n_boot=DROPPED, bounds=(0.0, 1.0))
    keys = ("n", "mean", "std")
    return {**{k: summary[k] for k in keys}, "ci_low": summary["ci_t_low"], "ci_high": summary["ci_t_high"]}


def score_rows(units: pd.DataFrame, sources: Sequence[str], scores: Sequence[str]) -> list[dict[str, Any]]:
    """Per model, source (a method, or a method on the randomised copy) and score: mean and interval over
    units."""
    rows = []
    for model, group in units.groupby("model", sort=False):
        for source in sources:
            for score in scores:
                column = f"{source}.{score}"
                if column in group:
                    rows.append({"model": model, "method": source, "score": score, **_summary(group[column])})
    return rows


def reference_rows(units: pd.DataFrame, scores: Sequence[str]) -> list[dict[str, Any]]:
    """The centre prior and the uniform random map: one value per seed and repeat (the same for every
    model tested on the same images), mean and interval over them."""
    rows = []
    for reference, label in REFERENCES.items():
        columns = [f"{reference}.{score}" for score in scores if f"{reference}.{score}" in units]
        if not columns:
            continue
        per_key = units.groupby(["seed", "repeat"], sort=False, dropna=False)[columns].mean()
        for column in columns:
            score = split_column(column)[1]
            rows.append({"model": label, "method": reference, "score": score, **_summary(per_key[column])})
    return rows


def randomisation_rows(
    units: pd.DataFrame, methods: Sequence[str], scores: Sequence[str]
) -> list[dict[str, Any]]:
    """Per model, method and score: the trained model's value against its randomised copy's, paired by
    unit (differences trained - randomised; a faithful map scores clearly better than the copy's)."""
    rows = []
    for model, group in units.groupby("model", sort=False):
        for method in methods:
            for score in scores:
                trained, randomised = f"{method}.{score}", f"{method}{RANDOMISED}.{score}"
                if trained not in group or randomised not in group:
                    continue
                compared = paired_comparison(
                    group[trained].tolist(), group[randomised].tolist(), n_boot=DROPPED
                )
                rows.append(
                    {
                        "model": model,
                        "method": method,
                        "score": score,
                        "n": compared["n"],
                        "trained": compared["mean_a"],
                        "randomised": compared["mean_b"],
                        **{key: compared[key] for key in ("mean_diff", "diff_ci_low", "diff_ci_high")},
                        **{key: compared[key] for key in ("t_p", "wilcoxon_p", "note")},
                    }
                )
    return rows


def model_comparison_rows(
    units: pd.DataFrame, methods: Sequence[str], scores: Sequence[str]
) -> list[dict[str, Any]]:
    """Every model pair on every method and score, paired over units (seed, repeat), Holm-corrected across
    the pairs of one method and score."""
    rows = []
    for method in methods:
        for score in scores:
            column = f"{method}.{score}"
            if column not in units:
                continue
            values = {
                model: {
                    (seed, -1 if pd.isna(repeat) else repeat): (None if pd.isna(value) else float(value))
                    for seed, repeat, value in zip(group["seed"], group["repeat"], group[column], strict=True)
                }
                for model, group in units.groupby("model", sort=False)
            }
            compared = pairwise_comparisons(values, column)
            rows += [{"method": method, "score": score, **row} for row in compared]
    return rows


def excluded_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """Per model: runs explained, test images, scored (with a lesion) and excluded (without one) per run,
    the CAM layer and the mean seconds per run."""
    grouped: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.explain is not None:
            grouped.setdefault(group_label(record), []).append(record)
    rows = []
    for model, runs in grouped.items():
        blocks = [r.explain for r in runs if r.explain is not None]
        seconds = [b.seconds.get("total") for b in blocks if b.seconds.get("total") is not None]
        rows.append(
            {
                "model": model,
                "runs": len(blocks),
                "layer": ", ".join(dict.fromkeys(str(b.layer) for b in blocks)),
                "images": float(np.mean([b.images for b in blocks])),
                "scored": float(np.mean([b.scored for b in blocks])),
                "excluded": float(np.mean([b.excluded for b in blocks])),
                "seconds": float(np.mean(seconds)) if seconds else None,
            }
        )
    return rows
