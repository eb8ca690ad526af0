"""Sweeps: the plan of runs (``plan``), one run -> one record (``execute``), progress (``progress``),
the claims through which workers share a sweep folder (``queue``, ``identity``), the worker loop
(``worker``), several workers per device (``spawn``) and the orchestration behind ``bcbench run``
(``runner``)."""

from bcbench.sweep.execute import Sweep, describe_failure
from bcbench.sweep.plan import PlannedRun, make_run_id, plan_runs, shard
from bcbench.sweep.runner import run_sweep, summarise_sweep

__all__ = [
    "PlannedRun",
    "Sweep",
    "describe_failure",
    "make_run_id",
    "plan_runs",
    "run_sweep",
    "shard",
    "summarise_sweep",
]
