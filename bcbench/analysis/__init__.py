"""Analysis: everything computed from stored records and predictions, once, for the report to render.

``analyse(records, directory)`` returns a ``SweepAnalysis``: the summary over seeds or folds and the pairwise
comparisons (``summary``), the units of the clinical statistics (``units``), operating points and
calibration (``clinical``), DeLong rows (``delong``), pooled cross-validation (``crossval``), external sets
(``external``), the study's numbers (``study``), the recompute check (``stored``), the numbers behind
every figure (``figures``), and corruption curves, ensembles and selective prediction (``robustness``,
``ensembles``, ``selective``, from stored predictions grouped per seed in ``pooled``); ``compare_sweeps``
sets several sweeps side by side (``compare``); ``load_sweep`` reads a sweep folder (``load``).
Where each model looks (explanation maps scored against lesion masks): ``explain``.
"""

from bcbench.analysis.compare import (
    COMPARED,
    compare_sweeps,
    comparison_folder,
    config_differences,
    sweep_labels,
)
from bcbench.analysis.deploy import DeployAnalysis, FormPoint
from bcbench.analysis.explain import ExplainAnalysis, analyse_explain
from bcbench.analysis.explain_maps import ExplainFigureData
from bcbench.analysis.figures import (
    SYNTHETIC_SOURCE,
    ConfusionPanel,
    ParetoPoints,
    data_source_label,
    pareto_front,
    summed_confusion,
)
from bcbench.analysis.load import ReportError, load_sweep, load_sweep_with_notes
from bcbench.analysis.methods import BRIER_DEFINITION, ECE_DEFINITION, PER_RUN_INTERVAL
from bcbench.analysis.robustness import CorruptionAnalysis, RobustnessAnalysis
from bcbench.analysis.selective import SelectiveAnalysis
from bcbench.analysis.summary import CONFIDENCE, pairwise_frame, summary_frame
from bcbench.analysis.sweep import ClinicalAnalysis, SweepAnalysis, analyse
from bcbench.analysis.timing import TIMING_RULE
from bcbench.analysis.units import PredictionUnit

__all__ = [
    "BRIER_DEFINITION",
    "ECE_DEFINITION",
    "PER_RUN_INTERVAL",
    "SYNTHETIC_SOURCE",
    "COMPARED",
    "CONFIDENCE",
    "ClinicalAnalysis",
    "ConfusionPanel",
    "ExplainAnalysis",
    "ExplainFigureData",
    "CorruptionAnalysis",
    "DeployAnalysis",
    "FormPoint",
    "ParetoPoints",
    "PredictionUnit",
    "ReportError",
    "RobustnessAnalysis",
    "SelectiveAnalysis",
    "SweepAnalysis",
    "TIMING_RULE",
    "analyse",
    "analyse_explain",
    "compare_sweeps",
    "comparison_folder",
    "config_differences",
    "data_source_label",
    "load_sweep",
    "load_sweep_with_notes",
    "pairwise_frame",
    "pareto_front",
    "summary_frame",
    "summed_confusion",
    "sweep_labels",
]
