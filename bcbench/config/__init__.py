"""Experiment configuration: the schema (``schema``) and strict loading with overrides (``load``)."""

from bcbench.config.load import (
    build,
    build_config,
    experiment_differences,
    experiment_keys,
    load_config,
    set_dotted,
    stored_experiment,
    to_dict,
)
from bcbench.config.schema import (
    AugmentConfig,
    Config,
    CostConfig,
    DataConfig,
    DeployConfig,
    EvaluationConfig,
    ModelOptions,
    QueueConfig,
    TrainConfig,
)

__all__ = [
    "AugmentConfig",
    "Config",
    "CostConfig",
    "DataConfig",
    "DeployConfig",
    "EvaluationConfig",
    "ModelOptions",
    "QueueConfig",
    "TrainConfig",
    "build",
    "build_config",
    "experiment_differences",
    "experiment_keys",
    "load_config",
    "set_dotted",
    "stored_experiment",
    "to_dict",
]
