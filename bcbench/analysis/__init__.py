"""Analysis: everything computed from stored records and predictions, once, for the report to render.

``analyse(records, directory)`` returns a ``SweepAnalysis``: the summary over seeds or folds and the pairwise
comparisons (``summary``), the units of the clinical statistics (``units``), operating points and
calibration (``clinical``), DeLong rows (``delong``), pooled cross-validation (``crossval``), external sets
(``external``), the study's numbers (``study``), the recompute check (``stored``), the numbers behind
every figure (``figures``), and corruption curves, ensembles and selective prediction (``robustness``,
``ensembles``, ``selective``, from stored predictions grouped per seed in ``pooled``); ``compare_sweeps``
sets several sweeps side by side (``compare``); ``load_sweep`` reads a sweep folder (``load``).
"""

from bcbench.analysis.compare import COMPARED, compare_sweeps, sweep_labels
from bcbench.analysis.figures import ConfusionPanel, ParetoPoints, pareto_front, summed_confusion
from bcbench.analysis.load import ReportError, load_sweep, load_sweep_with_notes
from bcbench.analysis.methods import BOUNDED, OVER_TEST_IMAGES, PER_RUN_INTERVAL, over_runs_line
from bcbench.analysis.robustness import CorruptionAnalysis, RobustnessAnalysis
from bcbench.analysis.selective import SelectiveAnalysis
from bcbench.analysis.summary import CONFIDENCE, pairwise_frame, summary_frame
from bcbench.analysis.sweep import ClinicalAnalysis, SweepAnalysis, analyse
from bcbench.analysis.units import PredictionUnit

__all__ = [
    "BOUNDED",
    "OVER_TEST_IMAGES",
    "PER_RUN_INTERVAL",
    "COMPARED",
    "CONFIDENCE",
    "ClinicalAnalysis",
    "ConfusionPanel",
    "CorruptionAnalysis",
    "ParetoPoints",
    "PredictionUnit",
    "ReportError",
    "RobustnessAnalysis",
    "SelectiveAnalysis",
    "SweepAnalysis",
    "analyse",
    "compare_sweeps",
    "load_sweep",
    "load_sweep_with_notes",
    "over_runs_line",
    "pairwise_frame",
    "pareto_front",
    "summary_frame",
    "summed_confusion",
    "sweep_labels",
]
