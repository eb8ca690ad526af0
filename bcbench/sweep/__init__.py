"""Sweeps: the plan of runs (``plan``), one run -> one record (``execute``: ``RunExecutor``), progress
(``progress``), the claims through which workers share a sweep folder (``queue``, ``identity``), the worker
loop (``worker``), several workers per device (``spawn``) and the orchestration behind ``bcbench run``
(``runner``: ``run_sweep`` returns a ``SweepResult``)."""

from bcbench.sweep.execute import RunExecutor, describe_failure
from bcbench.sweep.folder import choose_folder
from bcbench.sweep.plan import PlannedRun, make_run_id, plan_runs
from bcbench.sweep.runner import SweepResult, preflight, prepare_directory, run_sweep, summarise_sweep

__all__ = [
    "PlannedRun",
    "RunExecutor",
    "SweepResult",
    "choose_folder",
    "describe_failure",
    "make_run_id",
    "plan_runs",
    "preflight",
    "prepare_directory",
    "run_sweep",
    "summarise_sweep",
]
