"""evaluate_forms end to end on a tiny model: ONNX fp32 parity, INT8 agreement, probabilities against eager
logits computed here, calibration indices recorded, a form that cannot be exported failing alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bcbench.deploy import DeploySettings, evaluate_forms
from bcbench.errors import BcbenchError
from tests.deploy.helpers import EigenvalueNet, eager_logits, softmax_by_hand, tiny_cnn, uint8_images
from tests.helpers import assert_one_line_error

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

FAST = {"exporter": "torchscript", "timing": False}  # the dynamo exporter is covered by the slow tests


@pytest.fixture(scope="module")
def tiny_outcomes(tmp_path_factory):
    """onnx and onnx_int8 of the tiny CNN, scored on a test set and an external set."""
    model = tiny_cnn()
    images = {"test": uint8_images(48, seed=1), "external": uint8_images(16, seed=4)}
    calibration = uint8_images(24, seed=2)
    indices = list(range(100, 124))
    settings = DeploySettings(forms=("onnx", "onnx_int8"), eval_batch_size=20, **FAST)
    workdir = tmp_path_factory.mktemp("deploy")
    outcomes = evaluate_forms(
        model, settings, images, calibration, indices, held_out_indices=range(100), workdir=workdir
    )
    return model, images, indices, outcomes, workdir


def test_every_form_predicts_every_set_in_order(tiny_outcomes):
    model, images, _, outcomes, _ = tiny_outcomes
    assert list(outcomes) == ["eager", "onnx", "onnx_int8"]
    for set_name, batch in images.items():
        expected = softmax_by_hand(eager_logits(model, batch))
        for outcome in outcomes.values():
            probabilities = outcome.probabilities[set_name]
            assert probabilities.dtype == np.float64 and probabilities.shape == (len(batch), 3)
            assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
        assert np.abs(outcomes["eager"].probabilities[set_name] - expected).max() <= 1e-5
        assert np.abs(outcomes["onnx"].probabilities[set_name] - expected).max() <= 1e-5


def test_onnx_fp32_parity_within_1e_4_and_full_agreement(tiny_outcomes):
    *_, outcomes, _ = tiny_outcomes
    for block in outcomes["onnx"].result.parity.values():
        assert block.max_abs_logit_diff <= 1e-4 and block.top1_agreement == 1.0
    eager = outcomes["eager"].result.parity["test"]
    assert eager.max_abs_logit_diff == 0.0 and eager.top1_agreement == 1.0 and eager.images == 48


def test_int8_agrees_mostly_and_differs_a_little(tiny_outcomes):
    model, images, _, outcomes, _ = tiny_outcomes
    block = outcomes["onnx_int8"].result.parity["test"]
    int8_top1 = outcomes["onnx_int8"].probabilities["test"].argmax(axis=1)
    eager_top1 = eager_logits(model, images["test"]).argmax(axis=1)
    assert block.top1_agreement == pytest.approx(np.mean(int8_top1 == eager_top1))
    assert block.top1_agreement >= 0.9
    assert 1e-4 < block.max_abs_logit_diff < 1.0  # quantised for real, but close


def test_results_record_how_each_form_was_made(tiny_outcomes):
    *_, indices, outcomes, workdir = tiny_outcomes
    onnx, int8 = outcomes["onnx"].result, outcomes["onnx_int8"].result
    assert onnx.status == int8.status == "ok"
    assert onnx.exporter == int8.exporter == "torchscript" and onnx.opset >= 13
    assert onnx.file_mb == pytest.approx((workdir / "model.onnx").stat().st_size / 2**20)
    assert int8.file_mb == pytest.approx((workdir / "model.int8.onnx").stat().st_size / 2**20)
    assert int8.calibration_indices == indices and int8.calibration_images == len(indices)
    assert onnx.calibration_indices is None and int8.quantize_seconds > 0 and onnx.export_seconds > 0
    assert int8.details["quantization"]["per_channel"] is True
    assert onnx.provider == "CPUExecutionProvider" and int8.precision == "int8"
    json.dumps([outcome.result.to_json() for outcome in outcomes.values()])  # plain JSON


def test_calibrating_on_held_out_images_is_refused():
    images = uint8_images(4, seed=0)
    with pytest.raises(BcbenchError) as error:
        evaluate_forms(
            tiny_cnn(), DeploySettings(**FAST), {"test": images}, images, [3, 4, 5, 6], held_out_indices=[6]
        )
    assert_one_line_error(error, "[6] are validation/test images")


def test_an_unexportable_model_fails_only_its_onnx_forms():
    images = uint8_images(6, seed=0, size=4)
    settings = DeploySettings(forms=("onnx", "onnx_int8"), **{**FAST, "timing": True, "iterations": 2})
    outcomes = evaluate_forms(EigenvalueNet(), settings, {"test": images}, images, range(6))
    eager = outcomes["eager"].result
    assert eager.ok and eager.timing and outcomes["eager"].probabilities["test"].shape == (6, 3)
    for name in ("onnx", "onnx_int8"):
        result = outcomes[name].result
        assert result.status == "failed" and "linalg_eigvalsh" in result.reason and "\n" not in result.reason
        assert outcomes[name].probabilities == {}


def test_int8_without_calibration_images_fails_alone():
    outcomes = evaluate_forms(tiny_cnn(), DeploySettings(**FAST), {"test": uint8_images(4, seed=0)})
    assert outcomes["onnx"].result.ok
    assert outcomes["int8" if "int8" in outcomes else "onnx_int8"].result.reason.startswith(
        "no calibration images"
    )


def test_gpu_only_forms_fail_with_their_reason_on_the_cpu():
    settings = DeploySettings(forms=("bf16", "fp16", "onnx_cuda"), **FAST)
    outcomes = evaluate_forms(tiny_cnn(), settings, {"test": uint8_images(4, seed=0)})
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only behaviour")
    assert "needs a CUDA device" in outcomes["bf16"].result.reason
    assert "needs a CUDA device" in outcomes["fp16"].result.reason
    assert "CUDAExecutionProvider" in outcomes["onnx_cuda"].result.reason


@pytest.mark.slow  # dynamo's first trace takes seconds even with the eager backend
def test_the_compile_form_gives_eager_probabilities(monkeypatch):
    monkeypatch.setenv("BCBENCH_COMPILE_BACKEND", "eager")  # the plumbing; the slow test uses inductor
    images = uint8_images(10, seed=3)
    outcomes = evaluate_forms(tiny_cnn(), DeploySettings(forms=("compile",), **FAST), {"test": images})
    compiled = outcomes["compile"]
    assert np.array_equal(compiled.probabilities["test"], outcomes["eager"].probabilities["test"])
    assert compiled.result.compile_seconds > 0 and compiled.result.details["backend"] == "eager"


@pytest.mark.slow  # inductor compiles C++ on the CPU: about 30 s
def test_the_inductor_compiled_form_matches_eager(monkeypatch):
    monkeypatch.delenv("BCBENCH_COMPILE_BACKEND", raising=False)
    model, images = tiny_cnn(), uint8_images(10, seed=3)
    outcomes = evaluate_forms(model, DeploySettings(forms=("compile",), **FAST), {"test": images})
    compiled = outcomes["compile"].result
    assert compiled.ok, compiled.reason
    assert (
        compiled.parity["test"].max_abs_logit_diff <= 1e-4 and compiled.parity["test"].top1_agreement == 1.0
    )
    expected = softmax_by_hand(eager_logits(model, images))
    assert np.abs(outcomes["compile"].probabilities["test"] - expected).max() <= 1e-5


@pytest.mark.parametrize(
    ("images", "fragment"),
    [
        ({}, "at least one image set"),
        ({"test": torch.zeros(2, 3, 8, 8)}, "uint8 [N, 3, S, S]"),
        ({"test": torch.zeros(2, 1, 8, 8, dtype=torch.uint8)}, "uint8 [N, 3, S, S]"),
        ({"a": uint8_images(1, 0, size=8), "b": uint8_images(1, 0, size=4)}, "different sizes"),
    ],
)
def test_bad_image_sets_are_one_line_errors(images, fragment):
    with pytest.raises(BcbenchError) as error:
        evaluate_forms(tiny_cnn(), DeploySettings(**FAST), images)
    assert_one_line_error(error, fragment)


@pytest.mark.slow  # the dynamo exporter and INT8 on a real model at 64 px
def test_dynamo_export_and_int8_on_resnet18_at_64_px():
    from bcbench.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet18", 3, image_size=64)
    images = uint8_images(8, seed=1, size=64)
    settings = DeploySettings(
        forms=("onnx", "onnx_int8"), iterations=3, throughput_iterations=1, batch_size=2
    )
    outcomes = evaluate_forms(model, settings, {"test": images}, uint8_images(8, seed=2, size=64), range(8))
    assert all(outcome.result.ok for outcome in outcomes.values()), [
        o.result.reason for o in outcomes.values()
    ]
    assert outcomes["onnx"].result.parity["test"].max_abs_logit_diff <= 1e-4
    assert outcomes["onnx"].result.exporter == "dynamo"
    assert [timing.threads for timing in outcomes["onnx_int8"].result.timing] == [1]


def test_timing_rounds_alternate_forms_and_thread_counts():
    settings = DeploySettings(
        forms=("onnx",), exporter="torchscript", threads=(1, 2), repeats=2, warmup=0, iterations=1,
        throughput_warmup=0, throughput_iterations=1, batch_size=2,
    )  # fmt: skip
    outcomes = evaluate_forms(tiny_cnn(), settings, {"test": uint8_images(2, seed=0)})
    for outcome in outcomes.values():
        assert [(t.round, t.threads) for t in outcome.result.timing] == [(0, 1), (0, 2), (1, 1), (1, 2)]
        assert outcome.result.timing_summary(2)["rounds"] == 2
