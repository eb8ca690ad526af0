"""A sweep's plan: the grid of (model x axes x seed) runs in a stable order, each with a stable id."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bcbench.config import Config, build, to_dict
from bcbench.errors import BcbenchError
from bcbench.train import RunSpec, run_spec


@dataclass(frozen=True)
class PlannedRun:
    """One cell of the grid: its spec, the config it runs under and its stable id."""

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
        node = raw
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise BcbenchError(
                    f"sweep axis {dotted!r} is not a config key; use a dotted key like train.lr"
                )
            node = node[part]
        node[parts[-1]] = value
    raw["axes"] = {}
    return build(Config, raw, "")


def run_identity(spec: RunSpec, config: Config) -> dict[str, Any]:
    """What makes a run distinct: changing any of it changes the run_id."""
    return {
        "model": spec.model,
        "seed": spec.seed,
        "weights": spec.weights,
        "train": to_dict(spec.train),
        "data": to_dict(config.data),
        "augment": to_dict(config.augment),
        "efficiency": to_dict(config.efficiency),
    }


def make_run_id(spec: RunSpec, config: Config) -> str:
    canonical = json.dumps(run_identity(spec, config), sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    return f"{spec.model}-s{spec.seed}-{digest}"


def plan_runs(config: Config) -> list[PlannedRun]:
    """The grid in a stable order: models, then axes, then seeds."""
    planned = []
    for model in config.models:
        for axes in axis_combinations(config):
            cell_config = apply_axes(config, axes)
            for seed in config.seeds:
                spec = run_spec(cell_config, model, seed, axes)
                planned.append(PlannedRun(len(planned), spec, cell_config, make_run_id(spec, cell_config)))
    return planned


def shard(
    runs: list[PlannedRun], rank: int, world: int, cost: dict[str, float] | None = None
) -> list[PlannedRun]:
    """This process's share: longest-expected-first onto the least-loaded process, deterministically.

    Every run lands on exactly one process (no padding, unlike split_between_processes);
    ``cost`` is the expected seconds per model when known (e.g. from earlier records).
    """
    cost = cost or {}
    loads = [0.0] * world
    owner: dict[int, int] = {}
    by_cost = sorted(runs, key=lambda p: (-cost.get(p.spec.model, 1.0), p.index))
    for item in by_cost:
        process = min(range(world), key=lambda r: (loads[r], r))
        owner[item.index] = process
        loads[process] += cost.get(item.spec.model, 1.0)
    return [item for item in runs if owner[item.index] == rank]


def sweep_dir(config: Config, fresh: bool = False) -> Path:
    """results/<name>; with ``fresh`` the first unused results/<name>-N instead (nothing is deleted)."""
    base = Path(config.output_dir) / config.name
    if not fresh or not base.exists():
        return base
    for number in itertools.count(2):
        candidate = base.with_name(f"{base.name}-{number}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")
