"""How many CPU threads a worker trains and times with, chosen on purpose and said out loud.

On a shared CPU, more intra-op threads than free cores is not a little slower but many times slower:
OpenMP threads spin waiting for each other while other processes hold the cores (measured on a 2-core
machine under load 4-8: one epoch 0.5 s with 1 thread, 21-25 s with 2; BENCHMARKS.md). So unless the user
decides (``threads`` in the config, or ``OMP_NUM_THREADS``), a worker takes the cores it may use
(``os.sched_getaffinity``) minus the load already on them (rounded, at least one), and says so when the
machine is busier than its cores.
"""

from __future__ import annotations

import math
import os
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
    the free cores (available CPUs minus the 1-minute load, rounded, at least 1)."""
    environ = os.environ if environ is None else environ
    cpus, load = available_cpus(), load_average()
    if requested is not None:
        return ThreadPlan(requested, cpus, load, "config", _busy_warning(requested, cpus, load))
    if environ.get(THREADS_ENV, "").strip().isdigit():
        threads = max(1, int(environ[THREADS_ENV]))
        return ThreadPlan(threads, cpus, load, THREADS_ENV, _busy_warning(threads, cpus, load))
    free = cpus - (load or 0.0)
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
