"""Training: the recipe of a run (``recipe``), how it shares the launched processes (``parallel``), and
the loop that fits a model and returns its predictions (``loop``); no metrics are computed here."""

from bcbench.train.loop import RunOutcome, Trainer, make_generators, predict_probs, train_run
from bcbench.train.parallel import ProcessShare
from bcbench.train.recipe import MixedPrecision, RunSpec, Selection, TrainingDiverged, run_spec

__all__ = [
    "MixedPrecision",
    "ProcessShare",
    "RunOutcome",
    "RunSpec",
    "Selection",
    "Trainer",
    "TrainingDiverged",
    "make_generators",
    "predict_probs",
    "run_spec",
    "train_run",
]
