"""The README's Python API example runs as written (in a fresh folder beside a link to the configs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO


def readme_python_example() -> str:
    """The first ```python block of the README's "Use it from Python" section."""
    section = (REPO / "README.md").read_text().split("## Use it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_example_uses_only_the_public_api():
    code = readme_python_example()
    calls = set(re.findall(r"bcbench\.(\w+)", code))
    import bcbench

    assert calls and calls <= set(bcbench.__all__)


@pytest.mark.slow
def test_the_python_api_example_runs_as_written(tmp_path):
    (tmp_path / "configs").symlink_to(REPO / "configs")
    script = tmp_path / "example.py"
    script.write_text(readme_python_example())
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},  # the session's synthetic cache
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 runs, 0 failed" in result.stdout and "simple_cnn" in result.stdout
    assert (tmp_path / "results" / "default" / "report.md").is_file()


def test_every_shipped_config_has_its_line_in_the_readme():
    section = (REPO / "README.md").read_text().split("### The shipped configs", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(configs/[\w.-]+\.yaml)` \| \S", section, re.M))
    shipped = {f"configs/{path.name}" for path in (REPO / "configs").glob("*.yaml")}
    assert listed == shipped
