"""``analyse``: everything a sweep's records and stored predictions say, computed once, as one object that
the report renders (tables, CSVs, figures) without computing anything itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bcbench.analysis.clinical import (
    calibration_rows,
    calibration_summary,
    evaluation_settings,
    operating_rows,
    operating_summary,
)
from bcbench.analysis.crossval import crossval_rows, pooled_out_of_fold
from bcbench.analysis.delong import delong_over_folds, delong_rows
from bcbench.analysis.deploy import DeployAnalysis, analyse_deploy
from bcbench.analysis.explain import ExplainAnalysis, analyse_explain
from bcbench.analysis.external import external_rows
from bcbench.analysis.figures import (
    ConfusionPanel,
    ParetoPoints,
    confusion_panels,
    data_source_label,
    pareto_points,
    reliability_curves,
    roc_pr_curves,
    training_curves,
)
from bcbench.analysis.methods import how_intervals_were_made
from bcbench.analysis.robustness import RobustnessAnalysis, analyse_robustness
from bcbench.analysis.runs import per_run_rows
from bcbench.analysis.stored import check_stored_predictions
from bcbench.analysis.study import study_deviations, study_reference_rows
from bcbench.analysis.summary import interval_method, pairwise_frame, summary_frame, test_train_ratio
from bcbench.analysis.timing import TimingStability, timing_stability
from bcbench.analysis.units import PredictionUnit, build_units, pool_units
from bcbench.record import RunRecord, group_records, is_cross_validation, newest_per_run


@dataclass
class ClinicalAnalysis:
    """The clinical view: the settings (positive class, threshold rule), the units and their numbers."""

    settings: dict[str, Any] = field(default_factory=dict)
    units: list[PredictionUnit] = field(default_factory=list)
    operating: list[dict[str, Any]] = field(default_factory=list)
    operating_summary: list[dict[str, Any]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    calibration_summary: list[dict[str, Any]] = field(default_factory=list)
    delong: list[dict[str, Any]] = field(default_factory=list)
    delong_over_folds: list[dict[str, Any]] = field(default_factory=list)  # cross-validation only
    roc_pr: dict[str, dict[str, Any]] = field(default_factory=dict)
    reliability: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class SweepAnalysis:
    """What the report shows, every number computed: see ``analyse``."""

    records: list[RunRecord]  # the newest record of each run, failed included
    ok: list[RunRecord]
    failed: list[RunRecord]
    groups: dict[str, list[RunRecord]]
    cross_validation: bool
    summary: pd.DataFrame
    pairwise: pd.DataFrame
    interval_method: str
    clinical: ClinicalAnalysis
    methods: list[str] = field(default_factory=list)  # how each kind of interval was made
    pooled: pd.DataFrame | None = None  # cross-validation: pooled out-of-fold metrics
    crossval: list[dict[str, Any]] = field(default_factory=list)
    external: list[dict[str, Any]] = field(default_factory=list)
    study: list[dict[str, Any]] = field(default_factory=list)
    study_deviations: list[str] = field(default_factory=list)  # the protocol settings the runs changed
    stored: dict[str, list[str]] = field(default_factory=dict)  # run_id -> test keys not recomputed
    per_run: list[dict[str, Any]] = field(default_factory=list)
    confusion: list[ConfusionPanel] = field(default_factory=list)
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)
    pareto: ParetoPoints | None = None
    timing: TimingStability = field(default_factory=TimingStability)  # runs and models timed in noise
    data_source: str | None = None  # where the images came from, named in the header and every figure
    explain: ExplainAnalysis | None = None  # explanation maps against lesion masks (runs with explain on)
    robustness: RobustnessAnalysis | None = None  # corruption curves, ensembles, selective prediction
    deploy: DeployAnalysis | None = None  # deployed forms (deploy.forms): scores, agreement, latency, size


def analyse(
    records: Iterable[RunRecord | Mapping[str, Any]], directory: str | Path | None = None
) -> SweepAnalysis:
    """Analyse a sweep's records (the newest of each run counts); with the sweep's ``directory``, also
    what its stored predictions give: the clinical view, pooled out-of-fold metrics, the recompute check."""
    directory = Path(directory) if directory is not None else None
    newest = newest_per_run(records)
    ok = [record for record in newest if record.ok]
    cross_validation = is_cross_validation(ok)
    pooled = pooled_out_of_fold(ok, directory) if cross_validation else None
    clinical = analyse_clinical(ok, directory)
    return SweepAnalysis(
        records=newest,
        ok=ok,
        failed=[record for record in newest if not record.ok],
        groups=group_records(ok),
        cross_validation=cross_validation,
        summary=summary_frame(ok),
        pairwise=pairwise_frame(ok),
        interval_method=interval_method(ok),
        clinical=clinical,
        methods=how_intervals_were_made(cross_validation, interval_method(ok), bool(clinical.delong)),
        pooled=pooled,
        crossval=crossval_rows(ok, pooled) if pooled is not None else [],
        external=external_rows(ok),
        study=study_reference_rows(ok),
        study_deviations=study_deviations(ok),
        stored=check_stored_predictions(ok, directory),
        per_run=per_run_rows(ok),
        confusion=confusion_panels(ok),
        curves=training_curves(ok),
        pareto=pareto_points(ok),
        timing=timing_stability(ok),
        data_source=data_source_label(ok),
        explain=analyse_explain(ok, directory),
        robustness=analyse_robustness(ok, directory, evaluation_settings(ok)["positive"]),
        deploy=analyse_deploy(ok),
    )


def analyse_clinical(ok: list[RunRecord], directory: Path | None) -> ClinicalAnalysis:
    """The clinical view from stored predictions (empty without a folder or stored predictions): counts
    at the threshold per run (cross-validation: per seed and repeat, pooled over folds), everything that
    reads scores per run, summaries over seeds or over folds with the Nadeau-Bengio correction."""
    settings = evaluation_settings(ok)
    positive = settings["positive"]
    if directory is None:
        return ClinicalAnalysis(settings=settings)
    units = build_units(ok, directory, positive, settings["rule"], settings["target"])
    correction = test_train_ratio(ok) if is_cross_validation(ok) else None
    per_run = operating_rows(units, positive) if positive is not None else []
    calibration = calibration_rows(units, positive)
    delong = delong_rows(units)
    return ClinicalAnalysis(
        settings=settings,
        units=units,
        operating=operating_rows(pool_units(units), positive) if positive is not None else [],
        operating_summary=operating_summary(per_run, correction),
        calibration=calibration,
        calibration_summary=calibration_summary(calibration),
        delong=delong,
        delong_over_folds=delong_over_folds(delong, correction) if correction is not None else [],
        roc_pr=roc_pr_curves(units, positive) if positive is not None else {},
        reliability=reliability_curves(units),
    )
