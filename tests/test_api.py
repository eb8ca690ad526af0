"""The public API of ``bcbench/__init__.py``: every name resolves, and importing bcbench stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bcbench


@pytest.mark.parametrize("name", [name for name in bcbench.__all__ if name != "__version__"])
def test_every_public_name_resolves(name):
    assert callable(getattr(bcbench, name))


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
