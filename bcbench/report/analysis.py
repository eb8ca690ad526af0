"""Everything the report computes from stored predictions, computed once: the clinical units, operating
points, calibration, DeLong comparisons and the recompute check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bcbench.record import RunRecord
from bcbench.report.clinical import calibration_rows, evaluation_settings, operating_rows
from bcbench.report.delong import delong_rows
from bcbench.report.stored import check_stored_predictions
from bcbench.report.units import Unit, build_units


@dataclass
class Analysis:
    settings: dict[str, Any] = field(default_factory=dict)
    units: list[Unit] = field(default_factory=list)
    operating: list[dict[str, Any]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    delong: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[str, list[str]] = field(default_factory=dict)  # run_id -> test keys not recomputed


def analyse(ok: Sequence[RunRecord], directory: Path | None) -> Analysis:
    """The analysis of a sweep's stored predictions (empty without a folder or stored predictions)."""
    settings = evaluation_settings(ok)
    if directory is None:
        return Analysis(settings=settings)
    units = build_units(ok, directory, settings["positive"], settings["rule"], settings["target"])
    positive = settings["positive"]
    return Analysis(
        settings=settings,
        units=units,
        operating=operating_rows(units, positive) if positive is not None else [],
        calibration=calibration_rows(units),
        delong=delong_rows(units),
        stored=check_stored_predictions(ok, directory),
    )
