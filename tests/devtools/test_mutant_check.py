"""devtools/mutant_check.py on a toy ``mutants/`` folder laid out as mutmut lays it out: a module whose
functions switch on ``MUTANT_UNDER_TEST``, its ``.meta`` results and a test that kills one mutant only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.mutant_check import mutant_names

REPO = Path(__file__).resolve().parents[2]

TOY_MODULE = """
import os


def add(a, b):
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if mutant == "bcbench.toy.x_add__mutmut_1":
        return a - b
    if mutant == "bcbench.toy.x_add__mutmut_2":
        return b + a
    if mutant == "bcbench.toy.x_add__mutmut_5":
        return a * b
    if mutant == "bcbench.toy.x_add__mutmut_6":
        while True:
            pass
    return a + b
"""

TOY_TEST = """
from bcbench.toy import add


def test_adds_two_numbers():
    assert add(2, 3) == 5
"""

RESULTS = {
    "bcbench.toy.x_add__mutmut_1": 0,  # survived mutmut's run; the test above kills it
    "bcbench.toy.x_add__mutmut_2": 0,  # survived: b + a is equivalent
    "bcbench.toy.x_add__mutmut_3": 1,  # killed by mutmut
    "bcbench.toy.x_add__mutmut_4": 33,  # no tests
    "bcbench.toy.x_other__mutmut_1": 0,
    "bcbench.toy.x_add__mutmut_5": None,  # not run yet (a stopped mutmut run)
    "bcbench.toy.x_add__mutmut_6": None,
    "bcbench.toy.x_other__mutmut_2": None,
}
SELECTION = {  # mutmut's statistics: which tests call each function, and how long each took
    "tests_by_mangled_function_name": {"bcbench.toy.x_add": ["tests/test_toy.py::test_adds_two_numbers"]},
    "duration_by_test": {"tests/test_toy.py::test_adds_two_numbers": 0.01},
}


def toy_mutants(root: Path) -> Path:
    mutants = root / "mutants"
    (mutants / "bcbench").mkdir(parents=True)
    (mutants / "tests").mkdir()
    (mutants / "bcbench" / "__init__.py").write_text("")
    (mutants / "bcbench" / "toy.py").write_text(TOY_MODULE)
    (mutants / "bcbench" / "toy.py.meta").write_text(json.dumps({"exit_code_by_key": RESULTS}))
    (mutants / "tests" / "test_toy.py").write_text(TOY_TEST)
    (mutants / "mutmut-stats.json").write_text(json.dumps(SELECTION))
    return mutants


def test_mutants_are_picked_by_recorded_result_and_name_pattern(tmp_path):
    mutants = toy_mutants(tmp_path)
    survivors_of_add = ["bcbench.toy.x_add__mutmut_1", "bcbench.toy.x_add__mutmut_2"]
    assert mutant_names(mutants, "survived", "bcbench.toy.x_add*") == survivors_of_add
    assert mutant_names(mutants, "survived", "*") == [*survivors_of_add, "bcbench.toy.x_other__mutmut_1"]
    assert mutant_names(mutants, "notests", "*") == ["bcbench.toy.x_add__mutmut_4"]
    assert mutant_names(mutants, "unrun", "*") == [
        "bcbench.toy.x_add__mutmut_5",
        "bcbench.toy.x_add__mutmut_6",
        "bcbench.toy.x_other__mutmut_2",
    ]
    assert len(mutant_names(mutants, "all", "*")) == 8
    listed = tmp_path / "shuffled.txt"  # a list keeps its own order; names without the status are left out
    listed.write_text(
        "bcbench.toy.x_other__mutmut_2\nbcbench.toy.x_add__mutmut_1\nbcbench.toy.x_add__mutmut_5\n"
    )
    assert mutant_names(mutants, "unrun", f"@{listed}") == [
        "bcbench.toy.x_other__mutmut_2",
        "bcbench.toy.x_add__mutmut_5",
    ]


def mutant_check(folder: Path, *args: str) -> list[str]:
    """The output lines of the tool run in ``folder`` (a 1 s limit per test)."""
    script = REPO / "devtools" / "mutant_check.py"
    env = {**os.environ, "MUTANT_CHECK_TIMEOUT": "1"}
    done = subprocess.run(
        [sys.executable, str(script), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.slow  # over 1 s: starts a Python process that runs pytest
def test_each_survivor_is_rerun_and_the_killing_test_is_named(tmp_path):
    toy_mutants(tmp_path)
    assert mutant_check(tmp_path, "survived", "bcbench.toy.x_add*", "tests/test_toy.py") == [
        "KILLED   bcbench.toy.x_add__mutmut_1 by tests/test_toy.py::test_adds_two_numbers",
        "SURVIVED bcbench.toy.x_add__mutmut_2",
        "1 killed of 2",
    ]


@pytest.mark.slow  # over 1 s: starts a Python process that runs pytest, and waits out a 1 s timeout
def test_unrun_mutants_get_the_tests_mutmut_selected_and_an_endless_loop_is_a_timeout(tmp_path):
    toy_mutants(tmp_path)
    test = "tests/test_toy.py::test_adds_two_numbers"
    assert mutant_check(tmp_path, "unrun", "*", "--selected") == [
        f"KILLED   bcbench.toy.x_add__mutmut_5 by {test}",
        f"KILLED   bcbench.toy.x_add__mutmut_6 by {test} (timeout)",
        "NOTESTS  bcbench.toy.x_other__mutmut_2",
        "2 killed of 3",
    ]
