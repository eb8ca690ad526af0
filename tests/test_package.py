"""What the wheel is built from: every package of bcbench/ is listed in pyproject.toml (the list is explicit
because configs/ is mapped into the package), one version, and the git commit ``--version`` reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import bcbench
import bcbench.env
from bcbench.cli import version_text
from tests.helpers import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_of_bcbench_is_in_the_wheel():
    found = {
        ".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "bcbench").rglob("__init__.py")
    }
    shipped_data = {"bcbench.configs", "bcbench.configs.splits"}  # the top-level configs/ folder
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    assert listed - shipped_data == found, "add the missing package to [tool.setuptools] packages"
    assert pyproject()["tool"]["setuptools"]["package-dir"] == {"bcbench.configs": "configs"}
    assert (REPO / "configs" / "splits" / "busi_paper_split.csv").is_file()


def test_the_package_and_its_metadata_state_one_version():
    assert pyproject()["project"]["version"] == bcbench.__version__


@pytest.fixture
def fresh_git_sha():
    bcbench.env.git_sha.cache_clear()
    yield bcbench.env.git_sha
    bcbench.env.git_sha.cache_clear()


def test_a_checkout_reports_its_head(fresh_git_sha):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO, check=True)
    assert fresh_git_sha() == head.stdout.strip()
    assert version_text() == f"bcbench {pyproject()['project']['version']} (git {head.stdout.strip()[:12]})"


class InstalledBcbench:
    """Stands in for ``importlib.metadata.distribution("bcbench")``: its files and its ``direct_url.json``."""

    def __init__(self, env_file: Path, direct_url: dict | None) -> None:
        self.env_file, self.direct_url = env_file, direct_url

    def locate_file(self, path: str) -> Path:
        assert path == "bcbench/env.py"
        return self.env_file

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self.direct_url is None else json.dumps(self.direct_url)


@pytest.mark.parametrize(
    ("direct_url", "same_files", "expected"),
    [
        (
            {"url": "https://host/bcbench.git", "vcs_info": {"vcs": "git", "commit_id": "0123abc"}},
            True,
            "0123abc",
        ),
        ({"url": "file:///src/bcbench", "dir_info": {}}, True, None),  # pip install . or a wheel file
        (None, True, None),  # installed from an index: no direct_url.json
        ({"url": "https://host/bcbench.git", "vcs_info": {"commit_id": "0123abc"}}, False, None),  # not ours
    ],
)
def test_an_installed_bcbench_reports_the_commit_pip_recorded(
    direct_url, same_files, expected, monkeypatch, tmp_path, fresh_git_sha
):
    env_file = Path(bcbench.env.__file__) if same_files else tmp_path / "bcbench" / "env.py"
    monkeypatch.setattr(bcbench.env, "_checkout_head", lambda: None)
    monkeypatch.setattr(
        bcbench.env.importlib.metadata, "distribution", lambda name: InstalledBcbench(env_file, direct_url)
    )
    assert fresh_git_sha() == expected
