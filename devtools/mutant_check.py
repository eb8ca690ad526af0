"""Run chosen tests against chosen mutants of a finished (or stopped) ``mutmut run``, naming the test that
kills each: the quick way to confirm that a new test kills the survivors it was written for.

    python devtools/mutant_check.py survived 'bcbench.data.folds.*' tests/data/test_folds.py
    python devtools/mutant_check.py unrun 'bcbench.stats.*' --selected

Run it from the repository root after ``mutmut run`` (TESTING.md). ``status`` picks the mutants by their
recorded result: ``survived``, ``notests`` (no candidate test called the function when mutmut collected
its statistics), ``unrun`` (no result yet: a ``mutmut run`` that was stopped), or ``all``; the pattern is
an ``fnmatch`` glob over mutant names, or ``@<file>`` (a list of names, run in its order: a shuffled list
makes a stopped check a uniform sample). The tests run inside
``mutants/`` (copy changed test files there first) with ``MUTANT_UNDER_TEST`` set, as mutmut runs them,
but in one process: a test module is imported once, so edit tests between invocations, not during one.
``--selected`` instead of test paths runs, for each mutant, the tests mutmut selected for its function
(``mutants/mutmut-stats.json``), quickest first: a ``mutmut run`` without its per-mutant process start,
to finish a stopped one (``NOTESTS`` when no candidate test calls the function).
Each test gets ``MUTANT_CHECK_TIMEOUT`` seconds (default 30; pytest-timeout): a mutant that makes a loop
or a wait endless is reported as ``KILLED ... (timeout)``, as mutmut counts its timeouts.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

STATUS_CODES = {"survived": {0}, "notests": {33}, "unrun": {None}}
TEST_TIMEOUT = float(os.environ.get("MUTANT_CHECK_TIMEOUT", "30"))


def mutant_names(root: Path, status: str, pattern: str) -> list[str]:
    """The mutants of ``root``'s ``.meta`` files whose result matches ``status`` and name ``pattern``;
    ``@<file>`` as the pattern: the names listed in that file (one per line), in its order."""
    chosen = []
    for meta in sorted(root.glob("bcbench/**/*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if status == "all" or code in STATUS_CODES[status]:
                chosen.append(name)
    if pattern.startswith("@"):
        wanted = set(chosen)
        return [name for name in Path(pattern[1:]).read_text().split() if name in wanted]
    return [name for name in chosen if fnmatch.fnmatch(name, pattern)]


class FirstFailure:
    """A pytest plugin that remembers the node ids of the tests that failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            timed_out = "Timeout (>" in str(report.longrepr)
            self.failed.append(report.nodeid + (" (timeout)" if timed_out else ""))


def check(name: str, tests: list[str]) -> tuple[bool, str]:
    """(killed, the first failing test) of ``tests`` run against mutant ``name``."""
    os.environ["MUTANT_UNDER_TEST"] = name
    plugin = FirstFailure()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = pytest.main(
            ["-x", "-q", "-p", "no:cacheprovider", "--rootdir=.", f"--timeout={TEST_TIMEOUT:g}", *tests],
            plugins=[plugin],
        )
    return code == pytest.ExitCode.TESTS_FAILED, plugin.failed[0] if plugin.failed else ""


def selected_tests(root: Path) -> Callable[[str], list[str]]:
    """For a mutant name: the node ids mutmut selected for its function, quickest first."""
    stats = json.loads((root / "mutmut-stats.json").read_text())
    by_function, duration = stats["tests_by_mangled_function_name"], stats["duration_by_test"]

    def tests_of(name: str) -> list[str]:
        function = name.replace("__init__.", "").partition("__mutmut_")[0]
        return sorted(by_function.get(function, []), key=lambda test: (duration.get(test, 0.0), test))

    return tests_of


def main(argv: list[str]) -> int:
    status, pattern, tests = argv[0], argv[1], argv[2:]
    root = Path("mutants").resolve()
    names = mutant_names(root, status, pattern)
    os.environ["PY_IGNORE_IMPORTMISMATCH"] = "1"  # the test modules are mutants/'s copies
    os.chdir(root)
    sys.path.insert(0, str(root))
    tests_of = selected_tests(root) if tests == ["--selected"] else lambda name: tests
    killed = 0
    for name in names:
        chosen_tests = tests_of(name)
        if not chosen_tests:
            print(f"NOTESTS  {name}", flush=True)
            continue
        dead, by = check(name, chosen_tests)
        killed += dead
        print(f"KILLED   {name} by {by}" if dead else f"SURVIVED {name}", flush=True)
    print(f"{killed} killed of {len(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
