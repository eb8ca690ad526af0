"""One run -> one record: data from the sweep's cache, training, metrics, cost, the record's blocks."""

from __future__ import annotations

import datetime as dt
import json
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from bcbench.atomic import atomic_path
from bcbench.config import Config, to_dict
from bcbench.cost import CostBlock, CostMeter, CostRequest
from bcbench.data import DataBundle, DataSummary, build_data
from bcbench.device import is_out_of_memory
from bcbench.env import Environment, capture_environment
from bcbench.errors import BcbenchError
from bcbench.metrics import TestMetrics, bootstrap_metric_ci, classification_metrics
from bcbench.record import RunRecord
from bcbench.record.store import RUNS_FILE, append_record, read_sweep
from bcbench.sweep.plan import PlannedRun
from bcbench.sweep.progress import SilentObserver, SweepObserver
from bcbench.train import RunOutcome, train_run

BOOTSTRAPPED = ("accuracy", "f1_macro")


class BundleCache:
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
    """Runs planned runs, appending a record per run; skips runs already recorded ok."""

    def __init__(
        self,
        config: Config,
        accelerator: Any,
        directory: Path,
        observer: SweepObserver | None = None,
        meter: CostMeter | None = None,
        strategy: str = "grid",
    ) -> None:
        self.config = config
        self.accelerator = accelerator
        self.directory = directory
        self.observer = observer or SilentObserver()
        self.meter = meter
        self.runs_path = directory / RUNS_FILE
        self.data = BundleCache(self.observer)
        self.strategy = strategy
        # with ddp every process trains every run and only the main process records it
        self.writes = strategy == "grid" or accelerator.is_main_process

    def load_data(self, planned: list[PlannedRun]) -> None:
        """Decode every distinct data configuration of the sweep up front."""
        for item in planned:
            self.data.get(item.config)

    def pending(self, planned: list[PlannedRun]) -> list[PlannedRun]:
        """Runs without an ok record (failed ones are retried)."""
        latest = {record.run_id: record for record in read_sweep(self.directory).newest()}
        return [p for p in planned if not (p.run_id in latest and latest[p.run_id].ok)]

    def run(self, mine: list[PlannedRun], total: int, done: int) -> list[RunRecord]:
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

    def run_one(self, planned: PlannedRun) -> RunRecord:
        """Train and measure one run; any failure becomes a failed record and the sweep goes on."""
        started = time.time()
        record = self._base_record(planned)
        tracker = None
        try:
            tracker = self._tracker(planned)
            data = self.data.get(planned.config)
            record.data = DataSummary.from_bundle(data)
            outcome = self._train(planned, data, tracker)
            self._fill_outcome(record, planned, outcome, data)
            if tracker is not None and record.test is not None:
                tracker.log(
                    {f"test/{k}": v for k, v in record.test.to_json().items() if isinstance(v, float)}
                )
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # a failed run is recorded; the sweep goes on
            record.status = "failed"
            record.error = describe_failure(error)
            record.traceback = traceback.format_exc()
        finally:
            if tracker is not None:
                tracker.finish()
        record.finished_at = _now()
        record.wall_seconds = time.time() - started
        return record

    def _train(self, planned: PlannedRun, data: DataBundle, tracker: Any) -> RunOutcome:
        def on_epoch(entry: dict[str, Any]) -> None:
            self.observer.epoch_finished(planned, entry)
            if tracker is not None:
                tracker.log({k: v for k, v in entry.items() if k != "epoch"}, step=entry["epoch"])

        together = self.strategy == "ddp"
        return train_run(planned.spec, planned.config, data, self.accelerator, on_epoch, together=together)

    def _tracker(self, planned: PlannedRun) -> Any:
        """An Accelerate TensorBoard tracker for this run (tracking: tensorboard), else None."""
        if planned.config.tracking != "tensorboard" or not self.writes:
            return None
        try:
            from accelerate.tracking import TensorBoardTracker
        except ImportError:
            raise BcbenchError(
                "tracking: tensorboard needs the tensorboard package; pip install tensorboard"
            ) from None
        tracker = TensorBoardTracker(planned.run_id, self.directory / "tensorboard")
        if hasattr(tracker, "start"):  # Accelerate >= 1.6 opens the writer lazily
            tracker.start()
        return tracker

    def _base_record(self, planned: PlannedRun) -> RunRecord:
        run_config = to_dict(planned.config)
        run_config.update(
            models=[planned.spec.model], seeds=[planned.spec.seed], train=to_dict(planned.spec.train)
        )
        environment = capture_environment(
            self.accelerator.device,
            num_processes=self.accelerator.num_processes,
            process_index=self.accelerator.process_index,
            mixed_precision=planned.spec.train.mixed_precision or "no",
        )
        return RunRecord(
            sweep=self.config.name,
            run_id=planned.run_id,
            model=planned.spec.model,
            seed=planned.spec.seed,
            axes=planned.spec.axes,
            config=run_config,
            env=Environment.from_json(environment),
            strategy=self.strategy,
            started_at=_now(),
        )

    def _fill_outcome(
        self, record: RunRecord, planned: PlannedRun, outcome: RunOutcome, data: DataBundle
    ) -> None:
        record.history = outcome.history
        record.best_epoch = outcome.best_epoch
        record.epochs_run = outcome.epochs_run
        test = classification_metrics(outcome.test_probs, outcome.test_targets, data.classes)
        record.test = TestMetrics.from_json({**test, "bootstrap": test_set_uncertainty(outcome)})
        record.efficiency = self._cost(planned, outcome, data)
        if planned.spec.train.save_checkpoint and self.writes:
            record.checkpoint = str(self._save_checkpoint(planned, outcome))
        record.status = "ok"

    def _cost(self, planned: PlannedRun, outcome: RunOutcome, data: DataBundle) -> CostBlock:
        measured: dict[str, Any] = {}
        if self.meter is not None and self.writes:
            request = CostRequest(
                name=planned.spec.model,
                settings=planned.config.efficiency,
                data_config=planned.config.data,
                precision=planned.spec.train.mixed_precision or "no",
                channels_last=planned.spec.train.channels_last,
            )
            measured = self.meter.measure(outcome.model, request, data)
        measured["train_seconds"] = outcome.train_seconds
        if measured.get("train_throughput") is None:  # measured in the real loop: data path + step
            measured["train_throughput"] = outcome.train_images_per_second
        return CostBlock.from_json(measured)

    def _save_checkpoint(self, planned: PlannedRun, outcome: RunOutcome) -> Path:
        path = self.directory / "checkpoints" / f"{planned.run_id}.pt"
        with atomic_path(path) as temporary:
            torch.save({k: v.cpu() for k, v in outcome.model.state_dict().items()}, temporary)
        return path


def test_set_uncertainty(outcome: RunOutcome) -> dict[str, list[float]]:
    """95% percentile-bootstrap CIs over test images: how much one seed's number can move."""
    preds = outcome.test_probs.argmax(1)
    num_classes = outcome.test_probs.shape[1]
    return {
        metric: list(bootstrap_metric_ci(preds, outcome.test_targets, num_classes, metric, seed=0))
        for metric in BOOTSTRAPPED
    }


def describe_failure(error: BaseException) -> str:
    """One line saying what went wrong, with advice for the failures users can act on."""
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    if is_out_of_memory(error):
        return f"{message} (out of memory: lower train.batch_size or data.image_size)"
    return message


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
