"""bcbench.deploy imports and runs without onnx, onnxruntime and onnxscript: their absence is simulated by
blocking them in sys.modules; the ONNX forms then fail with one clear line and eager still runs."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import bcbench
from tests.deploy.helpers import tiny_cnn, uint8_images

OPTIONAL = ("onnx", "onnxruntime", "onnxscript")
DEPLOY = Path(bcbench.__file__).parent / "deploy"


def test_no_module_of_the_package_imports_them_at_top_level():
    for path in DEPLOY.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [name for name in names if name.split(".")[0] in OPTIONAL], f"{path.name}: {names}"


@pytest.fixture
def without_onnx(monkeypatch):
    """onnx, onnxruntime, onnxscript and their submodules unimportable; bcbench.deploy freshly imported."""
    for name in list(sys.modules):
        if name.split(".")[0] in OPTIONAL:
            monkeypatch.setitem(sys.modules, name, None)
    for name in OPTIONAL:
        monkeypatch.setitem(sys.modules, name, None)
    for name in [name for name in sys.modules if name.startswith("bcbench.deploy")]:
        monkeypatch.delitem(sys.modules, name)
    if hasattr(bcbench, "deploy"):
        monkeypatch.setattr(bcbench, "deploy", bcbench.deploy)  # restored afterwards
    with pytest.raises(ImportError):
        importlib.import_module("onnxruntime")
    return importlib.import_module("bcbench.deploy")


def test_onnx_forms_fail_with_one_line_and_eager_runs(without_onnx):
    deploy = without_onnx
    settings = deploy.DeploySettings(forms=("onnx", "onnx_int8", "onnx_cuda"), timing=False)
    images = uint8_images(4, seed=0)
    outcomes = deploy.evaluate_forms(tiny_cnn(), settings, {"test": images}, images, range(4))
    assert outcomes["eager"].result.ok and outcomes["eager"].probabilities["test"].shape == (4, 3)
    for name in ("onnx", "onnx_int8", "onnx_cuda"):
        reason = outcomes[name].result.reason
        assert outcomes[name].result.status == "failed"
        assert "onnx, onnxruntime, onnxscript not installed: deploy forms skipped" in reason, reason


def test_the_torchscript_exporter_asks_for_onnx_and_onnxruntime_only(without_onnx):
    deploy = without_onnx
    with pytest.raises(deploy.DeployError, match=r"^onnx, onnxruntime not installed: deploy forms skipped"):
        deploy.export_onnx(tiny_cnn(), "unused.onnx", 16, exporter="torchscript")
