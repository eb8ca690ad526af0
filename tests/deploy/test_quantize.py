"""INT8: the calibration reader hands out exactly the images (and indices) it was given, normalised like every
form's input; the quantised file's input range is the one those images imply; the checks on the indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bcbench.deploy import DeployError, check_calibration, export_onnx, quantize_int8
from bcbench.deploy import quantize as quantize_module
from bcbench.deploy.quantize import CalibrationReader, int8_settings
from bcbench.errors import BcbenchError
from tests.deploy.helpers import SIZE, normalized_by_hand, tiny_cnn, uint8_images
from tests.helpers import assert_one_line_error

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
numpy_helper = onnx.numpy_helper


def test_reader_hands_out_every_image_once_normalised_and_records_its_index():
    images = uint8_images(7, seed=3)
    indices = [40, 3, 17, 8, 99, 21, 5]
    reader = CalibrationReader(images, indices, "imagenet", batch_size=3)
    batches = list(iter(reader.get_next, None))
    assert [len(batch["images"]) for batch in batches] == [3, 3, 1]
    handed_out = np.concatenate([batch["images"] for batch in batches])
    assert np.abs(handed_out - normalized_by_hand(images).numpy()).max() <= 1e-5
    assert reader.used == indices


@pytest.mark.parametrize(
    ("count", "indices", "held_out", "fragment"),
    [
        (3, [1, 2], None, "3 calibration images but 2 calibration indices"),
        (2, [4, 4], None, "distinct"),
        (2, [-1, 4], None, "distinct dataset indices >= 0"),
        (3, [10, 11, 12], [12, 30], "[12] are validation/test images"),
    ],
)
def test_calibration_indices_are_checked(count, indices, held_out, fragment):
    with pytest.raises(BcbenchError) as error:
        check_calibration(uint8_images(count, seed=0), indices, held_out)
    assert_one_line_error(error, fragment)


def test_calibration_check_returns_the_indices_and_accepts_none():
    assert check_calibration(uint8_images(2, seed=0), np.array([7, 3]), [1, 2]) == (7, 3)
    assert check_calibration(None, None) == ()


def input_scale(path) -> float:
    """The scale of the QuantizeLinear node applied to the graph's input."""
    graph = onnx.load(str(path)).graph
    node = next(node for node in graph.node if node.op_type == "QuantizeLinear" and node.input[0] == "images")
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    return float(initializers[node.input[1]])


def conv_weight_scales(path) -> list[np.ndarray]:
    graph = onnx.load(str(path)).graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    dequantized = [node for node in graph.node if node.op_type == "DequantizeLinear"]
    weights = [node for node in dequantized if node.input[0] in initializers]
    return [initializers[node.input[1]] for node in weights if initializers[node.input[0]].ndim == 4]


def test_int8_is_calibrated_on_exactly_the_images_passed(tmp_path):
    exported = export_onnx(tiny_cnn(), tmp_path / "tiny.onnx", SIZE, exporter="torchscript")
    indices = [12, 5, 30, 7, 2, 19]
    for name, low, high in (("dim", 40, 120), ("full", 0, 256)):
        images = uint8_images(len(indices), seed=1, low=low, high=high)
        quantized = quantize_int8(exported.path, tmp_path / f"{name}.onnx", images, indices, batch_size=4)
        assert quantized.calibration_indices == tuple(indices)
        normalized = normalized_by_hand(images).numpy().astype(np.float64)
        # uint8 activations, asymmetric: the range always includes 0, split into 255 steps
        expected = (max(normalized.max(), 0.0) - min(normalized.min(), 0.0)) / 255
        assert input_scale(quantized.path) == pytest.approx(expected, rel=1e-5)
    scales = conv_weight_scales(quantized.path)
    assert [scale.shape for scale in scales] == [(8,), (8,)]  # one scale per output channel
    assert quantized.settings["format"] == "QDQ" and quantized.size_mb > 0 and quantized.seconds > 0


def test_int8_without_calibration_images_fails(tmp_path):
    exported = export_onnx(tiny_cnn(), tmp_path / "tiny.onnx", SIZE, exporter="torchscript")
    with pytest.raises(DeployError, match="no calibration images"):
        quantize_int8(
            exported.path, tmp_path / "int8.onnx", torch.zeros(0, 3, SIZE, SIZE, dtype=torch.uint8), []
        )


@pytest.mark.parametrize(
    ("machine", "vnni", "reduced"),
    [("x86_64", False, True), ("x86_64", True, False), ("aarch64", False, False), ("x86_64", None, True)],
)
def test_seven_bit_weights_only_on_x86_without_vnni(monkeypatch, machine, vnni, reduced):
    monkeypatch.setattr(quantize_module.platform, "machine", lambda: machine)
    monkeypatch.setattr(quantize_module, "has_vnni", lambda: vnni)
    assert int8_settings(None)["reduce_range"] is reduced
    assert int8_settings(not reduced)["reduce_range"] is (not reduced)


def test_vnni_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    for flags, expected in (("fpu avx2 avx512f avx512_vnni", True), ("fpu avx avx2", False)):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(quantize_module, "Path", lambda _path, file=cpuinfo: file)
        quantize_module.has_vnni.cache_clear()
        assert quantize_module.has_vnni() is expected
    quantize_module.has_vnni.cache_clear()
