"""A sweep's plan: the grid of (model x axes x fold x seed) runs in a stable order, each with a stable id."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from bcbench.config import Config, DeployConfig, ExplainConfig, build_config, set_dotted, to_dict
from bcbench.train import RunSpec, resolve_run_config


@dataclass(frozen=True)
class PlannedRun:
    """One cell of the grid: which run it is, its whole recipe (the resolved config stored in its record)
    and its stable id."""

    index: int
    spec: RunSpec
    config: Config
    run_id: str


def axis_combinations(config: Config) -> list[dict[str, Any]]:
    """Every combination of the extra swept axes (one empty combination when there are none)."""
    keys = list(config.axes)
    values = [list(config.axes[key]) for key in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def apply_axes(config: Config, axes: dict[str, Any]) -> Config:
    """The config with dotted ``axes`` values set, validated like any override."""
    if not axes:
        return config
    raw = to_dict(config)
    for dotted, value in axes.items():
        set_dotted(raw, dotted, value)
    raw["axes"] = {}
    return build_config(raw)


# Keys added after bcbench 0.1, left out of a run's identity while they hold their defaults, so the run
# ids of sweeps started before them stay the same and those sweeps resume instead of starting over.
_LATER_KEYS: dict[str, dict[str, Any]] = {
    "data": {
        "source": "auto",
        "index": None,
        "class_names": [],
        "external": {},
        "normalize_mean": [],
        "normalize_std": [],
    },
    "train": {"select_by": "val_loss", "milestones": []},
}


def _identity_block(name: str, block: Any) -> dict[str, Any]:
    values = to_dict(block)
    return {key: value for key, value in values.items() if _LATER_KEYS.get(name, {}).get(key, ...) != value}


def run_identity(spec: RunSpec, config: Config) -> dict[str, Any]:
    """What makes a run distinct (``config`` is the run's resolved config): changing any of it changes the
    run_id. The cost settings keep their pre-0.3 name here, so run ids stay what they were."""
    options = config.options_for(spec.model)
    identity = {
        "model": spec.model,
        "seed": spec.seed,
        "weights": options.weights,
        "train": _identity_block("train", config.train),
        "data": _identity_block("data", config.data),
        "augment": to_dict(config.augment),
        "efficiency": to_dict(config.cost),
    }
    if options.small_input_stem:
        identity["small_input_stem"] = True
    if to_dict(config.explain) != to_dict(ExplainConfig()):
        identity["explain"] = to_dict(config.explain)
    if spec.cv_key is not None:
        evaluation = config.evaluation  # only what makes the folds: not the reporting keys
        design = {"protocol": "kfold", "folds": evaluation.folds, "repeats": evaluation.repeats}
        identity["cross_validation"] = {
            **design,
            "groups": evaluation.groups,
            "repeat": spec.repeat,
            "fold": spec.fold,
        }
    elif config.evaluation.groups != "auto":
        identity["groups"] = config.evaluation.groups
    if config.robustness.corruptions:  # what the run computes; reference_model only changes the analysis
        robustness = to_dict(config.robustness)
        identity["robustness"] = {key: value for key, value in robustness.items() if key != "reference_model"}
    if to_dict(config.deploy) != to_dict(DeployConfig()):  # what the run measures after training
        identity["deploy"] = to_dict(config.deploy)
    return identity


def make_run_id(spec: RunSpec, config: Config) -> str:
    canonical = json.dumps(run_identity(spec, config), sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    fold = f"-r{spec.repeat}f{spec.fold}" if spec.cv_key is not None else ""
    return f"{spec.model}-s{spec.seed}{fold}-{digest}"


def fold_keys(config: Config) -> list[tuple[int, int] | None]:
    """The (repeat, fold) cells of cross-validation, or [None] for a holdout split."""
    evaluation = config.evaluation
    if evaluation.protocol != "kfold":
        return [None]
    return [(repeat, fold) for repeat in range(evaluation.repeats) for fold in range(evaluation.folds)]


def plan_runs(config: Config) -> list[PlannedRun]:
    """The grid in a stable order: models, then axes, then (repeat, fold), then seeds."""
    planned = []
    for model in config.models:
        for axes in axis_combinations(config):
            cell_config = apply_axes(config, axes)
            for fold in fold_keys(cell_config):
                repeat, fold_index = fold if fold is not None else (None, None)
                for seed in config.seeds:
                    spec = RunSpec(model, seed, dict(axes), repeat, fold_index)
                    run_config = resolve_run_config(cell_config, model, seed)
                    planned.append(PlannedRun(len(planned), spec, run_config, make_run_id(spec, run_config)))
    return planned
