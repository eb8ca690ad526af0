"""A sweep folder holds one experiment: the folder for a config is ``<output_dir>/<name>``, or the first
``<name>-N`` beside it that is empty or holds the same experiment, never one whose records were made with
another data set or another recipe (their runs would be averaged together as if they were seeds).

"The same experiment" is everything in the resolved config but what only adds runs (models, seeds, swept
axes) or only says how to run them (name, output folder, strategy, tracking, threads, the queue).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from bcbench.config import Config, experiment_differences, experiment_keys, stored_experiment
from bcbench.errors import ConfigError, storage_failure
from bcbench.record import RUNS_FILE, SHARDS_DIR

CONFIG_FILE = "config.yaml"


def holds_records(directory: Path) -> bool:
    shards = directory / SHARDS_DIR
    return (directory / RUNS_FILE).is_file() or (shards.is_dir() and any(shards.glob("*.jsonl")))


def choose_folder(config: Config, fresh: bool = False) -> tuple[Path, str]:
    """(the sweep folder for ``config``, a note when it is not ``<output_dir>/<name>``): the first of
    ``<name>``, ``<name>-2``, ... that is empty or holds this experiment (with ``fresh``: the first that
    does not exist yet)."""
    base = Path(config.output_dir) / config.name
    mine = experiment_keys(config)
    skipped: list[str] = []
    for number in itertools.count(1):
        candidate = base if number == 1 else base.with_name(f"{base.name}-{number}")
        if not candidate.exists():
            return candidate, _note(base, candidate, skipped, fresh)
        if fresh:
            continue
        theirs = stored_experiment(candidate / CONFIG_FILE)
        if not holds_records(candidate) or theirs == mine:
            return candidate, _note(base, candidate, skipped, fresh)
        skipped.append(f"{candidate} ({'; '.join(experiment_differences(mine, theirs))})")
    raise AssertionError("unreachable")


def _note(base: Path, chosen: Path, skipped: list[str], fresh: bool) -> str:
    if chosen == base:
        return ""
    if fresh:
        return f"--fresh: writing to the new folder {chosen}"
    return f"{skipped[0]} holds another experiment: writing to {chosen} (name=... picks a folder of your own)"


def check_creatable(directory: Path) -> None:
    """The sweep folder exists and is writable, or the nearest existing folder above it is."""
    existing = next(parent for parent in (directory, *directory.parents) if parent.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"results folder {directory} cannot be created in {existing}; set output_dir")


def check_writable(directory: Path) -> None:
    """Fail before training when the results folder cannot be written."""
    probe = directory / f".write-test-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            probe.write_text("ok")
        finally:
            probe.unlink(missing_ok=True)  # created, then refused its two bytes: a full disk
    except OSError as error:
        failure = storage_failure(error, directory)
        if failure is not None:
            raise failure from None
        raise ConfigError(
            f"results folder {directory} cannot be written ({error.strerror or error}); "
            "set output_dir to a writable folder"
        ) from None
