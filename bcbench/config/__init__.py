"""Experiment configuration: the schema (``schema``) and strict loading with overrides (``load``)."""

from bcbench.config.load import build, build_config, load_config, set_dotted, to_dict
from bcbench.config.schema import (
    AugmentConfig,
    Config,
    CostConfig,
    DataConfig,
    EvaluationConfig,
    ModelOptions,
    QueueConfig,
    RobustnessConfig,
    TrainConfig,
)

__all__ = [
    "AugmentConfig",
    "Config",
    "CostConfig",
    "DataConfig",
    "EvaluationConfig",
    "ModelOptions",
    "QueueConfig",
    "RobustnessConfig",
    "TrainConfig",
    "build",
    "build_config",
    "load_config",
    "set_dotted",
    "to_dict",
]
