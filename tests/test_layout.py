"""The house rules, checked with the standard library's ``ast``: small modules, small functions, imports
through package faces, a report that only renders.

No module of bcbench/ or devtools/ over 400 lines, no function over 60 lines. ``ALLOWED`` may name
exceptions, but only ever shrinks: an entry that no longer needs its exception fails the test (it is
checked against a planted oversized module, so it cannot pass vacuously).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

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


def allow_list_problems(allowed: dict[str, int], found: dict[str, int]) -> list[str]:
    """Entries of ``allowed`` that are no longer needed, or whose size grew."""
    stale = [f"{key} is within the limits now" for key in allowed if key not in found]
    grown = [f"{key} grew to {found[key]}" for key in allowed if key in found and found[key] > allowed[key]]
    return stale + grown


def test_the_allow_list_only_shrinks():
    assert not allow_list_problems(ALLOWED, oversized())
    planted = {"bcbench/x.py": 420, "bcbench/y.py::f": 70}
    assert allow_list_problems({"bcbench/x.py": 410, "bcbench/gone.py": 500}, planted) == [
        "bcbench/gone.py is within the limits now",
        "bcbench/x.py grew to 420",
    ]


def imports_past_a_face(path: Path) -> list[str]:
    """``from bcbench.<package>.<module> import ...`` of another package than the file's own."""
    parts = path.relative_to(REPO).parts
    own = parts[1] if parts[0] == "bcbench" and len(parts) > 2 else None
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bcbench."):
            package = node.module.split(".")
            if len(package) > 2 and package[1] != own:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module}")
    return found


def test_packages_import_each_other_through_their_faces():
    scripts = sorted((REPO / "bench").glob("*.py"))
    found = [hit for path in [*python_files(), *scripts] for hit in imports_past_a_face(path)]
    assert not found, "import from the package's __init__ instead: " + "; ".join(found)


def test_the_report_never_fits_or_resamples():
    """Every number is computed in bcbench.analysis: the report's code names none of these."""
    forbidden = ("fit_temperature", "torchmetrics", "bootstrap")
    found = []
    for path in sorted((REPO / "bcbench" / "report").rglob("*.py")):
        text = path.read_text()
        found += [f"{path.name}: {word}" for word in forbidden if word in text]
    assert not found


@pytest.mark.parametrize("source", ["x = 1\n" * 3, "def f():\n" + "    x = 1\n" * 70])
def test_the_size_check_sees_what_it_should(tmp_path, source):
    path = tmp_path / "module.py"
    path.write_text(source)
    sizes = function_sizes(path)
    assert sizes == ({} if source.startswith("x") else {"f": 71})
