"""The thread policy: the user's choice first, else the free cores; a warning when the machine is busy."""

from __future__ import annotations

import pytest

import bcbench.threads as threads
from bcbench.threads import choose_threads


@pytest.fixture
def machine(monkeypatch):
    """A machine with ``cpus`` CPUs under ``load`` (1-minute load average)."""

    def set_machine(cpus: int, load: float | None, busy_now: float | None = None) -> None:
        monkeypatch.setattr(threads, "available_cpus", lambda: cpus)
        monkeypatch.setattr(threads, "load_average", lambda: load)
        monkeypatch.setattr(threads, "busy_cpus_now", lambda: busy_now)

    return set_machine


@pytest.mark.parametrize(
    ("cpus", "load", "expected"),
    [(2, 0.1, 2), (2, 1.2, 1), (2, 0.6, 1), (2, 6.0, 1), (8, 2.4, 6), (4, None, 4)],
)
def test_the_free_cores_are_the_cpus_minus_the_load_rounded(machine, cpus, load, expected):
    machine(cpus, load)
    plan = choose_threads(None, environ={})
    assert (plan.threads, plan.source, plan.cpus, plan.load) == (expected, "free cores", cpus, load)


def test_the_config_then_omp_num_threads_decide_before_the_load(machine):
    machine(2, 0.0)
    assert choose_threads(3, environ={"OMP_NUM_THREADS": "1"}).threads == 3
    plan = choose_threads(None, environ={"OMP_NUM_THREADS": "1"})
    assert (plan.threads, plan.source) == (1, "OMP_NUM_THREADS")


def test_a_busy_machine_is_said_in_one_line(machine):
    machine(2, 5.0)
    two = choose_threads(2, environ={})
    assert (
        "set threads=1" in two.warning
        and "\n" not in two.warning
        and "load average 5.0 on 2 CPUs" in two.warning
    )
    assert "timings" in choose_threads(None, environ={}).warning  # even 1 thread: the timings are noisy
    machine(2, 0.3)
    assert choose_threads(None, environ={}).warning == ""


def test_the_plan_goes_into_the_record(machine):
    machine(4, 1.0)
    assert choose_threads(None, environ={}).record() == {
        "threads": 3,
        "cpus_available": 4,
        "load_start": 1.0,
        "thread_source": "free cores",
    }


@pytest.mark.parametrize(
    ("load", "busy_now", "expected"),
    [(1.9, 0.1, 2), (1.2, 1.0, 1), (0.1, 1.8, 2), (None, 1.1, 1), (3.0, None, 1)],
)
def test_the_work_on_the_cpus_is_the_smaller_signal(machine, load, busy_now, expected):
    """A load average still counting a job that just ended (1.9 while the CPUs are idle now) leaves both
    cores free; a process burning a core shows in both signals; a burst shows in the instant sample only."""
    machine(2, load, busy_now)
    assert choose_threads(None, environ={}).threads == expected


def test_busy_cpus_now_is_the_non_idle_share_of_two_proc_stat_samples(monkeypatch):
    samples = iter([[100, 0, 50, 800, 50, 0, 0, 0], [200, 0, 100, 850, 50, 0, 0, 0]])
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    # 200 jiffies passed, 50 of them idle: 3/4 of 2 CPUs busy
    assert threads.busy_cpus_now() == pytest.approx(1.5)


def test_busy_cpus_now_reads_this_machine(monkeypatch):
    busy = threads.busy_cpus_now(0.05)
    if busy is None:
        pytest.skip("no /proc/stat on this platform")
    assert 0.0 <= busy <= threads.available_cpus() + 1e-9
    monkeypatch.setattr(threads, "_cpu_times", lambda: None)
    assert threads.busy_cpus_now(0.0) is None
