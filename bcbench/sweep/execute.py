"""One run -> one record: data from the sweep's cache, training, metrics, cost, the record's blocks
(``RunExecutor``)."""

from __future__ import annotations

import datetime as dt
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from bcbench.atomic import atomic_open
from bcbench.config import Config, to_dict
from bcbench.cost import CostBlock, CostMeter, CostRequest
from bcbench.data import DataBundle, DataSummary
from bcbench.device import is_out_of_memory
from bcbench.env import Environment, capture_environment
from bcbench.errors import BcbenchError, storage_errors, storage_failure
from bcbench.metrics import evaluate
from bcbench.record import RunRecord, append_record, read_sweep, shard_path, write_predictions
from bcbench.sweep.datasets import SweepData
from bcbench.sweep.deployed import deploy_enabled, deployed_forms
from bcbench.sweep.explaining import explain_outcome
from bcbench.sweep.identity import new_worker_id
from bcbench.sweep.outcome import external_blocks, external_predictions, prediction_frames, selection_for
from bcbench.sweep.plan import PlannedRun
from bcbench.sweep.progress import SilentObserver, SweepObserver
from bcbench.sweep.robust import corruption_predictions, robustness_enabled
from bcbench.threads import ThreadPlan, load_average
from bcbench.train import RunOutcome, train_run


class RunExecutor:
    """Runs planned runs of one sweep folder, one at a time, appending a record per run."""

    def __init__(
        self,
        config: Config,
        accelerator: Any,
        directory: Path,
        observer: SweepObserver | None = None,
        meter: CostMeter | None = None,
        strategy: str = "grid",
        worker_id: str | None = None,
    ) -> None:
        self.config = config
        self.accelerator = accelerator
        self.directory = directory
        self.observer = observer or SilentObserver()
        self.meter = meter
        # each worker process appends only to its own shard: no lock shared between machines
        self.worker_id = worker_id or new_worker_id()
        self.runs_path = shard_path(directory, self.worker_id)
        self.data = SweepData(self.observer)
        self.strategy = strategy
        # with ddp every process trains every run and only the main process records it
        self.writes = strategy == "grid" or accelerator.is_main_process
        self.thread_plan: ThreadPlan | None = None  # recorded in every record's env (bcbench.threads)

    def load_data(self, planned: list[PlannedRun]) -> None:
        """Decode every distinct data configuration, its folds and external sets, up front."""
        self.data.prepare(planned)

    def pending(self, planned: list[PlannedRun]) -> list[PlannedRun]:
        """Runs without an ok record (failed ones are retried)."""
        latest = {record.run_id: record for record in read_sweep(self.directory).newest()}
        return [p for p in planned if not (p.run_id in latest and latest[p.run_id].ok)]

    def run(self, mine: list[PlannedRun], total: int, done: int) -> list[RunRecord]:
        """Run ``mine`` in order and keep each record (``ddp``: every pending run, all processes
        together; other strategies take runs one at a time from the queue, see ``worker``)."""
        self.observer.sweep_started(total, done, len(mine))
        written = []
        for position, item in enumerate(mine):
            self.observer.run_started(item, position, len(mine))
            record = self.run_one(item)
            self.keep(record)
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
            data = self.data.for_run(planned)
            record.data = DataSummary.from_bundle(data)
            outcome = self._train(planned, data, tracker)
            self._fill_outcome(record, planned, outcome, data)
            if tracker is not None and record.test is not None:
                tracker.log(
                    {f"test/{k}": v for k, v in record.test.to_json().items() if isinstance(v, float)}
                )
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # a failed run is recorded and the sweep goes on, unless the disk failed
            stop = storage_failure(error)
            if stop is not None:  # every later run would fail alike, and recording needs the same disk
                raise stop from None
            record.status = "failed"
            record.error = describe_failure(error)
            record.traceback = traceback.format_exc()
        finally:
            if tracker is not None:
                tracker.finish()
        record.finished_at = _now()
        record.wall_seconds = time.time() - started
        if record.env is not None:
            record.env.load_end = load_average()
        return record

    def _train(self, planned: PlannedRun, data: DataBundle, tracker: Any) -> RunOutcome:
        def on_epoch(entry: dict[str, Any]) -> None:
            self.observer.epoch_finished(planned, entry)
            if tracker is not None:
                tracker.log({k: v for k, v in entry.items() if k != "epoch"}, step=entry["epoch"])

        together = self.strategy == "ddp"
        selection = selection_for(planned.config)
        return train_run(planned.spec, planned.config, data, self.accelerator, on_epoch, together, selection)

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
        folder = self.directory / "tensorboard"
        with storage_errors(folder / planned.run_id):
            tracker = TensorBoardTracker(planned.run_id, folder)
            if hasattr(tracker, "start"):  # Accelerate >= 1.6 opens the writer lazily
                tracker.start()
        return StorageGuardedTracker(tracker, folder / planned.run_id)

    def _base_record(self, planned: PlannedRun) -> RunRecord:
        environment = capture_environment(
            self.accelerator.device,
            num_processes=self.accelerator.num_processes,
            process_index=self.accelerator.process_index,
            mixed_precision=planned.config.train.mixed_precision or "no",
            **(self.thread_plan.record() if self.thread_plan is not None else {}),
        )
        return RunRecord(
            sweep=self.config.name,
            run_id=planned.run_id,
            model=planned.spec.model,
            seed=planned.spec.seed,
            repeat=planned.spec.repeat,
            fold=planned.spec.fold,
            axes=planned.spec.axes,
            config=to_dict(planned.config),
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
        record.test = evaluate(
            outcome.test_probs, outcome.test_targets, outcome.val_probs, outcome.val_targets, data.classes
        )
        if self.writes:
            externals = self.data.externals(planned.config)
            probs = external_predictions(outcome, externals, planned.config, self.accelerator.device)
            record.external = external_blocks(externals, probs)
            temperature = record.test.calibration["temperature"]
            frames = prediction_frames(outcome, data, planned.spec, externals, probs, temperature)
            if robustness_enabled(planned.config):  # the test set under every corruption x severity
                corrupted, record.robustness = corruption_predictions(
                    outcome.model, planned.config, data, self.accelerator.device, temperature, planned.spec
                )
                frames += corrupted
            if deploy_enabled(planned.config):  # every deployed form: parity, scores, timings, size
                deployed, record.deploy = deployed_forms(
                    outcome, planned, data, externals, temperature, self.directory
                )
                frames += deployed
            record.predictions = write_predictions(self.directory, planned.run_id, frames)
        if self.writes and planned.config.explain.enabled:
            record.explain = explain_outcome(outcome, planned, data, self.directory, self.accelerator.device)
        record.cost = self._cost(planned, outcome, data)
        if planned.config.train.save_checkpoint and self.writes:
            record.checkpoint = str(self._save_checkpoint(planned, outcome))
        record.status = "ok"

    def _cost(self, planned: PlannedRun, outcome: RunOutcome, data: DataBundle) -> CostBlock:
        block = CostBlock()
        if self.meter is not None and self.writes:
            train = planned.config.train
            request = CostRequest(
                name=planned.spec.model,
                settings=planned.config.cost,
                data_config=planned.config.data,
                precision=train.mixed_precision or "no",
                channels_last=train.channels_last,
            )
            block = self.meter.measure(outcome.model, request, data)
        block.train_seconds = outcome.train_seconds
        if block.train_throughput is None:  # measured in the real loop: data path + step
            block.train_throughput = outcome.train_images_per_second
        return block

    def _save_checkpoint(self, planned: PlannedRun, outcome: RunOutcome) -> Path:
        return save_checkpoint(self.directory / "checkpoints" / f"{planned.run_id}.pt", outcome.model)

    def keep(self, record: RunRecord) -> None:
        """Stamp the record with this worker and append it to the worker's shard (durable on return);
        under ddp only the process that writes keeps it."""
        record.worker = self.worker_id
        if self.writes:
            append_record(self.runs_path, record)


def save_checkpoint(path: Path, model: torch.nn.Module) -> Path:
    """The model's weights (on the CPU), written atomically; ``StorageError`` when the disk refuses."""
    with atomic_open(path, "wb") as handle:  # a file object: torch.save keeps its OSError as the context
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, handle)
    return path


class StorageGuardedTracker:
    """An Accelerate tracker whose write failures (raised by ``log`` or ``finish``, surfacing from its
    writer thread) are StorageErrors naming its folder."""

    def __init__(self, tracker: Any, folder: Path) -> None:
        self.tracker, self.folder = tracker, folder

    def log(self, values: dict[str, Any], step: int | None = None) -> None:
        with storage_errors(self.folder):
            self.tracker.log(values, step=step)

    def finish(self) -> None:
        with storage_errors(self.folder):
            self.tracker.finish()


def describe_failure(error: BaseException) -> str:
    """One line saying what went wrong, with advice for the failures users can act on."""
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    if is_out_of_memory(error):
        return f"{message} (out of memory: lower train.batch_size or data.image_size)"
    return message


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
