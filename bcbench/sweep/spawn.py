"""``queue.workers_per_device: K``: K worker processes per visible GPU (each pinned to its GPU), or K
processes sharing the CPU cores, so that small runs fill a large device.

The workers are ordinary queue workers of the sweep folder, started with ``multiprocessing`` (spawn:
a fresh interpreter that sees only its own GPU); the parent waits, passes on SIGINT/SIGTERM, and
writes the report once they are done. Spawned processes receive the resolved config itself, so this
works the same from ``bench/run.py``, the ``bcbench`` command, a submitit task or Python.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Any

from rich.console import Console

from bcbench.config import Config
from bcbench.errors import ConfigError

# set in the worker processes started here (and visible to anything they run)
WORKER_SLOT_ENV = "BCBENCH_WORKER_SLOT"


def worker_slots(workers_per_device: int) -> list[tuple[str, dict[str, str]]]:
    """(label, environment) of each worker process: K per visible GPU, else K on the CPU, with the
    cores split evenly between them (torch and OpenMP threads)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        threads = str(max(1, cores // (workers_per_device * len(gpus))))
        return [
            (f"gpu{gpu}.{k}", {"CUDA_VISIBLE_DEVICES": gpu, "OMP_NUM_THREADS": threads})
            for gpu in gpus
            for k in range(workers_per_device)
        ]
    threads = str(max(1, min(cores, torch.get_num_threads()) // workers_per_device))
    return [(f"cpu.{k}", {"OMP_NUM_THREADS": threads}) for k in range(workers_per_device)]


def run_processes(
    slots: list[tuple[str, dict[str, str]]], target: Callable[..., Any], args: tuple
) -> list | None:
    """Run ``target(*args, console, label=label, report=False)`` (returning an object with ``exit_code``)
    in one spawned process per slot and wait for them all; their exit codes, or None when interrupted
    (the workers are stopped first)."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_main, args=(target, args, label, env), name=label)
        for label, env in slots
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        _stop(processes)
        return None
    return [process.exitcode for process in processes]


def check_layout(config: Config) -> None:
    """Several workers per device come from this process alone: not under a distributed launch, not ddp."""
    key = "queue.workers_per_device"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            f"config key {key!r} > 1 starts its own worker processes: run bench/run.py directly, "
            "without accelerate launch or torchrun (or set it to 1)"
        )
    if config.strategy == "ddp":
        raise ConfigError(
            f"config key {key!r} > 1 shares devices between runs; it needs strategy grid or auto"
        )


def _stop(processes: list) -> None:
    """Pass the interruption on (a terminal's Ctrl-C reached them already; a scheduler's SIGTERM did not)
    and wait for the workers to give back their claims."""
    for process in processes:
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(timeout=60)


def _worker_main(target: Callable[..., Any], args: tuple, label: str, env: dict[str, str]) -> None:
    """Entry point of one worker process: pin it to its device and threads, then run the worker."""
    import sys

    os.environ.update(env)  # before CUDA is first used in this process
    os.environ[WORKER_SLOT_ENV] = label
    import torch

    from bcbench.errors import BcbenchError, quiet_storage_threads, storage_failure

    torch.set_num_threads(int(env["OMP_NUM_THREADS"]))

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    console = Console(width=200, force_terminal=False)  # one live display per terminal: the parent's
    try:
        with quiet_storage_threads():
            code = target(*args, console, label=label, report=False).exit_code
    except Exception as error:
        failure = error if isinstance(error, BcbenchError) else storage_failure(error)
        if failure is None:
            raise
        print(f"error: {label}: {failure}", file=sys.stderr)
        code = failure.exit_code
    sys.exit(code)
