"""ONNX export of a trained model with ``torch.onnx.export``: dynamic batch axis, exporter and opset
recorded, export timed, size on disk measured.

The default exporter is ``dynamo`` (``torch.export``-based; the default since torch 2.9, the
TorchScript-based one is deprecated and warns that it will be removed). It exports all five bcbench
models (simple_cnn, study_mobilenet, mobilenet_v2, resnet18, resnet50) with |logit difference| under
2e-5, and it refuses a model with data-dependent Python control flow, where the tracer silently bakes
in the branch the example input took. It is slower (1.5-13 s against 0.3-1.4 s here), which is small
next to training. ``torchscript`` stays selectable for torch versions without ``dynamo=True``.

Normalisation is not part of the graph: every form receives the same float32 input, made once by
bcbench's ``Normalizer``, so parity compares the networks alone; the file's metadata says which input
it expects.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bcbench.cost import MIB, eval_mode, uncompiled
from bcbench.deploy.optional import exporter_packages, import_optional
from bcbench.deploy.settings import DeployError

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
EXAMPLE_BATCH = 2  # torch.export specialises a dimension of size 1, so the example batch must be larger
SINGLE_FILE_LIMIT = 1.8 * 2**30  # protobuf's 2 GiB limit, with a margin: bigger weights go to a .data file
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REASON_CHARS = 300


@dataclass(frozen=True)
class ExportedModel:
    """An exported ONNX file and how it was made."""

    path: Path
    exporter: str
    opset: int
    seconds: float
    size_mb: float
    external_data: bool


def export_onnx(
    model: nn.Module,
    path: str | Path,
    image_size: int,
    *,
    exporter: str = "dynamo",
    opset: int | None = None,
    normalize: str = "imagenet",
    channels: int = 3,
) -> ExportedModel:
    """Export ``model`` (a CPU copy in eval mode; the model itself is untouched) to ``path``.

    Input ``images`` float32 [batch, channels, image_size, image_size] with a dynamic batch axis,
    already normalised (``normalize`` is written into the file's metadata); output ``logits``.
    ``seconds`` is the export call alone. Raises DeployError with a one-line reason when the model
    cannot be exported (an unsupported op, control flow that depends on the data).
    """
    exporter_packages(exporter)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    copied = copy.deepcopy(uncompiled(model)).to("cpu")
    example = torch.zeros(EXAMPLE_BATCH, channels, image_size, image_size)
    external = _parameter_bytes(copied) > SINGLE_FILE_LIMIT
    started = time.perf_counter()
    try:
        with eval_mode(copied), torch.no_grad(), _quiet():
            _export(copied, example, path, exporter, opset, external)
    except Exception as error:  # any exporter failure fails this form only
        raise DeployError(f"ONNX export ({exporter}) failed: {one_line_reason(error)}") from error
    seconds = time.perf_counter() - started
    written_opset = _annotate(path, normalize, exporter)
    return ExportedModel(path, exporter, written_opset, seconds, onnx_size_mb(path), external)


def _export(
    model: nn.Module, example: torch.Tensor, path: Path, exporter: str, opset: int | None, external: bool
) -> None:
    names = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME], "opset_version": opset}
    if exporter == "dynamo":
        batch = torch.export.Dim("batch")
        torch.onnx.export(
            model, (example,), str(path), dynamo=True, dynamic_shapes=({0: batch},),
            external_data=external, verbose=False, **names,
        )  # fmt: skip
    else:
        axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
        torch.onnx.export(model, (example,), str(path), dynamo=False, dynamic_axes=axes, **names)


@contextlib.contextmanager
def _quiet():
    """The exporters' progress lines and deprecation warnings stay out of the sweep's console."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _annotate(path: Path, normalize: str, exporter: str) -> int:
    """Write the expected input into the file's metadata; return the default-domain opset."""
    (onnx,) = import_optional("onnx")
    proto = onnx.load(str(path), load_external_data=False)
    metadata = {
        "bcbench.input": "float32 NCHW images, already normalised",
        "bcbench.normalize": f"{normalize} (bcbench.data.Normalizer: x / 255, then ImageNet mean/std)",
        "bcbench.exporter": exporter,
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))


def onnx_size_mb(path: Path) -> float:
    """MiB on disk of an ONNX file and its external-data files (``<name>.data`` next to it), if any."""
    files = [path, *path.parent.glob(f"{path.name}.data")]
    return sum(file.stat().st_size for file in files if file.is_file()) / MIB


def state_dict_size_mb(model: nn.Module) -> float:
    """MiB of ``torch.save(state_dict)``: what the eager form ships."""
    buffer = io.BytesIO()
    torch.save(uncompiled(model).state_dict(), buffer)
    return buffer.getbuffer().nbytes / MIB


def _parameter_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def one_line_reason(error: BaseException) -> str:
    """``Type: message`` on one line: for torch's exporters, the exception summary's first line."""
    text = _ANSI.sub("", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name, message = type(error).__name__, lines[0] if lines else ""
    if "## Exception summary" in lines:
        summary = lines[lines.index("## Exception summary") + 1 :]
        if summary:
            found = re.match(r"<class '(?:[\w.]*\.)?(\w+)'>: (.*)", summary[0])
            name, message = found.groups() if found else (name, summary[0])
    reason = f"{name}: {message}" if message else name
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."
