"""Orchestration behind `bcbench run`: plan, take runs from the sweep's queue, summarise once complete.

``run_sweep`` returns a ``SweepResult`` (the folder, the records, what failed); the command line turns it
into an exit code."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from bcbench.atomic import write_atomic
from bcbench.config import Config, to_dict
from bcbench.cost import CostMeter
from bcbench.data import crop_warning
from bcbench.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_STORAGE,
    EXIT_USAGE,
    BcbenchError,
    ConfigError,
    storage_errors,
)
from bcbench.record import RUNS_FILE, RunRecord, consolidate, read_sweep
from bcbench.sweep.deployed import check_deploy, deploy_note
from bcbench.sweep.execute import RunExecutor
from bcbench.sweep.folder import check_creatable, check_writable, choose_folder, holds_records
from bcbench.sweep.identity import new_worker_id
from bcbench.sweep.plan import PlannedRun, plan_runs
from bcbench.sweep.progress import RichObserver
from bcbench.sweep.queue import ClaimBoard, check_claims_folder
from bcbench.sweep.robust import check_robustness
from bcbench.sweep.spawn import check_layout, run_processes, worker_slots
from bcbench.sweep.worker import QueueWorker, WorkerOutcome
from bcbench.threads import ThreadPlan, apply_threads, choose_threads


def make_accelerator() -> Any:
    import torch
    from accelerate import Accelerator

    # precision is handled per run (see train.MixedPrecision), so Accelerate's stays "no";
    # without cpu=True, Accelerate treats a torchrun launch on a GPU-less machine as one process
    return Accelerator(mixed_precision="no", cpu=not torch.cuda.is_available())


def resolve_strategy(strategy: str, runs: int, processes: int) -> str:
    """grid unless asked for ddp, or auto with fewer runs than processes."""
    if strategy == "auto":
        return "ddp" if processes > 1 and runs < processes else "grid"
    return strategy


@dataclass
class SweepResult:
    """What a call of ``run_sweep`` left: the sweep folder, the newest record of each planned run found there
    (in plan order), the runs this process recorded, and whether it was interrupted or wrote the report."""

    directory: Path
    planned: list[PlannedRun]
    records: list[RunRecord] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # run ids recorded by this process
    interrupted: bool = False
    reported: bool = False

    @property
    def failed(self) -> list[RunRecord]:
        return [record for record in self.records if not record.ok]

    @property
    def missing(self) -> list[str]:
        """Planned runs without any record yet (other workers may still be running them)."""
        recorded = {record.run_id for record in self.records}
        return [item.run_id for item in self.planned if item.run_id not in recorded]

    @property
    def exit_code(self) -> int:
        """130 when interrupted; 1 when a run failed or has no record (of the whole sweep when this process
        reported, else of the runs it recorded); else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        failed = {record.run_id for record in self.failed}
        if self.reported:
            return EXIT_RUN_FAILED if failed or self.missing else EXIT_OK
        return EXIT_RUN_FAILED if failed & set(self.written) else EXIT_OK


def run_sweep(
    config: Config,
    fresh: bool = False,
    dry_run: bool = False,
    console: Console | None = None,
    directory: Path | None = None,
) -> SweepResult:
    """Run the sweep described by ``config`` as one worker of its queue (with ``queue.workers_per_device``
    > 1: start that many worker processes per device and wait for them) and return what it left.
    ``directory``: the sweep folder, when already chosen; ``console``: where progress and tables are
    printed (nothing is printed without one)."""
    console = console or Console(quiet=True)
    planned = plan_runs(config)
    if directory is None:
        directory, note = choose_folder(config, fresh)
        if note:
            console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if dry_run:
        return dry_run_plan(config, planned, directory, console)
    with removed_if_the_start_fails(directory):
        if config.queue.workers_per_device > 1:
            return run_local_workers(config, planned, directory, console)
        return run_worker(config, planned, directory, console)


@contextmanager
def removed_if_the_start_fails(directory: Path) -> Iterator[None]:
    """A folder this call created is removed again when the sweep stops with an error before any run was
    recorded (a mistyped model, a missing data folder), so failed starts leave nothing behind."""
    existed = directory.exists()
    try:
        yield
    except BcbenchError:
        if not existed and directory.exists() and not holds_records(directory):
            shutil.rmtree(directory, ignore_errors=True)
        raise


def dry_run_plan(config: Config, planned: list[PlannedRun], directory: Path, console: Console) -> SweepResult:
    """What a start would do, checked as far as it can be without training: the models and their
    weights, the data root, the output folder; then every planned run and whether it is recorded."""
    from bcbench.models import check_model

    for model, weights, size, stem in {_model_key(item) for item in planned}:
        check_model(model, weights, size, stem)
    check_data_root(config)
    check_creatable(directory)
    if crop_warning(config.data):
        console.print(f"[yellow]note:[/] {escape(crop_warning(config.data))}", soft_wrap=True)
    latest = {r.run_id: r for r in read_sweep(directory).newest()} if directory.is_dir() else {}
    done = sum(1 for item in planned if item.run_id in latest and latest[item.run_id].ok)
    console.print(f"sweep folder: {directory} ({done} of {len(planned)} runs recorded ok)", soft_wrap=True)
    console.print(f"data: {describe_data_root(config)}", soft_wrap=True)
    for item in planned:
        record = latest.get(item.run_id)
        state = "pending" if record is None else ("recorded ok" if record.ok else "failed: will be retried")
        axes = f" {item.spec.axes}" if item.spec.axes else ""
        console.print(
            f"{item.run_id}  model={item.spec.model} seed={item.spec.seed}{axes}  ({state})", markup=False
        )
    return SweepResult(directory, planned, records=list(latest.values()))


def sweep_result(directory: Path, planned: list[PlannedRun], **outcome: Any) -> SweepResult:
    """The result of a sweep as its folder holds it now (``outcome``: what this process did)."""
    latest = {record.run_id: record for record in read_sweep(directory).newest()}
    records = [latest[item.run_id] for item in planned if item.run_id in latest]
    return SweepResult(directory, planned, records, **outcome)


def run_local_workers(
    config: Config, planned: list[PlannedRun], directory: Path, console: Console
) -> SweepResult:
    """``queue.workers_per_device`` > 1: start the workers (see ``spawn``), wait, then report."""
    import torch

    check_layout(config)
    preflight(config, planned, torch.device("cpu"), directory)  # models, folders: checked once, here
    prepare_directory(directory, config)
    slots = worker_slots(config.queue.workers_per_device)
    labels = ", ".join(label for label, _ in slots)
    console.print(f"starting {len(slots)} workers ({labels}) on {directory}")
    codes = run_processes(slots, run_worker, (config, planned, directory))
    if codes is None:
        console.print(
            "[yellow]interrupted:[/] the workers gave back their runs in progress; finished runs are kept "
            f"in {directory}. Rerun the same command to resume.",
            soft_wrap=True,
        )
        return sweep_result(directory, planned, interrupted=True)
    stopped = [code for code in codes if code in (EXIT_USAGE, EXIT_STORAGE)]
    if stopped:
        error = BcbenchError(
            f"a worker of {directory} stopped with an error (printed above); fix it and rerun"
        )
        error.exit_code = max(stopped)  # a storage failure's code wins: it says what to fix
        raise error
    if any(code not in (EXIT_OK, EXIT_RUN_FAILED) for code in codes):
        console.print(
            f"[yellow]note:[/] worker exit codes {codes}; what a worker left was taken by the others"
        )
    write_summary(directory, planned, console)
    return sweep_result(directory, planned, reported=True)


def run_worker(
    config: Config,
    planned: list[PlannedRun],
    directory: Path,
    console: Console,
    label: str = "",
    report: bool = True,
) -> SweepResult:
    """This process as one worker of the sweep (or one process of an ``accelerate launch``); the worker
    that completes the sweep writes the report (under Accelerate: the main process, at the end), unless
    ``report`` is off (a parent process reports instead)."""
    accelerator = make_accelerator()
    strategy = resolve_strategy(config.strategy, len(planned), accelerator.num_processes)
    main = accelerator.is_main_process
    # the other processes of a launch print their own runs' lines (no bars: one live display per terminal)
    process_console = console if main else Console(quiet=strategy == "ddp")
    warn = _warner(console if main else Console(stderr=True), label)
    plan = threads_for(config, accelerator.device, warn if main else None)
    if main and crop_warning(config.data):
        warn(crop_warning(config.data))
    if main and deploy_note(config):
        warn(deploy_note(config))
    preflight(config, planned, accelerator.device, directory)
    if main:
        prepare_directory(directory, config)
    worker_id = new_worker_id(label)
    label = label or ("" if main else f"process {accelerator.process_index}")
    with RichObserver(process_console, label, bars=main) as observer:
        executor = RunExecutor(
            config, accelerator, directory, observer, CostMeter(accelerator.device), strategy, worker_id
        )
        executor.thread_plan = plan
        executor.load_data(planned)  # decode before any training: bad data fails here, not per run
        try:
            outcome = _work(executor, planned, warn)
        except KeyboardInterrupt:
            process_console.print(
                "[yellow]interrupted:[/] the run in progress was abandoned and given back to the queue; "
                f"finished runs are kept in {directory}. Rerun the same command to resume.",
                soft_wrap=True,
            )
            return sweep_result(directory, planned, interrupted=True)
    accelerator.wait_for_everyone()
    written = [record.run_id for record in outcome.written]
    if main and report and (outcome.last or accelerator.num_processes > 1):
        write_summary(directory, planned, console)
        return sweep_result(directory, planned, written=written, reported=True)
    if main and report:
        console.print(
            f"this worker recorded {len(outcome.written)} run(s) in {directory}; the worker that finishes "
            "the last run writes the report (or: bench/compare.py on the folder)",
            soft_wrap=True,
        )
    return sweep_result(directory, planned, written=written)


def _work(executor: RunExecutor, planned: list[PlannedRun], warn: Callable[[str], None]) -> WorkerOutcome:
    """ddp: every process trains each pending run together; otherwise take runs from the queue."""
    accelerator = executor.accelerator
    if executor.strategy == "ddp":
        todo = executor.pending(planned)
        # every process must see the same pending list before any of them appends a record
        accelerator.wait_for_everyone()
        written = executor.run(todo, total=len(planned), done=len(planned) - len(todo))
        return WorkerOutcome(written, last=True)
    board = ClaimBoard(executor.directory, executor.worker_id, executor.config.queue, warn)
    worker = QueueWorker(executor, planned, board, expected_cost(executor.directory), warn)
    accelerator.wait_for_everyone()  # the processes of one launch start taking runs together
    return worker.run()


def threads_for(config: Config, device: Any, warn: Callable[[str], None] | None) -> ThreadPlan:
    """This worker's CPU threads (``bcbench.threads``), applied, with a warning on a busy machine."""
    plan = choose_threads(config.threads)
    apply_threads(plan)
    if warn is not None and plan.warning and getattr(device, "type", "cpu") == "cpu":
        warn(plan.warning)
    return plan


def _warner(console: Console, label: str) -> Callable[[str], None]:
    prefix = f"{label} " if label else ""
    return lambda message: console.print(f"[yellow]note:[/] {prefix}{escape(message)}", highlight=False)


def preflight(config: Config, planned: list[PlannedRun], device: Any, directory: Path) -> None:
    """Everything that can be checked before training: models, weights, precision, output folder."""
    import torch

    from bcbench.models import check_model

    checked = set()
    for item in planned:
        key = _model_key(item)
        if key not in checked:
            check_model(*key)
            checked.add(key)
        if (
            item.config.train.mixed_precision == "bf16"
            and device.type == "cuda"
            and not torch.cuda.is_bf16_supported()
        ):
            raise ConfigError(
                f"train.mixed_precision bf16 is not supported on {torch.cuda.get_device_name(device)}; "
                "use fp16 or no"
            )
    check_robustness(config)
    check_deploy(config)
    check_writable(directory)
    check_claims_folder(directory)


def _model_key(item: PlannedRun) -> tuple[str, str | None, int, bool]:
    options = item.config.options_for(item.spec.model)
    return item.spec.model, options.weights, item.config.data.image_size, options.small_input_stem


def check_data_root(config: Config) -> None:
    """The data root (and each external set) exists: the check a start makes before decoding."""
    locations = {
        "data.root": config.data.root,
        **{f"data.external.{k}": v for k, v in config.data.external.items()},
    }
    for key, location in locations.items():
        if location is not None and not Path(location).expanduser().exists():
            raise ConfigError(f"config key {key!r}: {location} does not exist; point it at your data")


def describe_data_root(config: Config) -> str:
    if config.data.root is None:
        return "the embedded synthetic data set (BUSI-like, written on first use)"
    return str(Path(config.data.root).expanduser())


def expected_cost(directory: Path) -> dict[str, float]:
    """Median wall seconds per model from earlier records: workers take the longest runs first."""
    import statistics

    seconds: dict[str, list[float]] = {}
    for record in read_sweep(directory).records:
        if record.wall_seconds:
            seconds.setdefault(str(record.model), []).append(float(record.wall_seconds))
    return {model: statistics.median(values) for model, values in seconds.items()}


def prepare_directory(directory: Path, config: Config) -> None:
    """Create the sweep folder and store the resolved config beside the records."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))


def write_summary(directory: Path, planned: list[PlannedRun], console: Console) -> None:
    """Write the report files and print the tables from the stored records; report failures.

    First ``runs.jsonl`` is made to hold every record of the sweep (the workers' shards merged), so
    scripts that read that one file keep working."""
    then = f"rerun the same command, or bcbench compare {directory}, to write the report (records are kept)"
    with storage_errors(directory, then):
        _write_summary(directory, planned, console)


def _write_summary(directory: Path, planned: list[PlannedRun], console: Console) -> None:
    from bcbench.report import write_report

    consolidate(directory)
    loaded = read_sweep(directory)
    for source, lines in loaded.bad.items():
        console.print(f"[yellow]warning:[/] ignored unreadable lines {lines} in {source}")
    latest = {record.run_id: record for record in loaded.newest()}
    records = [latest[p.run_id] for p in planned if p.run_id in latest]
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    if ok:
        write_report(directory, records, console)
    console.print(
        f"results: {directory} ({len(ok)} ok, {len(failed)} failed; report.md, summary.csv, {RUNS_FILE})"
    )
    if failed:
        console.print("[red]some runs failed; rerun the same command to retry them[/]")


def summarise_sweep(config: Config, directory: Path, console: Console) -> SweepResult:
    """The report of a sweep whose workers have all ended (the dependent job of ``bcbench submit``); its
    ``missing`` runs have no record because every worker ended early (submit again)."""
    planned = plan_runs(config)
    write_summary(directory, planned, console)
    result = sweep_result(directory, planned, reported=True)
    if result.missing:
        console.print(
            f"[red]{len(result.missing)} of {len(planned)} runs have no record (their workers ended early); "
            "submit the same command again to run them[/]"
        )
    return result
