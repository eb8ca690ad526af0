"""The runs bar's ETA comes from the mean pace of the runs finished since the worker started."""

from __future__ import annotations

from bcbench.sweep.progress import RunsEta


def test_the_eta_is_the_mean_pace_times_the_runs_left():
    now = [100.0]
    eta = RunsEta(clock=lambda: now[0])
    assert eta.text(2, 10) == "ETA -"  # 2 were done before this worker started: no pace yet
    now[0] += 600  # ten minutes later, 2 more runs done by any worker: 5 min a run, 6 runs left
    assert eta.text(4, 10) == "ETA 0:30:00"
    now[0] += 3 * 3600
    assert eta.text(10, 10) == ""


def test_slow_runs_still_get_an_eta():
    """Rich's speed window (30 s) never filled when every run took longer; the pace does not need it."""
    now = [0.0]
    eta = RunsEta(clock=lambda: now[0])
    eta.text(0, 3)
    now[0] += 1200  # one run in 20 minutes
    assert eta.text(1, 3) == "ETA 0:40:00"
