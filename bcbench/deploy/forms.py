"""The forms a trained model is deployed in, behind one interface: ``predict`` uint8 images to softmax
probabilities, ``logits`` for parity, ``timed_call`` for the timer.

Every form receives identical input: uint8 batches normalised once on the CPU by bcbench's
``Normalizer`` (the same arithmetic as training and evaluation), then copied, bit for bit, to the
form's device. Probabilities are the float64 softmax of each form's logits, so forms differ only in
what their networks compute.
"""

from __future__ import annotations

import abc
import copy
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from bcbench.cost import COMPILE_BACKEND_VARIABLE, inference_step, uncompiled
from bcbench.data import Normalizer
from bcbench.deploy.export import INPUT_NAME
from bcbench.deploy.optional import onnx_runtime
from bcbench.deploy.settings import DeployError
from bcbench.device import Precision, autocast, synchronize

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
_ORT_ERRORS_ONLY = 3


class Form(abc.ABC):
    """One deployed form of a model: ``name``, ``precision`` (fp32, int8, bf16, fp16), the ``device``
    whose clock times it, and ``details`` recorded with its result."""

    def __init__(self, name: str, precision: str, device: torch.device, normalize: str, batch_size: int):
        self.name, self.precision, self.device = name, precision, device
        self.normalizer = Normalizer(normalize, "cpu")
        self.batch_size = batch_size
        self.details: dict[str, Any] = {}

    @abc.abstractmethod
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """float32 logits on the CPU of normalised float32 CPU inputs [N, C, H, W]."""

    @abc.abstractmethod
    def timed_call(self, inputs: torch.Tensor, threads: int | None) -> Callable[[], Any]:
        """One inference on ``inputs`` with everything else (copies, sessions) prepared outside it."""

    def logits(self, images: torch.Tensor) -> np.ndarray:
        """float32 logits [N, classes] of uint8 images [N, 3, H, W] (resident or streamed), in order."""
        chunks = []
        for start in range(0, len(images), self.batch_size):
            rows = torch.arange(start, min(start + self.batch_size, len(images)))
            batch = images.index_select(0, rows.to(images.device) if hasattr(images, "device") else rows)
            chunks.append(self.forward(self.normalizer(batch.cpu())).float())
        return torch.cat(chunks).numpy() if chunks else np.empty((0, 0), np.float32)

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """float64 softmax probabilities [N, classes] of uint8 images [N, 3, H, W]."""
        return softmax(self.logits(images))

    def close(self) -> None:  # noqa: B027  (most forms hold nothing to free)
        """Free what the form holds (sessions, compiled code)."""


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(np.asarray(logits, dtype=np.float64)), dim=1).numpy()


class TorchForm(Form):
    """The PyTorch module itself: eager fp32, under bf16/fp16 autocast, or through ``torch.compile``."""

    def __init__(
        self, name: str, model: nn.Module, precision: Precision, normalize: str, batch_size: int,
        runner: nn.Module | None = None,
    ) -> None:  # fmt: skip
        device = next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("cpu"))
        super().__init__(name, "fp32" if precision == "no" else precision, device, normalize, batch_size)
        self.model, self.autocast_precision = model, precision
        self.runner = runner if runner is not None else model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast(self.device, self.autocast_precision):
            return self.runner(inputs.to(self.device)).float().cpu()

    def timed_call(self, inputs: torch.Tensor, threads: int | None) -> Callable[[], Any]:
        return inference_step(self.runner, inputs.to(self.device), self.device, self.autocast_precision)


class ChannelsLastForm(TorchForm):
    """Eager fp32 with the weights and every input in channels-last memory format (NHWC in memory), the
    layout cuDNN and oneDNN convolutions prefer; on a copy of the model, so the other forms are untouched."""

    def __init__(self, model: nn.Module, normalize: str, batch_size: int) -> None:
        converted = copy.deepcopy(uncompiled(model)).to(memory_format=torch.channels_last)
        super().__init__("channels_last", converted, "no", normalize, batch_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return super().forward(inputs.to(self.device).contiguous(memory_format=torch.channels_last))

    def timed_call(self, inputs: torch.Tensor, threads: int | None) -> Callable[[], Any]:
        return super().timed_call(
            inputs.to(self.device).contiguous(memory_format=torch.channels_last), threads
        )

    def close(self) -> None:
        self.model = self.runner = nn.Identity()  # the copy's memory is freed with the form


class CompiledForm(TorchForm):
    """``torch.compile`` of the model (backend from $BCBENCH_COMPILE_BACKEND, default inductor).

    Compilation happens here, on the first calls at batch 1 and at the prediction batch, and is
    recorded apart as ``compile_seconds``; the timer's warm-up never includes it. Inductor's CPU
    kernels read the thread count when they run (``cpp.dynamic_threads``), not when they are
    compiled, so one compilation serves every thread count timed."""

    def __init__(self, model: nn.Module, normalize: str, batch_size: int, image_size: int) -> None:
        backend = os.environ.get(COMPILE_BACKEND_VARIABLE) or None
        if backend:
            runner = torch.compile(model, backend=backend)
        else:
            runner = torch.compile(model, options={"cpp.dynamic_threads": True})
        super().__init__("compile", model, "no", normalize, batch_size, runner=runner)
        started = time.perf_counter()
        for batch in sorted({1, batch_size}):
            self.forward(torch.zeros(batch, 3, image_size, image_size))
        synchronize(self.device)
        self.compile_seconds = time.perf_counter() - started
        self.details = {"torch": torch.__version__, "backend": backend or "inductor"}

    def close(self) -> None:
        # dynamo caches compiled code per forward() code object: a sweep compiling one architecture
        # per run would hit its recompile limit after a few runs and silently fall back to eager
        torch._dynamo.reset()


class OrtForm(Form):
    """An ONNX file run by ONNX Runtime on one execution provider, one session per thread count.

    ``run`` takes and returns host arrays, so on the CUDA provider a timed call includes copying the
    input to the GPU and the logits back (a 224 px image is 0.6 MB)."""

    def __init__(
        self, name: str, path: str, precision: str, provider: str, normalize: str, batch_size: int,
        threads: int,
    ) -> None:  # fmt: skip
        super().__init__(name, precision, torch.device("cpu"), normalize, batch_size)
        self.path, self.provider, self.default_threads = path, provider, threads
        self.sessions: dict[int, Any] = {}
        session = self.session(threads)
        used = session.get_providers()[0]
        if used != provider:
            raise DeployError(f"onnxruntime ran {name} on {used}, not {provider}: install onnxruntime-gpu")
        self.details = {"provider": used, "onnxruntime": onnx_runtime().__version__}

    def session(self, threads: int) -> Any:
        if threads not in self.sessions:
            ort = onnx_runtime()
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = _ORT_ERRORS_ONLY
            self.sessions[threads] = ort.InferenceSession(self.path, options, providers=[self.provider])
        return self.sessions[threads]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        session = self.session(self.default_threads)
        array = np.ascontiguousarray(inputs.cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(session.run(None, {INPUT_NAME: array})[0])

    def timed_call(self, inputs: torch.Tensor, threads: int | None) -> Callable[[], Any]:
        session = self.session(threads or self.default_threads)
        feed = {INPUT_NAME: np.ascontiguousarray(inputs.cpu().numpy(), dtype=np.float32)}

        def call() -> Any:
            return session.run(None, feed)

        return call

    def close(self) -> None:
        self.sessions.clear()


def cuda_provider_available() -> bool:
    return CUDA_PROVIDER in onnx_runtime().get_available_providers()
