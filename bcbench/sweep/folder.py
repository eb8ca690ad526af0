"""A sweep folder holds one experiment: the folder for a config is ``<output_dir>/<name>``, or the first
``<name>-N`` beside it that is empty or holds the same experiment, never one whose records were made with
another data set or another recipe (their runs would be averaged together as if they were seeds).

"The same experiment" is everything in the resolved config but what only adds runs (models, seeds, swept
axes) or only says how to run them (name, output folder, strategy, tracking, threads, the queue).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import yaml

from bcbench.config import Config, build_config, to_dict
from bcbench.errors import BcbenchError
from bcbench.record import RUNS_FILE, SHARDS_DIR, flatten

CONFIG_FILE = "config.yaml"
NOT_THE_EXPERIMENT = (
    "name",
    "output_dir",
    "models",
    "seeds",
    "axes",
    "strategy",
    "tracking",
    "threads",
    "queue",
)


def experiment(config: Config) -> dict[str, Any]:
    """The part of a config that must be the same for records to share a folder (flattened)."""
    values = {key: value for key, value in to_dict(config).items() if key not in NOT_THE_EXPERIMENT}
    return flatten(values)


def stored_experiment(directory: Path) -> dict[str, Any] | None:
    """The experiment of a folder's stored ``config.yaml``; None when there is none or it cannot be read
    (written by a newer bcbench, or damaged)."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return experiment(build_config(yaml.safe_load(path.read_text()) or {}))
    except (BcbenchError, yaml.YAMLError, TypeError, ValueError):
        return None


def holds_records(directory: Path) -> bool:
    shards = directory / SHARDS_DIR
    return (directory / RUNS_FILE).is_file() or (shards.is_dir() and any(shards.glob("*.jsonl")))


def differences(mine: dict[str, Any], theirs: dict[str, Any] | None, limit: int = 3) -> list[str]:
    """The first ``limit`` dotted keys whose values differ, as ``key: theirs -> mine``."""
    if theirs is None:
        return ["its config.yaml is missing or unreadable"]
    keys = [key for key in dict.fromkeys([*theirs, *mine]) if theirs.get(key) != mine.get(key)]
    return [f"{key}: {theirs.get(key)!r} -> {mine.get(key)!r}" for key in keys[:limit]]


def choose_folder(config: Config, fresh: bool = False) -> tuple[Path, str]:
    """(the sweep folder for ``config``, a note when it is not ``<output_dir>/<name>``): the first of
    ``<name>``, ``<name>-2``, ... that is empty or holds this experiment (with ``fresh``: the first that
    does not exist yet)."""
    base = Path(config.output_dir) / config.name
    mine = experiment(config)
    skipped: list[str] = []
    for number in itertools.count(1):
        candidate = base if number == 1 else base.with_name(f"{base.name}-{number}")
        if not candidate.exists():
            return candidate, _note(base, candidate, skipped, fresh)
        if fresh:
            continue
        if not holds_records(candidate) or stored_experiment(candidate) == mine:
            return candidate, _note(base, candidate, skipped, fresh)
        skipped.append(f"{candidate} ({'; '.join(differences(mine, stored_experiment(candidate)))})")
    raise AssertionError("unreachable")


def _note(base: Path, chosen: Path, skipped: list[str], fresh: bool) -> str:
    if chosen == base:
        return ""
    if fresh:
        return f"--fresh: writing to the new folder {chosen}"
    return f"{skipped[0]} holds another experiment: writing to {chosen} (name=... picks a folder of your own)"
