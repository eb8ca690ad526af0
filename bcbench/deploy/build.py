"""Building each form by name, filling in how it was made (export, quantisation, compilation) on its
result. The ONNX files are made once, on first request, and shared: ``onnx`` and ``onnx_cuda`` run the
fp32 export, ``onnx_int8`` quantises it; a failed export fails every ONNX form with the same reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bcbench.deploy.export import ExportedModel, export_onnx, state_dict_size_mb
from bcbench.deploy.forms import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    ChannelsLastForm,
    CompiledForm,
    Form,
    OrtForm,
    TorchForm,
    cuda_provider_available,
)
from bcbench.deploy.quantize import QuantizedModel, quantize_int8
from bcbench.deploy.result import FormResult
from bcbench.deploy.settings import (
    BF16,
    CHANNELS_LAST,
    COMPILE,
    EAGER,
    FP16,
    ONNX,
    ONNX_CUDA,
    ONNX_INT8,
    DeployError,
    DeploySettings,
)

FP32_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"


class OnnxFiles:
    """The fp32 export and its INT8 quantisation in ``folder``, each made at most once (a failure too)."""

    def __init__(
        self, model: nn.Module, image_size: int, settings: DeploySettings, folder: Path,
        calibration: tuple[torch.Tensor | None, tuple[int, ...]],
    ) -> None:  # fmt: skip
        self.model, self.image_size, self.settings, self.folder = model, image_size, settings, folder
        self.calibration = calibration
        self._made: dict[str, Any] = {}

    def fp32(self) -> ExportedModel:
        return self._once(FP32_FILE, self._export)

    def int8(self) -> QuantizedModel:
        return self._once(INT8_FILE, self._quantize)

    def _once(self, key: str, make: Any) -> Any:
        if key not in self._made:
            try:
                self._made[key] = make()
            except Exception as error:  # remembered, so every form that needs the file fails alike
                self._made[key] = error
        made = self._made[key]
        if isinstance(made, Exception):
            raise made
        return made

    def _export(self) -> ExportedModel:
        settings = self.settings
        return export_onnx(
            self.model, self.folder / FP32_FILE, self.image_size,
            exporter=settings.exporter, opset=settings.opset, normalize=settings.normalize,
        )  # fmt: skip

    def _quantize(self) -> QuantizedModel:
        exported, (images, indices) = self.fp32(), self.calibration
        if images is None or not indices:
            raise DeployError("no calibration images: INT8 needs training images to calibrate on")
        settings = self.settings
        return quantize_int8(
            exported.path, self.folder / INT8_FILE, images, indices, normalize=settings.normalize,
            batch_size=settings.calibration_batch_size, reduce_range=settings.reduce_range,
        )  # fmt: skip


def build_form(name: str, model: nn.Module, files: OnnxFiles, result: FormResult) -> Form:
    """The form ``name`` of ``model`` (in eval mode on its device), recording how it was made on
    ``result``; DeployError (or the underlying error) when it cannot be built here."""
    settings = files.settings
    normalize, batch = settings.normalize, settings.eval_batch_size
    if name in (EAGER, BF16, FP16, COMPILE, CHANNELS_LAST):
        result.file_mb = state_dict_size_mb(model)  # the same weights ship with every torch form
    if name == EAGER:
        form: Form = TorchForm(EAGER, model, "no", normalize, batch)
        form.details = _torch_details(form.device)
    elif name in (BF16, FP16):
        form = _autocast_form(name, model, normalize, batch)
    elif name == CHANNELS_LAST:
        form = ChannelsLastForm(model, normalize, batch)
        form.details = _torch_details(form.device)
    elif name == COMPILE:
        form = CompiledForm(model, normalize, batch, files.image_size)
        result.compile_seconds = form.compile_seconds
    elif name in (ONNX, ONNX_CUDA):
        form = _onnx_fp32_form(name, files, result)
    elif name == ONNX_INT8:
        form = _onnx_int8_form(files, result)
    else:
        raise DeployError(f"unknown deploy form {name!r}")
    result.precision = form.precision
    result.device = "cuda" if result.provider == CUDA_PROVIDER else str(form.device)
    result.details.update(form.details)
    return form


def _autocast_form(name: str, model: nn.Module, normalize: str, batch: int) -> Form:
    form = TorchForm(name, model, name, normalize, batch)  # type: ignore[arg-type]
    if form.device.type != "cuda":
        raise DeployError(f"the {name} autocast form needs a CUDA device; the model is on {form.device}")
    form.details = _torch_details(form.device)
    return form


def _onnx_fp32_form(name: str, files: OnnxFiles, result: FormResult) -> Form:
    exported = files.fp32()
    _record_export(result, exported)
    provider = CUDA_PROVIDER if name == ONNX_CUDA else CPU_PROVIDER
    if provider == CUDA_PROVIDER and not cuda_provider_available():
        raise DeployError(
            "onnxruntime has no CUDAExecutionProvider here: onnx_cuda skipped (needs onnxruntime-gpu)"
        )
    settings = files.settings
    form = OrtForm(
        name, str(exported.path), "fp32", provider, settings.normalize, settings.eval_batch_size,
        settings.threads[0],
    )  # fmt: skip
    result.provider = provider
    return form


def _onnx_int8_form(files: OnnxFiles, result: FormResult) -> Form:
    _record_export(result, files.fp32())
    quantized = files.int8()
    result.quantize_seconds = quantized.seconds
    result.file_mb = quantized.size_mb
    result.calibration_images = len(quantized.calibration_indices)
    result.calibration_indices = list(quantized.calibration_indices)
    result.details.update(quantization=quantized.settings)
    settings = files.settings
    form = OrtForm(
        ONNX_INT8, str(quantized.path), "int8", CPU_PROVIDER, settings.normalize, settings.eval_batch_size,
        settings.threads[0],
    )  # fmt: skip
    result.provider = CPU_PROVIDER
    return form


def _record_export(result: FormResult, exported: ExportedModel) -> None:
    result.exporter, result.opset = exported.exporter, exported.opset
    result.export_seconds, result.file_mb = exported.seconds, exported.size_mb
    result.details["external_data"] = exported.external_data


def _torch_details(device: torch.device) -> dict[str, Any]:
    details: dict[str, Any] = {"torch": torch.__version__}
    if device.type == "cuda":  # eager fp32 on CUDA may use TF32 matmuls/convolutions: parity reflects it
        details["tf32"] = {
            "matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn": torch.backends.cudnn.allow_tf32,
        }
    return details
