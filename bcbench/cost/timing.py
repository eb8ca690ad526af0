"""One clock for every timed figure: synchronised phase marks (CUDA events on the GPU), warm-up,
percentile summaries, inference steps on synthetic input, and out-of-memory back-off."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from bcbench.cost.static import eval_mode, is_channels_last, model_device
from bcbench.device import (
    Precision,
    autocast,
    check_precision,
    free_cached_memory,
    is_out_of_memory,
    resolve_device,
    synchronize,
)
from bcbench.errors import BcbenchError


@dataclass(frozen=True)
class Workload:
    """What a timed measurement feeds the model: synthetic images of ``image_size`` (``channels``,
    channels-last or not) on ``device``, under ``precision`` autocast, ``warmup`` untimed calls first,
    then ``iterations`` timed ones."""

    image_size: int
    device: torch.device | str = "cpu"
    precision: Precision = "no"
    warmup: int = 3
    iterations: int = 20
    channels_last: bool = False
    channels: int = 3

    def checked(self) -> Workload:
        """The same workload with its device resolved (``cuda`` -> ``cuda:N``); bad values are errors."""
        check_precision(self.precision)
        check_counts(warmup=self.warmup, iterations=self.iterations, image_size=self.image_size)
        return replace(self, device=resolve_device(self.device))

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    def images(self, batch_size: int) -> torch.Tensor:
        return synthetic_images(
            batch_size, self.channels, self.image_size, self.torch_device, self.channels_last
        )


class PhaseClock:
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


def time_steps(
    step: Callable[[], Any], iterations: int, device: torch.device, sync_each: bool
) -> tuple[np.ndarray, float]:
    """Per-iteration milliseconds and total synced wall seconds of ``iterations`` calls of ``step``.

    ``sync_each`` (latency): the device is idle when each call starts and finished when it ends, so
    each figure is what one caller waits. Otherwise (throughput) calls are queued back to back like
    in real batch inference, and the total is read after a final synchronisation.
    """
    clock = PhaseClock(device)
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


def summary_ms(times_ms: np.ndarray) -> dict[str, float | int]:
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


def check_counts(**counts: int) -> None:
    for name, value in counts.items():
        minimum = 0 if name.startswith("warmup") else 1
        if value < minimum:
            raise BcbenchError(f"{name} must be at least {minimum}, got {value}")


@contextlib.contextmanager
def prepared_for_inference(
    model: nn.Module, device: torch.device, channels_last: bool
) -> Iterator[nn.Module]:
    """The model in eval mode on ``device`` (channels-last if asked); mode, device, layout restored."""
    original_device = model_device(model)
    convert_layout = channels_last and not is_channels_last(model)
    try:
        with eval_mode(model):
            model.to(device)
            if convert_layout:
                model.to(memory_format=torch.channels_last)
            yield model
    finally:
        if convert_layout:
            model.to(memory_format=torch.contiguous_format)
        model.to(original_device)


def synthetic_images(
    batch_size: int, channels: int, image_size: int, device: torch.device, channels_last: bool
):
    images = torch.randn(batch_size, channels, image_size, image_size, device=device)
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


COMPILE_BACKEND_VARIABLE = "BCBENCH_COMPILE_BACKEND"  # e.g. eager, to check the plumbing without a compiler


def compiled(model: nn.Module) -> nn.Module:
    """A ``torch.compile`` wrapper sharing the model's parameters (compilation happens on first call),
    with the backend named by $BCBENCH_COMPILE_BACKEND (default: torch's, inductor)."""
    if not hasattr(torch, "compile"):
        raise BcbenchError(
            f"torch.compile is not available in torch {torch.__version__}; run without --compile"
        )
    backend = os.environ.get(COMPILE_BACKEND_VARIABLE)
    return torch.compile(model, backend=backend) if backend else torch.compile(model)


def inference_step(model: nn.Module, images: torch.Tensor, device: torch.device, precision: Precision):
    def step() -> torch.Tensor:
        with torch.inference_mode(), autocast(device, precision):
            return model(images)

    return step


def warm_up(step: Callable[[], Any], warmup: int, device: torch.device, precision: Precision) -> None:
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
        if precision == "no" or device.type == "cuda" or is_out_of_memory(error):
            raise
        other = "'bf16' or 'no'" if precision == "fp16" else "'no'"
        raise BcbenchError(
            f"the forward pass failed under {precision} autocast on {device.type} "
            f"({str(error).splitlines()[0]}); use precision {other} on this device"
        ) from error


def with_oom_backoff(measure: Callable[[int], dict[str, Any]], batch_size: int) -> dict[str, Any]:
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
            if not is_out_of_memory(error):
                raise
            out_of_memory = True
            message = str(error).splitlines()[0]
        if not out_of_memory:
            return {**result, "batch_size": batch_size, "batch_size_run": batch}
        free_cached_memory()
        if batch == 1:
            raise BcbenchError(f"out of memory even at batch size 1 (requested {batch_size}): {message}")
        batch //= 2
