"""INT8 with ONNX Runtime's static quantisation: QDQ format, per-channel int8 weights, uint8 activations,
MinMax ranges calibrated on images the caller passes (the sweep passes training images only).

The calibration images go through the same ``Normalizer`` as every form's input. The reader records
the dataset index of every image it hands to the calibrator, so a record can show (and a test
assert) that no validation or test image was used. Settings follow ONNX Runtime's advice for CPU
inference (``quantize_static``'s docstring, onnxruntime 1.32): QDQ, QUInt8 activations, QInt8
weights, and ``reduce_range`` (7-bit weights) on x86 CPUs without VNNI, whose 8-bit multiply-add
(``vpmaddubsw``) can saturate its int16 sums.
"""

from __future__ import annotations

import functools
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bcbench.cost import MIB
from bcbench.data import Normalizer
from bcbench.deploy.export import INPUT_NAME, one_line_reason
from bcbench.deploy.optional import onnx_runtime
from bcbench.deploy.settings import DeployError
from bcbench.errors import BcbenchError

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class QuantizedModel:
    """An INT8 ONNX file, how long quantising took, and exactly which images calibrated it."""

    path: Path
    seconds: float
    size_mb: float
    calibration_indices: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)


class CalibrationReader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol (``get_next``): normalised float32 batches of
    the calibration images, in order, recording the dataset index of every image handed out."""

    def __init__(self, images: torch.Tensor, indices: Sequence[int], normalize: str, batch_size: int) -> None:
        self.images, self.indices = images, [int(index) for index in indices]
        self.normalizer = Normalizer(normalize, "cpu")
        self.batch_size = batch_size
        self.position = 0
        self.used: list[int] = []

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.indices):
            return None
        stop = min(self.position + self.batch_size, len(self.indices))
        rows = torch.arange(self.position, stop)
        batch = self.normalizer(self.images.index_select(0, rows.to(self.images.device)).cpu())
        self.used.extend(self.indices[self.position : stop])
        self.position = stop
        return {INPUT_NAME: batch.numpy()}


def check_calibration(
    images: torch.Tensor | None, indices: Sequence[int] | None, held_out: Sequence[int] | None = None
) -> tuple[int, ...]:
    """The calibration indices as a tuple; BcbenchError when they do not match the images, repeat, or
    overlap ``held_out`` (the validation and test indices, which calibration must never see)."""
    if images is None or indices is None:
        if images is not None or (indices is not None and len(indices)):
            raise BcbenchError("calibration images and calibration indices must be passed together")
        return ()
    chosen = tuple(int(index) for index in np.asarray(indices).reshape(-1))
    if len(chosen) != len(images):
        raise BcbenchError(f"{len(images)} calibration images but {len(chosen)} calibration indices")
    if len(set(chosen)) != len(chosen) or min(chosen, default=0) < 0:
        raise BcbenchError("calibration indices must be distinct dataset indices >= 0")
    held = np.asarray(held_out if held_out is not None else [], dtype=np.int64).reshape(-1)  # arrays too
    leaked = sorted(set(chosen) & {int(index) for index in held})
    if leaked:
        raise BcbenchError(
            f"calibration indices {leaked[:5]} are validation/test images; calibrate on training images only"
        )
    return chosen


def quantize_int8(
    onnx_path: Path,
    output_path: Path,
    calibration_images: torch.Tensor,
    calibration_indices: Sequence[int],
    *,
    normalize: str = "imagenet",
    batch_size: int = 16,
    reduce_range: bool | None = None,
) -> QuantizedModel:
    """Quantise the fp32 file ``onnx_path`` into ``output_path``, calibrated on ``calibration_images``
    (uint8 [N, 3, H, W]) whose dataset indices are ``calibration_indices``. ``seconds`` covers
    pre-processing (shape inference, Conv+BatchNorm fusion), calibration and quantisation. Raises
    DeployError with a one-line reason when the model cannot be quantised."""
    check_calibration(calibration_images, calibration_indices)
    if len(calibration_indices) == 0:
        raise DeployError("no calibration images: INT8 needs training images to calibrate on")
    onnx_runtime()
    from onnxruntime import quantization
    from onnxruntime.quantization import shape_inference

    reader = CalibrationReader(calibration_images, calibration_indices, normalize, batch_size)
    settings = int8_settings(reduce_range)
    prepared = output_path.with_name(output_path.stem + ".prepared.onnx")
    started = time.perf_counter()
    try:
        shape_inference.quant_pre_process(str(onnx_path), str(prepared))
        quantization.quantize_static(
            str(prepared), str(output_path), reader,
            quant_format=quantization.QuantFormat.QDQ, per_channel=True,
            reduce_range=settings["reduce_range"], activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, calibrate_method=quantization.CalibrationMethod.MinMax,
        )  # fmt: skip
    except Exception as error:  # any quantiser failure fails this form only
        raise DeployError(f"INT8 quantisation failed: {one_line_reason(error)}") from error
    finally:
        prepared.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    size = output_path.stat().st_size / MIB
    return QuantizedModel(output_path, seconds, size, tuple(reader.used), settings)


def int8_settings(reduce_range: bool | None) -> dict[str, Any]:
    """The quantisation settings recorded with the form (``reduce_range`` resolved for this CPU)."""
    resolved = reduce_range if reduce_range is not None else needs_reduced_range()
    return {
        "format": "QDQ",
        "per_channel": True,
        "activation_type": "uint8",
        "weight_type": "int8",
        "calibration_method": "minmax",
        "reduce_range": resolved,
        "cpu_vnni": has_vnni(),
    }


def needs_reduced_range() -> bool:
    """7-bit weights on an x86 CPU without VNNI (or whose flags cannot be read), 8-bit elsewhere."""
    machine = platform.machine().lower()
    return machine in ("x86_64", "amd64", "i686", "x86") and not has_vnni()


@functools.cache
def has_vnni() -> bool | None:
    """Whether the CPU has an 8-bit dot-product instruction (AVX-512 VNNI, AVX-VNNI, AMX); None when
    /proc/cpuinfo cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    lines = [line for line in text.splitlines() if line.startswith("flags")]
    flags = lines[0].split(":", 1)[1].split() if lines else []
    return any(flag in flags for flag in VNNI_FLAGS)
