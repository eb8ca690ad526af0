"""Where each model looks, as numbers: ``analyse_explain`` reads the runs' ``explain`` blocks, their stored
per-image tables and maps, and returns an ``ExplainAnalysis`` for the report to render.

The criteria are Arun et al.'s (Radiology: AI 2021, "Assessing the trustworthiness of saliency maps for
localizing abnormalities in medical imaging"): localisation against the lesion mask (``scores`` beside the
two reference maps, ``references``), sensitivity to weight randomisation (``randomisation``, Adebayo et al.
2018), repeatability across seeds and reproducibility across architectures (``repeatability``,
``reproducibility``). ``explain_scores`` and ``explain_maps`` hold how each is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bcbench.analysis.explain_maps import (
    ExplainFigureData,
    figure_data,
    load_maps,
    repeatability_rows,
    reproducibility_rows,
)
from bcbench.analysis.explain_scores import (
    RANDOMISED,
    excluded_rows,
    explain_tables,
    methods_and_scores,
    model_comparison_rows,
    randomisation_rows,
    reference_rows,
    score_columns,
    score_rows,
    unit_frame,
)
from bcbench.record import RunRecord

PARTS = ("scores", "references", "randomisation", "pairwise", "repeatability", "reproducibility", "images")


@dataclass
class ExplainAnalysis:
    """Every number of the report's explanation section (rows are plain dicts, see each ``*_rows``)."""

    methods: list[str]
    scores_named: list[str]  # pointing, energy, iou<k>..., ap
    settings: dict[str, Any] = field(default_factory=dict)  # the explain block of the first run's config
    scores: list[dict[str, Any]] = field(default_factory=list)  # per model, method (and randomised), score
    references: list[dict[str, Any]] = field(default_factory=list)  # centre prior and uniform random
    randomisation: list[dict[str, Any]] = field(default_factory=list)  # trained vs randomised, paired
    pairwise: list[dict[str, Any]] = field(default_factory=list)  # model pairs, paired over seeds
    repeatability: list[dict[str, Any]] = field(default_factory=list)  # across seeds of one model
    reproducibility: list[dict[str, Any]] = field(default_factory=list)  # across models, same seed
    images: list[dict[str, Any]] = field(default_factory=list)  # scored and excluded images per model
    figure: ExplainFigureData | None = None

    def frame(self) -> pd.DataFrame:
        """Every row in one tidy table (``explain.csv``), its ``part`` naming the list it came from."""
        rows = [{"part": part, **row} for part in PARTS for row in getattr(self, part)]
        return pd.DataFrame(rows)


def analyse_explain(records: Sequence[RunRecord], directory: str | Path | None) -> ExplainAnalysis | None:
    """The explanation analysis of the successful ``records`` whose tables are stored in ``directory``;
    None when no run was explained (or no folder is given)."""
    directory = Path(directory) if directory is not None else None
    tables = explain_tables(records, directory)
    if not tables:
        return None
    explained = [record for record, _ in tables]
    columns = score_columns(tables)
    methods, scores = methods_and_scores(columns)
    randomised = [
        f"{method}{RANDOMISED}" for method in methods if f"{method}{RANDOMISED}.{scores[0]}" in columns
    ]
    units = unit_frame(tables)
    maps = load_maps(explained, directory)
    return ExplainAnalysis(
        methods=methods,
        scores_named=scores,
        settings=dict(explained[0].config.get("explain") or {}),
        scores=score_rows(units, [*methods, *randomised], scores),
        references=reference_rows(units, scores),
        randomisation=randomisation_rows(units, methods, scores),
        pairwise=model_comparison_rows(units, methods, scores),
        repeatability=repeatability_rows(explained, maps, methods),
        reproducibility=reproducibility_rows(explained, maps, methods),
        images=excluded_rows(explained),
        figure=figure_data(explained, maps, methods),
    )
