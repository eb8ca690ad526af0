"""Experiment configuration: the schema (``schema``), strict loading with overrides (``load``) and the
configs that ship with bcbench (``shipped``)."""

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
    ExplainConfig,
    ModelOptions,
    QueueConfig,
    RobustnessConfig,
    TrainConfig,
)
from bcbench.config.shipped import (
    default_config_path,
    resolve_config_file,
    shipped_config_names,
    shipped_configs_dir,
)

__all__ = [
    "AugmentConfig",
    "Config",
    "CostConfig",
    "DataConfig",
    "DeployConfig",
    "EvaluationConfig",
    "ExplainConfig",
    "ModelOptions",
    "QueueConfig",
    "RobustnessConfig",
    "TrainConfig",
    "build",
    "build_config",
    "default_config_path",
    "experiment_differences",
    "experiment_keys",
    "load_config",
    "resolve_config_file",
    "set_dotted",
    "shipped_config_names",
    "shipped_configs_dir",
    "stored_experiment",
    "to_dict",
]
