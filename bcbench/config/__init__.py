"""Experiment configuration: the schema (``schema``) and strict loading with overrides (``load``)."""

from bcbench.config.load import build, load_config, to_dict
from bcbench.config.schema import (
    AugmentConfig,
    Config,
    DataConfig,
    EfficiencyConfig,
    EvaluationConfig,
    ModelOptions,
    QueueConfig,
    TrainConfig,
)

__all__ = [
    "AugmentConfig",
    "Config",
    "DataConfig",
    "EfficiencyConfig",
    "EvaluationConfig",
    "ModelOptions",
    "QueueConfig",
    "TrainConfig",
    "build",
    "load_config",
    "to_dict",
]
