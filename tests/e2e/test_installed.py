"""bcbench installed as a package (``pip install .``, not editable) runs from any working directory: the
README's "Installed as a package" lines, run as written in a fresh virtual environment.

The environment sits inside a project of its own (a git repository that is not bcbench's), so neither the
checkout's folders nor its commit can leak in. Two deviations from a user's install, both for speed and
the offline machine: pip gets ``--no-deps`` and the environment sees the test interpreter's packages
(torch, ...) through a ``.pth`` file; bcbench itself comes only from the wheel pip builds from a copy
of the checkout (a copy, so the build writes nothing into the checkout). ``/data/busi`` becomes a folder
of random images named like BUSI's, every file of the shipped split. Under CI (``CI=true``) anything that
stops the test from running fails it instead of skipping it.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.helpers import REPO

pytestmark = pytest.mark.slow
tomllib = pytest.importorskip("tomllib")  # Python 3.11+

WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "bcbench", "configs")  # what the build reads
README_DATA_ROOT = "/data/busi"
SPLIT = REPO / "configs" / "splits" / "busi_paper_split.csv"


def readme_install_lines() -> list[list[str]]:
    """The commands of the README's "Installed as a package" block, one token list per line."""
    section = (REPO / "README.md").read_text().split("### Installed as a package", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [tokens for line in block.splitlines() if (tokens := shlex.split(line, comments=True))]


def cannot_run(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI must run the installed-package test, but: {reason}")
    pytest.skip(f"cannot test an installed bcbench here: {reason}")


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"{shlex.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    )
    return result


def shipped_split() -> dict[str, str]:
    """relpath -> split of the study's split file, read here with the csv module."""
    lines = [line for line in SPLIT.read_text().splitlines() if not line.startswith("#")]
    return {row["path"]: row["split"] for row in csv.DictReader(lines)}


def busi_named_folder(root: Path) -> Path:
    """Tiny random grey images at every path of the shipped split (BUSI's own file names)."""
    rng = np.random.default_rng(0)
    for relpath in shipped_split():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(12, 16), dtype=np.uint8)).save(path)
    return root


def fresh_environment(project: Path) -> Path:
    """A virtual environment in ``project`` (a git repository of its own) that sees this interpreter's
    packages but not bcbench's checkout; its python."""
    if shutil.which("git") is None:
        cannot_run("git is not installed")
    project.mkdir()
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    run([*git, "init", "-q"], project)
    run([*git, "commit", "-q", "--allow-empty", "-m", "someone else's project"], project)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", project / ".venv"], check=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as error:
        cannot_run(f"python -m venv failed: {error}")
    python = project / ".venv" / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], project)
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site.stdout.strip()) / "test-dependencies.pth").write_text("\n".join(ours) + "\n")
    return python


def checkout_copy(destination: Path) -> Path:
    for name in WHEEL_SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


class ReadmeSession:
    """Runs the README's lines one by one: ``pip install .`` in the checkout copy, ``cd`` to a fresh
    folder, ``bcbench ...`` there with the environment's entry point."""

    def __init__(self, tmp_path: Path) -> None:
        self.python = fresh_environment(tmp_path / "project")
        self.source = checkout_copy(tmp_path / "checkout")
        self.data_root = busi_named_folder(tmp_path / "busi")
        self.anywhere = tmp_path / "anywhere"
        self.cwd = self.source
        self.outputs: list[str] = []
        self.env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        self.env["OMP_NUM_THREADS"] = "1"

    def line(self, tokens: list[str]) -> None:
        started = time.perf_counter()
        self._run_line(tokens)
        print(f"{time.perf_counter() - started:6.1f} s  {shlex.join(tokens)}")  # shown when the test fails

    def _run_line(self, tokens: list[str]) -> None:
        if tokens == ["pip", "install", "."]:
            pip = [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(self.python),
                "install",
                "--no-deps",
                "-q",
                ".",
            ]
            run(pip, self.cwd, self.env)
        elif tokens[0] == "cd":
            self.anywhere.mkdir()
            self.cwd = self.anywhere
        elif tokens[0] == "bcbench":
            if tokens[1] == "compare":  # what compare must rebuild
                (self.cwd / tokens[2] / "report.md").unlink()
            args = [token.replace(README_DATA_ROOT, str(self.data_root)) for token in tokens[1:]]
            result = run([str(self.python.parent / "bcbench"), *args], self.cwd, self.env)
            self.outputs.append(result.stdout)
        else:
            raise AssertionError(f"the test does not know how to run the README line {shlex.join(tokens)!r}")


def test_the_readme_install_lines_run_from_another_folder(tmp_path):
    lines = readme_install_lines()
    assert [tokens[:2] for tokens in lines][:3] == [
        ["pip", "install"],
        ["cd", "$(mktemp -d)"],
        ["bcbench", "--version"],
    ]
    session = ReadmeSession(tmp_path)
    for tokens in lines:
        session.line(tokens)
    where = run(
        [str(session.python), "-c", "import bcbench; print(bcbench.__file__)"], session.anywhere, session.env
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "project" / ".venv")  # not the checkout
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert session.outputs[0].strip() == f"bcbench {version}"  # installed from a folder: no commit is known
    assert_default_job_ran(session.anywhere / "results" / "default")
    assert_study_ran_on_the_shipped_split(session.anywhere / "results" / "study")
    assert_wheel_metadata(tmp_path / "project" / ".venv", version)


def assert_default_job_ran(folder: Path) -> None:
    """The run read the shipped default.yaml (40 px, no schedule; built-in defaults: 64 px, StepLR)."""
    shipped = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    stored = yaml.safe_load((folder / "config.yaml").read_text())
    assert stored["data"]["image_size"] == shipped["data"]["image_size"]
    assert stored["train"]["scheduler"] == shipped["train"]["scheduler"]
    assert '"status": "ok"' in (folder / "runs.jsonl").read_text()
    assert (folder / "report.md").is_file()


def assert_study_ran_on_the_shipped_split(folder: Path) -> None:
    """The run's val and test images are exactly the shipped split file's (563/100/117 in the study)."""
    split = shipped_split()
    predictions = next((folder / "predictions").glob("*.csv"))
    with predictions.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for name in ("val", "test"):
        assert {row["path"] for row in rows if row["set"] == name} == {
            p for p, s in split.items() if s == name
        }
    counts = {name: sum(s == name for s in split.values()) for name in ("train", "val", "test")}
    assert counts == {"train": 563, "val": 100, "test": 117}  # the published split
    assert f'"n_train": {counts["train"]}' in (folder / "runs.jsonl").read_text()


def assert_wheel_metadata(venv: Path, version: str) -> None:
    """The installed METADATA (the wheel's) states the licence and the Python requirement."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (info,) = venv.glob(f"lib/python*/site-packages/bcbench-{version}.dist-info")
    metadata = (info / "METADATA").read_text().split("\n\n", 1)[0].splitlines()
    assert f"License-Expression: {project['license']}" in metadata
    assert f"Requires-Python: {project['requires-python']}" in metadata
    assert "License-File: LICENSE" in metadata
    assert (info / "licenses" / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    shipped = info.parent / "bcbench" / "configs"
    assert sorted(path.name for path in shipped.glob("*.yaml")) == sorted(
        p.name for p in (REPO / "configs").glob("*.yaml")
    )
    assert (shipped / "splits" / SPLIT.name).read_bytes() == SPLIT.read_bytes()
