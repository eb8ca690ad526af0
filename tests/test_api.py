"""The public API of ``bcbench/__init__.py``: every name resolves, and importing bcbench stays cheap."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

import bcbench
from tests.helpers import REPO

HOMES = {  # the module that defines each public name
    "load_config": "bcbench.config.load",
    "build_data": "bcbench.data.build",
    "build_model": "bcbench.models.build",
    "measure_cost": "bcbench.cost.measure",
    "run_sweep": "bcbench.sweep.runner",
    "write_report": "bcbench.report.write",
    "load_sweep": "bcbench.analysis.load",
    "analyse": "bcbench.analysis.sweep",
    "RunRecord": "bcbench.record.schema",
    "SweepResult": "bcbench.sweep.runner",
}


def test_the_public_names_are_exactly_the_documented_ones():
    assert sorted(bcbench.__all__) == sorted([*HOMES, "__version__"])
    version = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert bcbench.__version__ == version.group(1)


@pytest.mark.parametrize("name", sorted(HOMES))
def test_every_public_name_is_the_object_defined_in_its_module(name):
    assert getattr(bcbench, name) is getattr(importlib.import_module(HOMES[name]), name)


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        bcbench.no_such_name  # noqa: B018


def test_importing_bcbench_does_not_import_torch():
    code = "import sys, bcbench; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_api_builds_data_and_a_model_and_measures_cost(make_image_folder, tmp_path):
    root = make_image_folder({"a": 6, "b": 6}, size=(20, 16))
    config = bcbench.load_config(None, [f"data.root={root}", "data.image_size=16", "data.test_fraction=0.34"])
    data = bcbench.build_data(config)
    model = bcbench.build_model("simple_cnn", len(data.classes), image_size=16)
    cost = bcbench.measure_cost(model, image_size=16, device="cpu", batch_sizes=(2,), iterations=2, warmup=1)
    assert data.classes == ["a", "b"] and sum(data.counts().values()) == 12
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.latency_ms["p50"] <= cost.latency_ms["p90"] <= cost.latency_ms["p99"]
