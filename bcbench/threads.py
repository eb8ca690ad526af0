"""How many CPU threads a worker trains and times with, chosen on purpose and said out loud.

On a shared CPU, more intra-op threads than free cores is not a little slower but many times slower:
OpenMP threads spin waiting for each other while other processes hold the cores (measured on a 2-core
machine under load 4-8: one epoch 0.5 s with 1 thread, 21-25 s with 2; BENCHMARKS.md). So unless the user
decides (``threads`` in the config, or ``OMP_NUM_THREADS``), a worker takes the cores it may use
(``os.sched_getaffinity``) minus the work already on them (rounded, at least one), and says so when the
machine is busier than its cores. The work on them is the smaller of the 1-minute load average and the
CPUs busy right now (``/proc/stat`` over a tenth of a second): the load average alone lags, and still
counted a job that had just ended (an idle machine got 1 thread of 2 and ran the default job 37% slower,
BENCHMARKS.md), while a brief burst of another process shows in the instant sample only.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

THREADS_ENV = "OMP_NUM_THREADS"


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), or None where the platform has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def busy_cpus_now(window_seconds: float = 0.1) -> float | None:
    """CPUs busy over the next ``window_seconds`` (all CPUs' non-idle time from ``/proc/stat``), or None
    where there is no ``/proc/stat``."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(window_seconds)
    second = _cpu_times()
    if second is None:
        return None
    total = sum(second) - sum(first)
    idle = (second[3] + second[4]) - (first[3] + first[4])  # idle + iowait
    return available_cpus() * (total - idle) / total if total > 0 else 0.0


def _cpu_times() -> list[int] | None:
    """The aggregate ``cpu`` line of ``/proc/stat``: user, nice, system, idle, iowait, irq, softirq, steal."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    return [int(value) for value in fields[1:9]]


def busy_cpus(load: float | None, busy_now: float | None) -> float:
    """The work already on the CPUs: the smaller of the two signals that exist (0 when neither does)."""
    signals = [value for value in (load, busy_now) if value is not None]
    return min(signals) if signals else 0.0


@dataclass(frozen=True)
class ThreadPlan:
    """The threads a worker uses, why, and what the machine looked like when it chose."""

    threads: int
    cpus: int
    load: float | None
    source: str  # "config", "OMP_NUM_THREADS" or "free cores"
    warning: str = ""

    def record(self) -> dict[str, Any]:
        """The fields of a record's ``env`` block that describe this plan."""
        return {
            "threads": self.threads,
            "cpus_available": self.cpus,
            "load_start": self.load,
            "thread_source": self.source,
        }


def choose_threads(requested: int | None = None, environ: dict[str, str] | None = None) -> ThreadPlan:
    """The plan: ``requested`` (the config's ``threads``) if given, else ``OMP_NUM_THREADS`` if set, else
    the free cores (available CPUs minus the smaller of the 1-minute load and the CPUs busy now, rounded,
    at least 1)."""
    environ = os.environ if environ is None else environ
    cpus, load = available_cpus(), load_average()
    if requested is not None:
        return ThreadPlan(requested, cpus, load, "config", _busy_warning(requested, cpus, load))
    if environ.get(THREADS_ENV, "").strip().isdigit():
        threads = max(1, int(environ[THREADS_ENV]))
        return ThreadPlan(threads, cpus, load, THREADS_ENV, _busy_warning(threads, cpus, load))
    free = cpus - busy_cpus(load, busy_cpus_now())
    threads = max(1, min(cpus, math.floor(free + 0.5)))  # rounded: an idle machine shows a load near 0.1
    return ThreadPlan(threads, cpus, load, "free cores", _busy_warning(threads, cpus, load))


def _busy_warning(threads: int, cpus: int, load: float | None) -> str:
    """One line when the load leaves fewer free cores than the threads asked for ("" otherwise)."""
    if load is None or load + threads <= cpus + 0.5:
        return ""
    busy = f"load average {load:.1f} on {cpus} CPUs"
    if threads > 1:
        return (
            f"{busy}: {threads} threads on busy cores are many times slower than 1 and their timings noise; "
            "set threads=1 (or OMP_NUM_THREADS=1)"
        )
    return f"{busy}: other work shares these cores, so timings (latency, throughput, train seconds) are noisy"


def apply_threads(plan: ThreadPlan) -> None:
    """Set torch's intra-op threads to the plan's (imports torch)."""
    import torch

    if torch.get_num_threads() != plan.threads:
        torch.set_num_threads(plan.threads)
