"""``bcbench submit``: a sweep as N queue workers in a SLURM job array (through submitit), plus a job that
writes the report once they have all ended; ``--local`` runs the same tasks as local processes.

Each task is what ``bcbench run`` is: a worker of the sweep folder's queue, so tasks may start late,
die or be preempted (their claim is given back, or goes stale) and the others finish the sweep;
submitting again adds workers to a running sweep. submitit is imported only here: the machines that
only train do not need it.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import Any

from rich.console import Console

from bcbench.cli.common import add_config_arguments, add_sweep_flags, guarded, interrupt, make_console
from bcbench.config import Config
from bcbench.errors import EXIT_INTERRUPTED, EXIT_OK, BcbenchError, ConfigError


class WorkerTask:
    """One array task: a worker of the sweep's queue. Picklable: submitit runs it on a node."""

    def __init__(self, config: Config, directory: Path) -> None:
        self.config, self.directory = config, directory

    def __call__(self) -> int:
        from bcbench.sweep import run_sweep

        # submitit ignores SIGTERM (it waits for its own USR2); a cancelled or preempted task must give
        # its run back at once, which the worker does when interrupted
        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGINT, interrupt)
        keep_working_when_not_requeued()
        # a full disk or a bad config ends the task with one line in its log, as it ends bcbench run
        return guarded(
            lambda: run_sweep(self.config, directory=self.directory, console=make_console()).exit_code, False
        )

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on its time-limit/preemption signal: requeue the same worker. The claim
        it holds is released as the task exits (the run restarts on whichever worker takes it)."""
        import submitit

        return submitit.helpers.DelayedSubmission(WorkerTask(self.config, self.directory))


def keep_working_when_not_requeued() -> None:
    """submitit's time-limit handler (USR2) raises UncompletedJobError when it will not requeue the task
    (requeued too often already): raised inside training, that error became a failed record of the run in
    progress. Swallowed instead, the worker carries on until SLURM's SIGTERM at the limit gives the run
    back (a requeue, the other path, exits with SystemExit, which gives the run back too)."""
    number = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
    submitit_handler = signal.getsignal(number) if number is not None else None
    if not callable(submitit_handler):
        return

    def on_time_limit(signum: int, frame: Any) -> None:
        try:
            submitit_handler(signum, frame)
        except Exception as error:  # not requeued: say so and carry on
            make_console().print(f"[yellow]note:[/] not requeued ({error}); working on until the time limit")

    signal.signal(number, on_time_limit)


class SummaryTask:
    """The dependent job: the report of the sweep once every worker task has ended."""

    def __init__(self, config: Config, directory: Path) -> None:
        self.config, self.directory = config, directory

    def __call__(self) -> int:
        from bcbench.sweep import summarise_sweep

        return guarded(lambda: summarise_sweep(self.config, self.directory, make_console()).exit_code, False)


SUBMIT = (
    "Run a sweep as N queue workers in a SLURM job array (submitit), then a job that writes the report; "
    "--local runs the workers as local processes instead."
)
SUBMIT_EPILOG = (
    "Overrides are dotted keys, as for bcbench run. The sweep folder (output_dir) must be on a file system "
    "that every node sees."
)


def add_submit_parser(commands: Any) -> None:
    summary = "run a sweep as a SLURM job array (or --local processes)"
    parser = commands.add_parser("submit", help=summary, description=SUBMIT, epilog=SUBMIT_EPILOG)
    add_config_arguments(parser)
    parser.add_argument("--workers", "-n", type=int, default=4, help="worker tasks in the array (default 4)")
    parser.add_argument("--partition", help="SLURM partition")
    parser.add_argument("--account", help="SLURM account")
    parser.add_argument("--gpus-per-task", type=int, default=0, help="GPUs per worker task (default 0)")
    parser.add_argument("--cpus-per-task", type=int, help="CPU cores per worker task")
    parser.add_argument("--time", default="4:00:00", help="time limit per task: minutes or [D-]H:MM:SS")
    parser.add_argument("--local", action="store_true", help="run the tasks here (submitit LocalExecutor)")
    parser.add_argument("--logs", type=Path, help="submitit's folder for logs (default: <sweep>/submitit)")
    add_sweep_flags(parser)
    parser.set_defaults(handler=lambda args: guarded(lambda: _submit(args), debug=args.debug))


def _submit(args: argparse.Namespace) -> int:
    import torch

    from bcbench.cli.commands import default_config_path
    from bcbench.config import load_config
    from bcbench.sweep import choose_folder, plan_runs, preflight, prepare_directory

    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: submit at least 1 worker")
    minutes = parse_minutes(args.time)
    config = load_config(args.config or default_config_path(), [*args.overrides, *args.set])
    planned = plan_runs(config)
    directory, note = choose_folder(config, args.fresh)
    if note:
        print(f"note: {note}")
    preflight(config, planned, torch.device("cpu"), directory)  # bad models or folders: before queueing
    prepare_directory(directory, config)
    console = make_console()
    executor = make_executor(args, args.logs or directory / "submitit", minutes)
    with executor.batch():
        jobs = [executor.submit(WorkerTask(config, directory)) for _ in range(args.workers)]
    console.print(f"submitted {len(jobs)} workers for the {len(planned)} runs of {directory}", soft_wrap=True)
    if args.local:
        return _wait_locally(jobs, config, directory, console)
    array = str(jobs[0].job_id).split("_")[0]
    summary = make_executor(args, args.logs or directory / "submitit", 30, summary_after=array)
    job = summary.submit(SummaryTask(config, directory))
    console.print(
        f"array job {array} ({len(jobs)} tasks); report job {job.job_id} runs after it (afterany). "
        f"Watch: squeue -j {array},{job.job_id}; add workers: run the same command again",
        soft_wrap=True,
    )
    return EXIT_OK


def make_executor(args: argparse.Namespace, folder: Path, minutes: int, summary_after: str = "") -> Any:
    """A submitit executor for the worker tasks, or (``summary_after``: the array's job id) for the
    report job, which waits for the array and needs no GPU."""
    try:
        import submitit
    except ImportError:
        raise BcbenchError("bcbench submit needs submitit: pip install submitit") from None
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster="local" if args.local else "slurm")
    except RuntimeError as error:  # no srun on this machine
        raise BcbenchError(f"cannot submit to SLURM here ({error}); --local runs the workers here") from None
    parameters: dict[str, Any] = {"name": "bcbench", "timeout_min": minutes, "nodes": 1, "tasks_per_node": 1}
    if args.cpus_per_task:
        parameters["cpus_per_task"] = args.cpus_per_task
    if summary_after:
        parameters.update(name="bcbench-report", slurm_dependency=f"afterany:{summary_after}")
    elif args.gpus_per_task:
        parameters["gpus_per_node"] = args.gpus_per_task  # one task per job: per node = per task
    if not args.local:
        parameters.update(
            {f"slurm_{key}": getattr(args, key) for key in ("partition", "account") if getattr(args, key)}
        )
        if not summary_after:
            parameters["slurm_array_parallelism"] = args.workers
            parameters["slurm_signal_delay_s"] = signal_delay_seconds(minutes)
    executor.update_parameters(**parameters)
    return executor


def signal_delay_seconds(minutes: int) -> int:
    """How long before its time limit a worker task is told to requeue itself (submitit's USR2). A worker
    gives its run back in about a second; SLURM sends the signal at its next check (every 30 s) once
    the time left is under delay + 30 s. submitit's default, 90 s, would signal a task of 1 or 2 minutes
    at its first check, before it trains anything, every time it starts."""
    return max(5, min(90, minutes * 60 // 10))


def _wait_locally(jobs: list, config: Config, directory: Path, console: Console) -> int:
    """--local: wait for the worker processes, then write the report here."""
    from bcbench.sweep import summarise_sweep

    signal.signal(signal.SIGTERM, interrupt)
    try:
        for job in jobs:
            try:
                job.result()
            except Exception as error:  # submitit re-raises a task's failure: the others carry on
                first = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
                console.print(
                    f"[yellow]note:[/] worker {job.job_id} failed: {first} (log: {job.paths.stderr})"
                )
    except KeyboardInterrupt:
        for job in jobs:
            job.cancel(check=False)
        console.print(
            f"[yellow]interrupted:[/] workers stopped; rerun the same command to resume {directory}"
        )
        return EXIT_INTERRUPTED
    return summarise_sweep(config, directory, console).exit_code


def parse_minutes(text: str) -> int:
    """SLURM's time formats as whole minutes: 90, 30:00 (M:SS), 1:30:00, 2-00:00:00, 2-12."""
    try:
        days, _, clock = text.rpartition("-")
        parts = [int(part) for part in clock.split(":")]
        if days and len(parts) == 1:
            parts = [parts[0], 0, 0]  # D-H
        if len(parts) == 1:
            parts = [0, parts[0], 0]
        elif len(parts) == 2:
            parts = [0, *parts] if not days else [*parts, 0]  # M:SS, or D-H:MM
        hours, minutes, seconds = parts
        total = int(days or 0) * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    except ValueError:
        total = 0
    if total <= 0:
        raise ConfigError(
            f"--time {text!r} is not a time limit: use minutes (90), H:MM:SS (1:30:00) or D-HH:MM:SS"
        )
    return total
