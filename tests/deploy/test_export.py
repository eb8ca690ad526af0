"""ONNX export: the file runs in ONNX Runtime (called directly here) with eager's logits at any batch size,
records its opset, exporter and size; models that cannot be exported fail with one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bcbench.deploy import DeployError, export_onnx
from bcbench.deploy.export import one_line_reason, state_dict_size_mb
from bcbench.models import build_model
from tests.deploy.helpers import (
    SIZE,
    BranchNet,
    EigenvalueNet,
    eager_logits,
    normalized_by_hand,
    tiny_cnn,
    uint8_images,
)
from tests.helpers import assert_one_line_error

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run_onnx(path, images: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": normalized_by_hand(images).numpy()})[0].astype(np.float64)


def test_torchscript_export_matches_eager_at_every_batch_size(tmp_path):
    model = tiny_cnn()
    exported = export_onnx(model, tmp_path / "tiny.onnx", SIZE, exporter="torchscript")
    for count in (1, 5):  # the example batch was 2: the batch axis is dynamic
        images = uint8_images(count, seed=count)
        assert np.abs(run_onnx(exported.path, images) - eager_logits(model, images)).max() <= 1e-4
    proto = onnx.load(str(exported.path))
    assert exported.opset == next(entry.version for entry in proto.opset_import if entry.domain == "")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not a number
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    assert metadata["bcbench.exporter"] == "torchscript" and metadata["bcbench.normalize"].startswith(
        "imagenet"
    )
    assert exported.size_mb == pytest.approx(exported.path.stat().st_size / 2**20)
    assert exported.exporter == "torchscript" and exported.seconds > 0 and not exported.external_data


def test_export_leaves_the_model_as_it_was(tmp_path):
    model = tiny_cnn().train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    export_onnx(model, tmp_path / "tiny.onnx", SIZE, exporter="torchscript")
    assert model.training
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_an_op_onnx_lacks_fails_with_one_line_naming_it(tmp_path):
    with pytest.raises(DeployError) as error:
        export_onnx(EigenvalueNet(), tmp_path / "eig.onnx", 4, exporter="torchscript")
    assert_one_line_error(error, "ONNX export (torchscript) failed", "linalg_eigvalsh")


def test_one_line_reason_reads_the_exporters_exception_summary():
    message = (
        "Failed to export the model with torch.export. \x1b[96mThis is step 1/3\x1b[0m of exporting.\n"
        "- Modify the model code\n## Exception summary\n\n"
        "<class 'torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode'>: Could not guard "
        "on data-dependent expression Eq(u0, 1)\nconsider using ...\n"
    )
    reason = one_line_reason(RuntimeError(message))
    assert reason == "GuardOnDataDependentSymNode: Could not guard on data-dependent expression Eq(u0, 1)"
    assert one_line_reason(ValueError("x" * 500)).endswith("...")
    assert len(one_line_reason(ValueError("x" * 500))) == 300
    assert one_line_reason(KeyError()) == "KeyError"


def test_eager_size_is_the_saved_state_dict(tmp_path):
    model = tiny_cnn()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    assert state_dict_size_mb(model) == pytest.approx((tmp_path / "weights.pt").stat().st_size / 2**20)


@pytest.mark.slow  # the dynamo exporter takes 2-5 s per model
def test_dynamo_refuses_data_dependent_control_flow_that_torchscript_bakes_in(tmp_path):
    with pytest.raises(DeployError) as error:
        export_onnx(BranchNet(), tmp_path / "branch.onnx", 4, exporter="dynamo")
    assert_one_line_error(error, "ONNX export (dynamo) failed", "data-dependent")
    model = BranchNet().eval()
    traced = export_onnx(model, tmp_path / "traced.onnx", 4, exporter="torchscript")
    bright, dark = (
        torch.full((1, 3, 4, 4), 255, dtype=torch.uint8),
        torch.zeros(1, 3, 4, 4, dtype=torch.uint8),
    )
    bright_diff = np.abs(run_onnx(traced.path, bright) - eager_logits(model, bright)).max()
    dark_diff = np.abs(run_onnx(traced.path, dark) - eager_logits(model, dark)).max()
    assert min(bright_diff, dark_diff) <= 1e-6 < max(bright_diff, dark_diff)  # one branch is wrong


@pytest.mark.slow  # the dynamo exporter on three study models: about 40 s (bench/deploy.py runs all five)
@pytest.mark.parametrize("name", ["study_mobilenet", "mobilenet_v2", "resnet18"])
def test_dynamo_exports_every_study_model_within_parity(tmp_path, name):
    torch.manual_seed(0)
    model = build_model(name, 3, image_size=64).eval()
    exported = export_onnx(model, tmp_path / f"{name}.onnx", 64, exporter="dynamo")
    images = uint8_images(3, seed=5, size=64)
    assert np.abs(run_onnx(exported.path, images) - eager_logits(model, images)).max() <= 1e-4
    assert exported.exporter == "dynamo" and exported.opset >= 18
