"""Run chosen tests against chosen mutants of a finished (or stopped) ``mutmut run``, naming the test that
kills each: the quick way to confirm that a new test kills the survivors it was written for.

    python devtools/mutant_check.py survived 'bcbench.data.folds.*' tests/data/test_folds.py

Run it from the repository root after ``mutmut run`` (TESTING.md). ``status`` picks the mutants by their
recorded result: ``survived``, ``notests`` (no candidate test called the function when mutmut collected
its statistics), or ``all``; the pattern is an ``fnmatch`` glob over mutant names. The tests run inside
``mutants/`` (copy changed test files there first) with ``MUTANT_UNDER_TEST`` set, as mutmut runs them,
but in one process: a test module is imported once, so edit tests between invocations, not during one.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

STATUS_CODES = {"survived": {0}, "notests": {33}}


def mutant_names(root: Path, status: str, pattern: str) -> list[str]:
    """The mutants of ``root``'s ``.meta`` files whose result matches ``status`` and name ``pattern``."""
    names = []
    for meta in sorted(root.glob("bcbench/**/*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if (status == "all" or code in STATUS_CODES[status]) and fnmatch.fnmatch(name, pattern):
                names.append(name)
    return names


class FirstFailure:
    """A pytest plugin that remembers the node ids of the tests that failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed:
            self.failed.append(report.nodeid)


def check(name: str, tests: list[str]) -> tuple[bool, str]:
    """(killed, the first failing test) of ``tests`` run against mutant ``name``."""
    os.environ["MUTANT_UNDER_TEST"] = name
    plugin = FirstFailure()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--rootdir=.", *tests], plugins=[plugin])
    return code == pytest.ExitCode.TESTS_FAILED, plugin.failed[0] if plugin.failed else ""


def main(argv: list[str]) -> int:
    status, pattern, tests = argv[0], argv[1], argv[2:]
    root = Path("mutants").resolve()
    names = mutant_names(root, status, pattern)
    os.environ["PY_IGNORE_IMPORTMISMATCH"] = "1"  # the test modules are mutants/'s copies
    os.chdir(root)
    sys.path.insert(0, str(root))
    killed = 0
    for name in names:
        dead, by = check(name, tests)
        killed += dead
        print(f"KILLED   {name} by {by}" if dead else f"SURVIVED {name}", flush=True)
    print(f"{killed} killed of {len(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
