"""Orchestration behind `bcbench run`: plan, run this process's share, then summarise (main process)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console

from bcbench.atomic import write_atomic
from bcbench.config import Config, to_dict
from bcbench.cost import CostMeter
from bcbench.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, ConfigError
from bcbench.record.store import RUNS_FILE, read_sweep
from bcbench.sweep.execute import Sweep
from bcbench.sweep.plan import PlannedRun, plan_runs, shard, sweep_dir
from bcbench.sweep.progress import RichObserver


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


def run_sweep(
    config: Config, fresh: bool = False, dry_run: bool = False, console: Console | None = None
) -> int:
    """Run the sweep described by ``config``; the exit code says whether any run failed."""
    console = console or Console()
    planned = plan_runs(config)
    directory = sweep_dir(config, fresh)
    if dry_run:
        for item in planned:
            console.print(
                f"{item.run_id}  model={item.spec.model} seed={item.spec.seed} {item.spec.axes or ''}"
            )
        return EXIT_OK
    accelerator = make_accelerator()
    strategy = resolve_strategy(config.strategy, len(planned), accelerator.num_processes)
    main = accelerator.is_main_process
    process_console = console if main else Console(quiet=True)
    preflight(config, planned, accelerator.device, directory)
    if main:
        prepare_directory(directory, config)
    with RichObserver(process_console) as observer:
        sweep = Sweep(config, accelerator, directory, observer, CostMeter(accelerator.device), strategy)
        sweep.load_data(planned)  # decode before any training: bad data fails here, not per run
        todo = sweep.pending(planned)
        # every process must see the same pending list before any of them appends a record
        accelerator.wait_for_everyone()
        mine = (
            todo
            if strategy == "ddp"
            else shard(todo, accelerator.process_index, accelerator.num_processes, expected_cost(directory))
        )
        try:
            written = sweep.run(mine, total=len(planned), done=len(planned) - len(todo))
        except KeyboardInterrupt:
            process_console.print(
                f"[yellow]interrupted:[/] the run in progress was abandoned; finished runs are kept in "
                f"{directory / RUNS_FILE}. Rerun the same command to resume."
            )
            return EXIT_INTERRUPTED
    accelerator.wait_for_everyone()
    if not main:
        return EXIT_RUN_FAILED if any(not r.ok for r in written) else EXIT_OK
    return write_summary(directory, planned, console)


def preflight(config: Config, planned: list[PlannedRun], device: Any, directory: Path) -> None:
    """Everything that can be checked before training: models, weights, precision, output folder."""
    import torch

    from bcbench.models import check_model

    checked = set()
    for item in planned:
        key = (item.spec.model, item.spec.weights, item.config.data.image_size)
        if key not in checked:
            check_model(*key)
            checked.add(key)
        if (
            item.spec.train.mixed_precision == "bf16"
            and device.type == "cuda"
            and not torch.cuda.is_bf16_supported()
        ):
            raise ConfigError(
                f"train.mixed_precision bf16 is not supported on {torch.cuda.get_device_name(device)}; "
                "use fp16 or no"
            )
    check_writable(directory)


def check_writable(directory: Path) -> None:
    """Fail before training when the results folder cannot be written."""
    probe = directory / f".write-test-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"results folder {directory} cannot be written ({error.strerror or error}); "
            "set output_dir to a writable folder"
        ) from None


def expected_cost(directory: Path) -> dict[str, float]:
    """Median wall seconds per model from earlier records, to balance processes by work."""
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


def write_summary(directory: Path, planned: list[PlannedRun], console: Console) -> int:
    """Write the report files and print the tables from the stored records; report failures."""
    from bcbench.report import write_report

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
        return EXIT_RUN_FAILED
    return EXIT_OK
