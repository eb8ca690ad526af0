"""The thread policy: the user's choice first, else the free cores; a warning when the machine is busy."""

from __future__ import annotations

import pytest

import bcbench.threads as threads
from bcbench.threads import choose_threads


@pytest.fixture
def machine(monkeypatch):
    """A machine with ``cpus`` CPUs under ``load`` (1-minute load average)."""

    def set_machine(cpus: int, load: float | None) -> None:
        monkeypatch.setattr(threads, "available_cpus", lambda: cpus)
        monkeypatch.setattr(threads, "load_average", lambda: load)

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
