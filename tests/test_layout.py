"""The house rules, checked with the standard library's ``ast``: small modules, small functions.

No module of bcbench/ or devtools/ over 400 lines, no function over 60 lines. ``ALLOWED`` may name
exceptions, but only ever shrinks: an entry that no longer needs its exception fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bcbench", "devtools")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ALLOWED: dict[str, int] = {}  # "path" or "path::function" -> its current size, while it is over


def python_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (REPO / package).rglob("*.py"))


def function_sizes(path: Path) -> dict[str, int]:
    """Lines of every function and method (decorators and docstring included), by qualified name."""
    sizes: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    sizes[name] = child.end_lineno - first + 1
                visit(child, f"{name}.")

    visit(ast.parse(path.read_text()), "")
    return sizes


def oversized() -> dict[str, int]:
    found = {}
    for path in python_files():
        relative = path.relative_to(REPO).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            found[relative] = lines
        for name, size in function_sizes(path).items():
            if size > MAX_FUNCTION_LINES:
                found[f"{relative}::{name}"] = size
    return found


def test_modules_and_functions_are_small():
    over = {key: size for key, size in oversized().items() if key not in ALLOWED}
    assert not over, f"over {MAX_MODULE_LINES} lines per module / {MAX_FUNCTION_LINES} per function: {over}"


def test_the_allow_list_only_shrinks():
    still_needed = oversized()
    stale = [key for key in ALLOWED if key not in still_needed]
    assert not stale, f"remove these from ALLOWED, they are within the limits now: {stale}"
    grown = {
        key: still_needed[key] for key in ALLOWED if key in still_needed and still_needed[key] > ALLOWED[key]
    }
    assert not grown, f"allowed exceptions may not grow: {grown}"


@pytest.mark.parametrize("source", ["x = 1\n" * 3, "def f():\n" + "    x = 1\n" * 70])
def test_the_size_check_sees_what_it_should(tmp_path, source):
    path = tmp_path / "module.py"
    path.write_text(source)
    sizes = function_sizes(path)
    assert sizes == ({} if source.startswith("x") else {"f": 71})
