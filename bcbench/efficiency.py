"""What a model costs: parameters, FLOPs, size, throughput, latency percentiles, memory and energy.

Conventions (every figure is labelled with its unit):

- FLOPs are FLOPs: 2 per multiply-add, as counted by ``torch.utils.flop_counter.FlopCounterMode``
  (matrix products, convolutions and attention only; element-wise ops such as BatchNorm, ReLU and
  residual adds are not counted). ``macs = flops / 2``, which is what torchvision's model metadata
  calls "GFLOPS" (``_ops``).
- Every ``*_mb`` figure is in MiB (2**20 bytes), for model size and memory alike.
- Times are wall-clock milliseconds after synchronising the device; throughput is images per second.
- Inference throughput is compute-only: a synthetic float input already on the device, no data
  loading. :func:`end_to_end_throughput` times bcbench's own data path plus forward separately.
- Mixed precision ("fp16"/"bf16") means ``torch.autocast``, as in training; the model's weights stay
  as they are. :func:`model_size_mb` reports the size the weights would have at that precision.
- On CPU the timed work runs with ``torch.get_num_threads()`` threads (recorded as ``threads``); on
  a shared machine the figures vary, so compare models measured in the same session.

Nothing here reads ``sys.argv`` or prints; ``bench/efficiency.py`` is the command line.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import gc
import itertools
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from bcbench.errors import BcbenchError

Precision = Literal["no", "fp16", "bf16"]
PRECISIONS: tuple[str, ...] = ("no", "fp16", "bf16")
MIB = 2**20
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
ENERGY_MIN_SECONDS = 1.0  # NVML energy counter updates every few ms to ~100 ms: run long enough to resolve it


# ----------------------------------------------------------------------------------------------
# Static costs: parameters, size, FLOPs
# ----------------------------------------------------------------------------------------------


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; shared parameters are counted once."""
    parameters = list(model.parameters())
    total = sum(p.numel() for p in parameters)
    trainable = sum(p.numel() for p in parameters if p.requires_grad)
    return total, trainable


def model_size_mb(model: nn.Module, precision: Precision = "no") -> float:
    """Bytes of parameters + buffers in MiB (2**20), floating tensors at ``precision``.

    With "fp16"/"bf16" floating tensors count 2 bytes per element (the deployed size at that
    precision); integer buffers (e.g. BatchNorm's ``num_batches_tracked``) keep their own size.
    """
    _check_precision(precision)
    tensors = [*model.parameters(), *model.buffers()]
    total_bytes = sum(t.numel() * _element_bytes(t, precision) for t in tensors)
    return total_bytes / MIB


def _element_bytes(tensor: torch.Tensor, precision: Precision) -> int:
    if precision != "no" and tensor.is_floating_point():
        return 2
    return tensor.element_size()


def count_flops(model: nn.Module, image_size: int, channels: int = 3) -> dict[str, int]:
    """Forward FLOPs and MACs for one image (batch of 1) with ``FlopCounterMode``.

    Runs one forward pass without gradients, in eval mode, on the device the model is on
    (a fraction of a second on CPU even for ResNet-101 at 224 px); the training mode is restored.
    A model built under ``torch.device("meta")`` is counted from shapes alone, without weights.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = _uncompiled(model)
    inputs = torch.zeros(
        1, channels, image_size, image_size, device=_model_device(model), dtype=_model_dtype(model)
    )
    with _eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(inputs)
    flops = int(counter.get_total_flops())
    return {"flops": flops, "macs": flops // 2}


# ----------------------------------------------------------------------------------------------
# Timing primitives
# ----------------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it means something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class _PhaseClock:
    """Marks points in a timed step and turns them into per-phase milliseconds.

    On CUDA each mark is a ``torch.cuda.Event`` recorded on the current stream: marking does not
    synchronise, so marking phases adds no overhead and the times are the GPU's own intervals between
    marks. On CPU, where work runs synchronously, a mark is ``time.perf_counter()``.
    """

    def __init__(self, device: torch.device) -> None:
        self.stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
        self.marks: list[list[Any]] = []

    def new_step(self) -> None:
        self.marks.append([])

    def mark(self) -> None:
        if self.stream is not None:
            event = torch.cuda.Event(enable_timing=True)
            event.record(self.stream)
            self.marks[-1].append(event)
        else:
            self.marks[-1].append(time.perf_counter())

    def phase_ms(self) -> np.ndarray:
        """Array (steps x phases) of milliseconds between consecutive marks; call after a sync."""
        if self.stream is not None:
            rows = [[a.elapsed_time(b) for a, b in itertools.pairwise(m)] for m in self.marks]
        else:
            rows = [[(b - a) * 1000.0 for a, b in itertools.pairwise(m)] for m in self.marks]
        return np.asarray(rows, dtype=np.float64)


def _time_steps(
    step: Callable[[], Any], iterations: int, device: torch.device, sync_each: bool
) -> tuple[np.ndarray, float]:
    """Per-iteration milliseconds and total synced wall seconds of ``iterations`` calls of ``step``.

    ``sync_each`` (latency): the device is idle when each call starts and finished when it ends, so
    each figure is what one caller waits. Otherwise (throughput) calls are queued back to back like
    in real batch inference, and the total is read after a final synchronisation.
    """
    clock = _PhaseClock(device)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(iterations):
        clock.new_step()
        clock.mark()
        step()
        clock.mark()
        if sync_each:
            synchronize(device)
    synchronize(device)
    total_seconds = time.perf_counter() - started
    return clock.phase_ms()[:, 0], total_seconds


def _summary_ms(times_ms: np.ndarray) -> dict[str, float | int]:
    p50, p90, p99 = np.percentile(times_ms, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(times_ms.mean()),
        "std": float(times_ms.std(ddof=1)) if times_ms.size > 1 else 0.0,
        "min": float(times_ms.min()),
        "max": float(times_ms.max()),
        "iterations": int(times_ms.size),
    }


# ----------------------------------------------------------------------------------------------
# Model preparation and restoration
# ----------------------------------------------------------------------------------------------


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise BcbenchError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        minimum = 0 if name.startswith("warmup") else 1
        if value < minimum:
            raise BcbenchError(f"{name} must be at least {minimum}, got {value}")


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device`` with an explicit index on CUDA ("cuda" -> "cuda:<current>")."""
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise BcbenchError(f"device {device!r} requested but CUDA is not available; use --device cpu")
        if resolved.index is None:
            resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


def _uncompiled(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _is_channels_last(model: nn.Module) -> bool:
    """Whether the model's 4-D weights are already stored channels-last."""
    return any(
        p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
        for p in model.parameters()
    )


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _prepared_for_inference(
    model: nn.Module, device: torch.device, channels_last: bool
) -> Iterator[nn.Module]:
    """The model in eval mode on ``device`` (channels-last if asked); mode, device, layout restored."""
    original_device = _model_device(model)
    convert_layout = channels_last and not _is_channels_last(model)
    try:
        with _eval_mode(model):
            model.to(device)
            if convert_layout:
                model.to(memory_format=torch.channels_last)
            yield model
    finally:
        if convert_layout:
            model.to(memory_format=torch.contiguous_format)
        model.to(original_device)


def _synthetic_images(
    batch_size: int, channels: int, image_size: int, device: torch.device, channels_last: bool
):
    images = torch.randn(batch_size, channels, image_size, image_size, device=device)
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def _autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    if precision == "no":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision])


def _compiled(model: nn.Module) -> nn.Module:
    """A ``torch.compile`` wrapper sharing the model's parameters (compilation happens on first call)."""
    if not hasattr(torch, "compile"):
        raise BcbenchError(
            f"torch.compile is not available in torch {torch.__version__}; run without --compile"
        )
    return torch.compile(model)


def _inference_step(model: nn.Module, images: torch.Tensor, device: torch.device, precision: Precision):
    def step() -> torch.Tensor:
        with torch.inference_mode(), _autocast(device, precision):
            return model(images)

    return step


def _warm_up(step: Callable[[], Any], warmup: int, device: torch.device, precision: Precision) -> None:
    """Run ``warmup`` untimed calls (lazy init, cuDNN autotuning, torch.compile compilation).

    The first call always runs, even with ``warmup=0``, so that an unsupported precision fails
    with a clear message rather than inside the timed loop.
    """
    for index in range(max(warmup, 1)):
        if index == 0:
            _first_call(step, device, precision)
        else:
            step()
    synchronize(device)


def _first_call(step: Callable[[], Any], device: torch.device, precision: Precision) -> None:
    try:
        step()
    except RuntimeError as error:
        if precision == "no" or device.type == "cuda" or _is_out_of_memory(error):
            raise
        other = "'bf16' or 'no'" if precision == "fp16" else "'no'"
        raise BcbenchError(
            f"the forward pass failed under {precision} autocast on {device.type} "
            f"({str(error).splitlines()[0]}); use precision {other} on this device"
        ) from error


# ----------------------------------------------------------------------------------------------
# Out-of-memory back-off
# ----------------------------------------------------------------------------------------------


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


def _free_cached_memory() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _with_oom_backoff(measure: Callable[[int], dict[str, Any]], batch_size: int) -> dict[str, Any]:
    """``measure(batch)`` at ``batch_size``, halving the batch on out-of-memory until it fits.

    Records ``batch_size`` (requested) and ``batch_size_run``. The failed attempt's exception (and
    the tensors its traceback holds) is dropped before retrying.
    """
    batch = batch_size
    while True:
        out_of_memory = False
        try:
            result = measure(batch)
        except RuntimeError as error:
            if not _is_out_of_memory(error):
                raise
            out_of_memory = True
            message = str(error).splitlines()[0]
        if not out_of_memory:
            return {**result, "batch_size": batch_size, "batch_size_run": batch}
        _free_cached_memory()
        if batch == 1:
            raise BcbenchError(f"out of memory even at batch size 1 (requested {batch_size}): {message}")
        batch //= 2


# ----------------------------------------------------------------------------------------------
# Inference: latency and throughput
# ----------------------------------------------------------------------------------------------


def measure_latency(
    model: nn.Module,
    image_size: int,
    device: str | torch.device,
    precision: Precision = "no",
    warmup: int = 3,
    iterations: int = 20,
    channels_last: bool = False,
    channels: int = 3,
) -> dict[str, Any]:
    """Batch-1 inference latency percentiles in ms (synchronised before and after every call).

    Returns ``p50, p90, p99, mean, std, min, max, iterations, batch_size`` and ``threads``
    (``torch.get_num_threads()``, meaningful on CPU). The model is run in eval mode on ``device``
    and put back as it was.
    """
    _check_precision(precision)
    _check_counts(warmup=warmup, iterations=iterations)
    device = resolve_device(device)
    with _prepared_for_inference(model, device, channels_last):
        images = _synthetic_images(1, channels, image_size, device, channels_last)
        step = _inference_step(model, images, device, precision)
        _warm_up(step, warmup, device, precision)
        times_ms, _ = _time_steps(step, iterations, device, sync_each=True)
    return {**_summary_ms(times_ms), "batch_size": 1, "threads": torch.get_num_threads()}


def measure_throughput(
    model: nn.Module,
    image_size: int,
    device: str | torch.device,
    precision: Precision = "no",
    batch_size: int = 32,
    warmup: int = 3,
    iterations: int = 20,
    channels_last: bool = False,
    channels: int = 3,
) -> dict[str, Any]:
    """Compute-only inference throughput: images/s = batch x iterations / total synchronised time.

    Returns ``images_per_s, batch_size, batch_size_run, iterations, total_s, median_ms, p90_ms,
    threads``; on out-of-memory the batch is halved until it fits (``batch_size_run``).
    """
    _check_precision(precision)
    _check_counts(warmup=warmup, iterations=iterations, batch_size=batch_size)
    device = resolve_device(device)

    def measure(batch: int) -> dict[str, Any]:
        images = _synthetic_images(batch, channels, image_size, device, channels_last)
        step = _inference_step(model, images, device, precision)
        _warm_up(step, warmup, device, precision)
        times_ms, total_seconds = _time_steps(step, iterations, device, sync_each=False)
        return {
            "images_per_s": batch * iterations / total_seconds,
            "iterations": iterations,
            "total_s": total_seconds,
            "median_ms": float(np.median(times_ms)),
            "p90_ms": float(np.percentile(times_ms, 90)),
            "threads": torch.get_num_threads(),
        }

    with _prepared_for_inference(model, device, channels_last):
        return _with_oom_backoff(measure, batch_size)


# ----------------------------------------------------------------------------------------------
# Training throughput
# ----------------------------------------------------------------------------------------------


def measure_train_throughput(
    model: nn.Module,
    image_size: int,
    device: str | torch.device,
    precision: Precision = "no",
    batch_size: int = 32,
    num_classes: int = 2,
    warmup: int = 3,
    iterations: int = 20,
    channels_last: bool = False,
    channels: int = 3,
    compile: bool = False,
) -> dict[str, Any]:
    """Images/s for forward + cross-entropy + backward + Adam step, on a deep copy of the model.

    The caller's model (weights, BatchNorm statistics, mode, device) is untouched. One timed loop
    gives both the total (synchronised wall time, ``images_per_s``) and the ``split_ms`` medians of
    ``forward`` (incl. loss), ``backward`` and ``step`` (incl. zero_grad): phase marks are CUDA
    events, which do not synchronise, so the split adds no overhead to the total. fp16 uses a
    GradScaler, as training does. Out-of-memory halves the batch (``batch_size_run``).
    """
    _check_precision(precision)
    _check_counts(warmup=warmup, iterations=iterations, batch_size=batch_size, num_classes=num_classes)
    device = resolve_device(device)

    def measure(batch: int) -> dict[str, Any]:
        trainee = copy.deepcopy(_uncompiled(model)).to(device).train()
        if channels_last:
            trainee.to(memory_format=torch.channels_last)
        runner = _compiled(trainee) if compile else trainee
        optimizer = torch.optim.Adam(trainee.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        images = _synthetic_images(batch, channels, image_size, device, channels_last)
        labels = torch.randint(0, num_classes, (batch,), device=device)

        def step(clock: _PhaseClock | None = None) -> None:
            mark = clock.mark if clock is not None else _no_mark
            mark()
            with _autocast(device, precision):
                loss = nn.functional.cross_entropy(runner(images), labels)
            mark()
            scaler.scale(loss).backward()
            mark()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            mark()

        _warm_up(step, warmup, device, precision)
        clock = _PhaseClock(device)
        synchronize(device)
        started = time.perf_counter()
        for _ in range(iterations):
            clock.new_step()
            step(clock)
        synchronize(device)
        total_seconds = time.perf_counter() - started
        phases = clock.phase_ms()
        split = np.median(phases, axis=0)
        return {
            "images_per_s": batch * iterations / total_seconds,
            "iterations": iterations,
            "total_s": total_seconds,
            "median_ms": float(np.median(phases.sum(axis=1))),
            "split_ms": {"forward": float(split[0]), "backward": float(split[1]), "step": float(split[2])},
            "threads": torch.get_num_threads(),
        }

    return _with_oom_backoff(measure, batch_size)


def _no_mark() -> None:
    return None


# ----------------------------------------------------------------------------------------------
# Memory and energy
# ----------------------------------------------------------------------------------------------


def reset_peak_memory(device: str | torch.device) -> bool:
    """Start a new peak-memory window; returns whether the platform allowed it.

    CUDA: empties the allocator's cache (so "reserved" is not inflated by earlier work), then
    ``torch.cuda.reset_peak_memory_stats``. Linux CPU: writing "5" to /proc/self/clear_refs resets
    the process's peak resident set size (VmHWM). Elsewhere the peak is the process's lifetime peak.
    """
    device = torch.device(device)
    if device.type == "cuda":
        _free_cached_memory()
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb(device: str | torch.device) -> dict[str, Any]:
    """Peak memory in MiB since the last :func:`reset_peak_memory` (or process start).

    CUDA: ``{"allocated": max_memory_allocated, "reserved": max_memory_reserved}`` (tensors vs the
    caching allocator's pool). CPU: ``{"rss": peak resident set size of the whole process}``, which
    includes Python, torch and anything else the process holds, not only the model.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return {
            "allocated": torch.cuda.max_memory_allocated(device) / MIB,
            "reserved": torch.cuda.max_memory_reserved(device) / MIB,
        }
    return {"rss": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    high_water_kib = _proc_status_kib("VmHWM")
    if high_water_kib is not None:
        return high_water_kib / 1024
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return max_rss / MIB if sys.platform == "darwin" else max_rss / 1024


def _proc_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def energy_per_image(
    model: nn.Module,
    image_size: int,
    device: str | torch.device,
    precision: Precision = "no",
    batch_size: int = 32,
    warmup: int = 3,
    channels_last: bool = False,
    channels: int = 3,
    min_seconds: float = ENERGY_MIN_SECONDS,
) -> dict[str, Any]:
    """GPU energy per image (joules) from NVML's total-energy counter around a throughput loop.

    The loop runs for at least ``min_seconds`` so the counter's update interval is negligible.
    The figure is the whole GPU's energy (idle power included, other processes too). Without CUDA,
    pynvml (package nvidia-ml-py) or counter support, returns ``joules_per_image: None`` and the
    ``reason``.
    """
    device = resolve_device(device)
    unavailable = _energy_unavailable_reason(device)
    if unavailable:
        return {"joules_per_image": None, "reason": unavailable}
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return {"joules_per_image": None, "reason": f"NVML could not start: {error}"}
    try:
        handle = _nvml_handle(pynvml, device)
        with _prepared_for_inference(model, device, channels_last):
            images = _synthetic_images(batch_size, channels, image_size, device, channels_last)
            step = _inference_step(model, images, device, precision)
            _warm_up(step, warmup, device, precision)
            return _energy_of(
                lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle),
                step,
                device,
                batch_size,
                min_seconds,
            )
    except pynvml.NVMLError as error:
        return {"joules_per_image": None, "reason": f"NVML energy counter not supported on this GPU: {error}"}
    finally:
        pynvml.nvmlShutdown()


def _energy_unavailable_reason(device: torch.device) -> str | None:
    if device.type != "cuda":
        return f"energy is measured on CUDA GPUs only (device is {device.type})"
    try:
        import pynvml  # noqa: F401
    except ImportError:
        return "pynvml is not installed (pip install nvidia-ml-py)"
    return None


def _nvml_handle(pynvml: Any, device: torch.device) -> Any:
    """NVML handle of the torch device, honouring CUDA_VISIBLE_DEVICES via the device UUID."""
    uuid = str(torch.cuda.get_device_properties(device).uuid)
    try:
        return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")
    except pynvml.NVMLError:
        return pynvml.nvmlDeviceGetHandleByIndex(torch.cuda._get_nvml_device_index(device))


def _energy_of(
    read_millijoules: Callable[[], int],
    step: Callable[[], Any],
    device: torch.device,
    batch_size: int,
    min_seconds: float,
) -> dict[str, Any]:
    """Joules per image over repeated ``step`` calls lasting at least ``min_seconds``."""
    synchronize(device)
    start_mj = read_millijoules()
    started = time.perf_counter()
    calls = 0
    while time.perf_counter() - started < min_seconds:
        for _ in range(10):
            step()
        calls += 10
        synchronize(device)
    seconds = time.perf_counter() - started
    joules = (read_millijoules() - start_mj) / 1000.0
    images = calls * batch_size
    return {
        "joules_per_image": joules / images,
        "reason": None,
        "watts": joules / seconds,
        "images": images,
        "seconds": seconds,
        "batch_size": batch_size,
    }


# ----------------------------------------------------------------------------------------------
# Data path + forward
# ----------------------------------------------------------------------------------------------


def end_to_end_throughput(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    to_input: Callable[[torch.Tensor], torch.Tensor],
    device: str | torch.device,
    precision: Precision = "no",
    warmup_batches: int = 1,
) -> dict[str, Any]:
    """Images/s of bcbench's data path + forward: fetch uint8 batch, move, ``to_input``, forward.

    Unlike :func:`measure_throughput` this includes producing the batches (the iterator's own
    time), the host-to-device copy and the conversion to float. The first ``warmup_batches`` are
    run but not timed.
    """
    _check_precision(precision)
    _check_counts(warmup=warmup_batches)
    device = resolve_device(device)
    images_timed = batches_timed = 0
    started = time.perf_counter() if warmup_batches == 0 else None
    with _prepared_for_inference(model, device, channels_last=False):
        for index, (images, _labels) in enumerate(batches):
            inputs = to_input(images.to(device, non_blocking=True))
            with torch.inference_mode(), _autocast(device, precision):
                model(inputs)
            if started is not None:
                images_timed += images.shape[0]
                batches_timed += 1
            elif index == warmup_batches - 1:
                synchronize(device)
                started = time.perf_counter()
        synchronize(device)
    if started is None or batches_timed == 0:
        raise BcbenchError(f"end_to_end_throughput needs more than warmup_batches={warmup_batches} batches")
    seconds = time.perf_counter() - started
    return {
        "kind": "end_to_end",
        "images_per_s": images_timed / seconds,
        "images": images_timed,
        "batches": batches_timed,
        "total_s": seconds,
    }


# ----------------------------------------------------------------------------------------------
# Everything at once: the results record's efficiency block
# ----------------------------------------------------------------------------------------------


def measure_efficiency(
    model: nn.Module,
    *,
    image_size: int,
    device: str | torch.device,
    precision: Precision = "no",
    batch_sizes: Sequence[int] = (1, 32),
    warmup: int = 3,
    iterations: int = 20,
    flops: bool = True,
    channels_last: bool = False,
    compile: bool = False,
    num_classes: int | None = None,
    train_batch_size: int | None = None,
    energy: bool = True,
    channels: int = 3,
) -> dict[str, Any]:
    """The run record's ``efficiency`` block (see DESIGN.md); the model is left as it was.

    Inference figures use eval mode on ``device``; ``infer_throughput`` is images/s at the largest
    batch that ran (``infer_batch_size``), ``throughput_by_batch`` maps each batch that ran to
    images/s and ``batch_size_fallbacks`` lists requested batches that were halved on OOM.
    ``compile=True`` times a ``torch.compile`` wrapper; compilation happens during warm-up (at
    least one warm-up call per batch size), so it is never in the timed figures. Training
    throughput is measured only when ``train_batch_size`` is given (on a copy of the model).
    ``peak_memory_mb`` is the largest peak over the phases measured: CUDA allocated tensors, or the
    process RSS on CPU; ``memory`` has the per-phase detail.
    """
    _check_precision(precision)
    _check_counts(warmup=warmup, iterations=iterations, batch_size=min(batch_sizes, default=0))
    if train_batch_size is not None:
        _check_counts(train_batch_size=train_batch_size)
    device = resolve_device(device)
    total, trainable = count_parameters(model)
    flop_counts = count_flops(model, image_size, channels) if flops else {"flops": None, "macs": None}
    timing = {"precision": precision, "warmup": warmup, "iterations": iterations, "channels": channels}
    shape = {"image_size": image_size, "device": device, "channels_last": channels_last}

    inference = _measure_inference(model, shape, timing, batch_sizes, compile, energy)
    train, train_memory, train_windowed = None, None, True
    if train_batch_size:
        train_windowed = reset_peak_memory(device)
        classes = num_classes or inference["num_classes"]
        train = measure_train_throughput(
            model, **shape, batch_size=train_batch_size, num_classes=classes, compile=compile, **timing
        )
        train_memory = peak_memory_mb(device)
    memory = _memory_block(
        device, inference["memory"], train_memory, inference["windowed"] and train_windowed
    )
    largest = inference["largest"]
    return {
        "params": total,
        "trainable_params": trainable,
        "flops": flop_counts["flops"],
        "macs": flop_counts["macs"],
        "model_mb": model_size_mb(model, precision),
        "infer_throughput": largest["images_per_s"],
        "infer_batch_size": largest["batch_size_run"],
        "throughput_by_batch": _throughput_by_batch(inference["throughputs"]),
        "batch_size_fallbacks": _batch_size_fallbacks(inference["throughputs"]),
        "latency_ms": {key: inference["latency"][key] for key in LATENCY_KEYS},
        "train_throughput": train["images_per_s"] if train else None,
        "train_batch_size": train["batch_size_run"] if train else None,
        "train_split_ms": train["split_ms"] if train else None,
        "peak_memory_mb": memory["peak_mb"],
        "memory": memory,
        "energy": inference["energy"],
        "device": str(device),
        "device_name": _device_name(device),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "channels_last": channels_last,
        "compiled": compile,
        "image_size": image_size,
    }


LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max", "iterations")


def _measure_inference(
    model: nn.Module,
    shape: dict[str, Any],
    timing: dict[str, Any],
    batch_sizes: Sequence[int],
    compile: bool,
    energy: bool,
) -> dict[str, Any]:
    """Latency, throughput per batch size, peak memory and energy, in eval mode on the device."""
    device = shape["device"]
    with _prepared_for_inference(model, device, shape["channels_last"]):
        runner = _compiled(model) if compile else model
        windowed = reset_peak_memory(device)
        latency = measure_latency(runner, **shape, **timing)
        throughputs = [
            measure_throughput(runner, **shape, batch_size=b, **timing) for b in sorted(set(batch_sizes))
        ]
        memory = peak_memory_mb(device)
        largest = max(throughputs, key=lambda result: result["batch_size_run"])
        energy_block = (
            energy_per_image(
                runner, **shape, batch_size=largest["batch_size_run"], **_without(timing, "iterations")
            )
            if energy
            else {"joules_per_image": None, "reason": "not requested"}
        )
        num_classes = _output_classes(
            model, device, shape["image_size"], timing["channels"], shape["channels_last"]
        )
    return {
        "latency": latency,
        "throughputs": throughputs,
        "largest": largest,
        "memory": memory,
        "windowed": windowed,
        "energy": energy_block,
        "num_classes": num_classes,
    }


def _without(timing: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in timing.items() if name != key}


def _batch_size_fallbacks(throughputs: list[dict[str, Any]]) -> dict[str, int]:
    """Requested batch sizes that were halved on out-of-memory -> the batch size that ran."""
    return {
        str(t["batch_size"]): t["batch_size_run"]
        for t in throughputs
        if t["batch_size"] != t["batch_size_run"]
    }


def _throughput_by_batch(throughputs: list[dict[str, Any]]) -> dict[str, float]:
    by_batch: dict[str, float] = {}
    for result in throughputs:
        by_batch.setdefault(str(result["batch_size_run"]), result["images_per_s"])
    return by_batch


def _memory_block(
    device: torch.device, inference: dict[str, float], train: dict[str, float] | None, windowed: bool
) -> dict[str, Any]:
    """Per-phase peaks; ``windowed`` says each peak is for its phase (not the process lifetime)."""
    key = "allocated" if device.type == "cuda" else "rss"
    peaks = [inference[key]] + ([train[key]] if train else [])
    return {
        "kind": "cuda_allocated" if key == "allocated" else "process_rss",
        "peak_mb": max(peaks),
        "windowed": windowed,
        "inference": inference,
        "train": train,
    }


def _output_classes(
    model: nn.Module, device: torch.device, image_size: int, channels: int, channels_last: bool
) -> int:
    """Number of model outputs (classes), for the labels of the training measurement."""
    images = _synthetic_images(1, channels, image_size, device, channels_last)
    with torch.inference_mode():
        return int(model(images).shape[-1])


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return platform.processor() or platform.machine() or device.type


# ----------------------------------------------------------------------------------------------
# Several models: rows, table, files (used by bench/efficiency.py)
# ----------------------------------------------------------------------------------------------


def measure_named_models(
    names: Sequence[str],
    build: Callable[[str], nn.Module],
    on_done: Callable[[dict[str, Any]], None] | None = None,
    **settings: Any,
) -> list[dict[str, Any]]:
    """One row per model: ``{"model", "status": "ok"|"failed", "error", **measure_efficiency(...)}``.

    A model that cannot be built or measured becomes a failed row with the reason; the rest go on.
    """
    rows = []
    for name in names:
        try:
            row = {
                "model": name,
                "status": "ok",
                "error": None,
                **measure_efficiency(build(name), **settings),
            }
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # a failed model is reported; the others are still measured
            row = {
                "model": name,
                "status": "failed",
                "error": f"{type(error).__name__}: {error}".splitlines()[0],
            }
        _free_cached_memory()
        rows.append(row)
        if on_done is not None:
            on_done(row)
    return rows


def format_efficiency_table(
    rows: Sequence[dict[str, Any]], batch_sizes: Sequence[int], title: str | None = None
) -> Any:
    """A ``rich.table.Table`` of efficiency rows; failed models are listed with their reasons below."""
    from rich.markup import escape
    from rich.table import Table

    failures = [
        f"[red]{escape(r['model'])} failed:[/] {escape(str(r['error']))}" for r in rows if r["status"] != "ok"
    ]
    table = Table(
        title=title or _table_title(rows), caption="\n".join(failures) or None, caption_justify="left"
    )
    table.add_column("model")
    for header in ("params (M)", "GFLOPs", "GMACs", "size MiB", *[f"img/s b{b}" for b in batch_sizes]):
        table.add_column(header, justify="right")
    table.add_column("latency ms p50/p90/p99", justify="right")
    table.add_column("peak MiB", justify="right")
    table.add_column("device / threads")
    table.add_column("status")
    for row in rows:
        table.add_row(*_table_cells(row, batch_sizes))
    return table


def _table_title(rows: Sequence[dict[str, Any]]) -> str:
    measured = next((row for row in rows if row["status"] == "ok"), None)
    setting = ""
    if measured is not None:
        flags = [f"{measured['image_size']}px", f"precision {measured['precision']}"]
        flags += ["channels-last"] * measured["channels_last"] + ["compiled"] * measured["compiled"]
        setting = ": " + ", ".join(flags)
    return f"bcbench efficiency{setting} (FLOPs = 2 x MACs; MiB = 2**20 bytes; throughput compute-only)"


def _table_cells(row: dict[str, Any], batch_sizes: Sequence[int]) -> list[str]:
    from rich.markup import escape

    if row["status"] != "ok":
        return [escape(row["model"]), *[""] * (4 + len(batch_sizes) + 3), "[red]failed[/]"]
    latency = row["latency_ms"]
    return [
        escape(row["model"]),
        f"{row['params'] / 1e6:.2f}",
        _giga(row["flops"]),
        _giga(row["macs"]),
        f"{row['model_mb']:.1f}",
        *[_throughput_cell(row, batch) for batch in batch_sizes],
        f"{latency['p50']:.2f} / {latency['p90']:.2f} / {latency['p99']:.2f}",
        f"{row['peak_memory_mb']:.0f}" + (" rss" if row["memory"]["kind"] == "process_rss" else ""),
        f"{row['device']} / {row['threads']}",
        "[green]ok[/]",
    ]


def _giga(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e9:.3f}"


def _throughput_cell(row: dict[str, Any], batch: int) -> str:
    ran = row["batch_size_fallbacks"].get(str(batch), batch)
    value = row["throughput_by_batch"].get(str(ran))
    if value is None:
        return "-"
    return f"{value:.1f}" if ran == batch else f"{value:.1f} (b{ran})"


CSV_COLUMNS = (
    "model", "status", "error", "params", "trainable_params", "flops", "macs", "model_mb",
    "infer_throughput", "infer_batch_size", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
    "latency_mean_ms", "latency_std_ms", "train_throughput", "peak_memory_mb", "memory_kind",
    "joules_per_image", "device", "device_name", "threads", "precision", "channels_last", "compiled",
    "image_size",
)  # fmt: skip


def csv_row(row: dict[str, Any], batch_sizes: Sequence[int]) -> dict[str, Any]:
    """Flat CSV fields of one row: the columns above plus ``throughput_b<N>`` per requested batch."""
    flat: dict[str, Any] = {column: row.get(column) for column in CSV_COLUMNS}
    if row.get("status") == "ok":
        for stat in ("p50", "p90", "p99", "mean", "std"):
            flat[f"latency_{stat}_ms"] = row["latency_ms"][stat]
        flat["memory_kind"] = row["memory"]["kind"]
        flat["joules_per_image"] = row["energy"]["joules_per_image"]
    for batch in batch_sizes:
        ran = row.get("batch_size_fallbacks", {}).get(str(batch), batch)
        flat[f"throughput_b{batch}"] = row.get("throughput_by_batch", {}).get(str(ran))
    return flat


def write_efficiency_results(
    rows: Sequence[dict[str, Any]], out_dir: str | Path, batch_sizes: Sequence[int], settings: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``efficiency.csv`` (flat) and ``efficiency.json`` (settings, env, full rows) atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = {"settings": settings, "env": _environment(), "results": list(rows)}
    json_path = _write_atomic(out / "efficiency.json", json.dumps(document, indent=2, default=str) + "\n")
    flat_rows = [csv_row(row, batch_sizes) for row in rows]
    columns = [*CSV_COLUMNS, *[f"throughput_b{b}" for b in batch_sizes]]
    with tempfile.NamedTemporaryFile("w", dir=out, suffix=".tmp", delete=False, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(flat_rows)
    os.replace(handle.name, out / "efficiency.csv")
    return out / "efficiency.csv", json_path


def _write_atomic(path: Path, text: str) -> Path:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)
    return path


def _environment() -> dict[str, Any]:
    import platform

    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cpu_count": os.cpu_count(),
    }
