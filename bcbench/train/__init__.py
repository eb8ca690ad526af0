"""Training: the recipe of a run (``recipe``), how it shares the launched processes (``parallel``), and
the loop that fits a model and returns its predictions (``loop``); no metrics are computed here."""

from bcbench.train.loop import RunOutcome, Trainer, make_generators, predict_probs, train_run
from bcbench.train.parallel import ProcessShare
from bcbench.train.recipe import (
    MixedPrecision,
    RunSpec,
    Selection,
    TrainingDiverged,
    make_criterion,
    make_optimizer,
    resolve_run_config,
)

__all__ = [
    "MixedPrecision",
    "ProcessShare",
    "RunOutcome",
    "RunSpec",
    "Selection",
    "Trainer",
    "TrainingDiverged",
    "make_criterion",
    "make_generators",
    "make_optimizer",
    "predict_probs",
    "resolve_run_config",
    "train_run",
]
