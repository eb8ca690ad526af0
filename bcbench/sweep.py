"""A sweep: the grid of (model x seed x axes) runs, resumable, one record per finished run."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
import platform
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from bcbench.config import Config, build, to_dict
from bcbench.data import DataBundle, build_data
from bcbench.errors import BcbenchError
from bcbench.metrics import bootstrap_metric_ci
from bcbench.results import RUNS_FILE, append_record, load_records
from bcbench.train import RunOutcome, RunSpec, run_spec, train_run


@dataclass(frozen=True)
class PlannedRun:
    """One cell of the grid: its spec, the config it runs under and its stable id."""

    index: int
    spec: RunSpec
    config: Config
    run_id: str


class SweepObserver(Protocol):
    """Progress hooks; the CLI renders them with Rich, the library stays silent."""

    def sweep_started(self, total: int, done: int, todo: int) -> None: ...
    def data_loading(self, done: int, total: int) -> None: ...
    def run_started(self, planned: PlannedRun, position: int, todo: int) -> None: ...
    def epoch_finished(self, planned: PlannedRun, entry: dict[str, Any]) -> None: ...
    def run_finished(self, planned: PlannedRun, record: dict[str, Any]) -> None: ...


class SilentObserver:
    def sweep_started(self, total: int, done: int, todo: int) -> None:
        pass

    def data_loading(self, done: int, total: int) -> None:
        pass

    def run_started(self, planned: PlannedRun, position: int, todo: int) -> None:
        pass

    def epoch_finished(self, planned: PlannedRun, entry: dict[str, Any]) -> None:
        pass

    def run_finished(self, planned: PlannedRun, record: dict[str, Any]) -> None:
        pass


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


def environment(accelerator: Any, mixed_precision: str) -> dict[str, Any]:
    import accelerate
    import torchvision

    device = accelerator.device
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "accelerate": accelerate.__version__,
        "device": _device_name(device),
        "num_processes": accelerator.num_processes,
        "process_index": accelerator.process_index,
        "mixed_precision": mixed_precision,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "git_sha": _git_sha(),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"{device.type}:{platform.processor() or platform.machine()}"


@functools.cache
def _git_sha() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def data_summary(data: DataBundle) -> dict[str, Any]:
    counts = data.counts()
    return {
        "n_train": counts["train"],
        "n_val": counts["val"],
        "n_test": counts["test"],
        "classes": list(data.classes),
        "split_sha256": data.split_hash,
        "root": str(data.root),
        "class_counts": {split: data.class_counts(split) for split in ("train", "val", "test")},
        "audit": data.audit,  # skipped files, duplicates, label conflicts, cross-split leakage
    }


class DataCache:
    """Decode each distinct data configuration once per sweep, however many runs use it."""

    def __init__(self, observer: SweepObserver) -> None:
        self._bundles: dict[str, DataBundle] = {}
        self._observer = observer

    def get(self, config: Config) -> DataBundle:
        key = json.dumps(to_dict(config.data), sort_keys=True)
        if key not in self._bundles:
            self._bundles[key] = build_data(config.data, progress=self._observer.data_loading)
        return self._bundles[key]


class Sweep:
    """Runs the planned grid, appending a record per run; skips runs already recorded ok."""

    def __init__(
        self,
        config: Config,
        accelerator: Any,
        directory: Path,
        observer: SweepObserver | None = None,
        measure: Any = None,
        strategy: str = "grid",
    ) -> None:
        self.config = config
        self.accelerator = accelerator
        self.directory = directory
        self.observer = observer or SilentObserver()
        self.measure = measure  # callable(model, planned, outcome) -> efficiency dict
        self.runs_path = directory / RUNS_FILE
        self.data = DataCache(self.observer)
        self.strategy = strategy
        # with ddp every process trains every run and only the main process records it
        self.writes = strategy == "grid" or accelerator.is_main_process

    def load_data(self, planned: list[PlannedRun]) -> None:
        """Decode every distinct data configuration of the sweep up front."""
        for item in planned:
            self.data.get(item.config)

    def pending(self, planned: list[PlannedRun]) -> list[PlannedRun]:
        """Runs without an ok record (failed ones are retried)."""
        latest = load_records(self.runs_path).latest_by_run_id()
        return [p for p in planned if latest.get(p.run_id, {}).get("status") != "ok"]

    def run(self, mine: list[PlannedRun], total: int, done: int) -> list[dict[str, Any]]:
        """Run ``mine`` (this process's share of the pending runs); return the records written."""
        self.observer.sweep_started(total, done, len(mine))
        written = []
        for position, item in enumerate(mine):
            self.observer.run_started(item, position, len(mine))
            record = self.run_one(item)
            if self.writes:
                append_record(self.runs_path, record)
            written.append(record)
            self.observer.run_finished(item, record)
        return written

    def run_one(self, planned: PlannedRun) -> dict[str, Any]:
        started = time.time()
        record = self._base_record(planned)
        try:
            data = self.data.get(planned.config)
            record["data"] = data_summary(data)
            tracker = self._tracker(planned)

            def on_epoch(entry: dict[str, Any]) -> None:
                self.observer.epoch_finished(planned, entry)
                if tracker is not None:
                    tracker.log({k: v for k, v in entry.items() if k != "epoch"}, step=entry["epoch"])

            outcome = train_run(
                planned.spec,
                planned.config,
                data,
                self.accelerator,
                on_epoch,
                together=self.strategy == "ddp",
            )
            self._fill_outcome(record, planned, outcome, data)
            if tracker is not None:
                tracker.log({f"test/{k}": v for k, v in outcome.test.items() if isinstance(v, float)})
                tracker.finish()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # a failed run is recorded; the sweep goes on
            record["status"] = "failed"
            record["error"] = describe_failure(error)
            record["traceback"] = traceback.format_exc()
        record["finished_at"] = _now()
        record["wall_seconds"] = time.time() - started
        return record

    def _tracker(self, planned: PlannedRun) -> Any:
        """An Accelerate TensorBoard tracker for this run (tracking: tensorboard), else None."""
        if planned.config.tracking != "tensorboard" or not self.writes:
            return None
        try:
            from accelerate.tracking import TensorBoardTracker

            tracker = TensorBoardTracker(planned.run_id, self.directory / "tensorboard")
            if hasattr(tracker, "start"):  # Accelerate >= 1.6 opens the writer lazily
                tracker.start()
            return tracker
        except ImportError:
            raise BcbenchError(
                "tracking: tensorboard needs the tensorboard package; pip install tensorboard"
            ) from None

    def _base_record(self, planned: PlannedRun) -> dict[str, Any]:
        run_config = to_dict(planned.config)
        run_config.update(
            models=[planned.spec.model], seeds=[planned.spec.seed], train=to_dict(planned.spec.train)
        )
        return {
            "sweep": self.config.name,
            "run_id": planned.run_id,
            "model": planned.spec.model,
            "seed": planned.spec.seed,
            "axes": planned.spec.axes,
            "status": "running",
            "error": None,
            "config": run_config,
            "data": None,
            "history": [],
            "best_epoch": None,
            "epochs_run": 0,
            "test": None,
            "efficiency": None,
            "env": environment(self.accelerator, planned.spec.train.mixed_precision or "no"),
            "strategy": self.strategy,
            "started_at": _now(),
        }

    def _fill_outcome(
        self, record: dict[str, Any], planned: PlannedRun, outcome: RunOutcome, data: DataBundle
    ) -> None:
        record["history"] = outcome.history
        record["best_epoch"] = outcome.best_epoch
        record["epochs_run"] = outcome.epochs_run
        record["test"] = {**outcome.test, "bootstrap": test_set_uncertainty(outcome)}
        measured = self.measure is not None and self.writes
        efficiency = self.measure(outcome.model, planned, outcome, data) if measured else {}
        efficiency["train_seconds"] = outcome.train_seconds
        if efficiency.get("train_throughput") is None:  # measured in the real loop: data path + step
            efficiency["train_throughput"] = outcome.train_images_per_second
        record["efficiency"] = efficiency
        if planned.spec.train.save_checkpoint and self.writes:
            record["checkpoint"] = str(self._save_checkpoint(planned, outcome))
        record["status"] = "ok"

    def _save_checkpoint(self, planned: PlannedRun, outcome: RunOutcome) -> Path:
        path = self.directory / "checkpoints" / f"{planned.run_id}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pt.tmp")
        torch.save({k: v.cpu() for k, v in outcome.model.state_dict().items()}, tmp)
        tmp.replace(path)
        return path


def test_set_uncertainty(outcome: RunOutcome) -> dict[str, list[float]]:
    """95% percentile-bootstrap CIs over test images: how much one seed's number can move."""
    preds = outcome.test_probs.argmax(1)
    num_classes = outcome.test_probs.shape[1]
    return {
        metric: list(bootstrap_metric_ci(preds, outcome.test_targets, num_classes, metric, seed=0))
        for metric in ("accuracy", "f1_macro")
    }


def describe_failure(error: BaseException) -> str:
    """One line saying what went wrong, with advice for the failures users can act on."""
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    if isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower():
        return f"{message} (out of memory: lower train.batch_size or data.image_size)"
    return message


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
