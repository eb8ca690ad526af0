"""Latency percentiles, inference and training throughput, and bcbench's end-to-end data path + forward."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from bcbench.cost.static import uncompiled
from bcbench.cost.timing import (
    PhaseClock,
    Workload,
    check_counts,
    compiled,
    inference_step,
    prepared_for_inference,
    summary_ms,
    time_steps,
    warm_up,
    with_oom_backoff,
)
from bcbench.device import Precision, autocast, check_precision, resolve_device, synchronize
from bcbench.errors import BcbenchError


def measure_latency(model: nn.Module, workload: Workload) -> dict[str, Any]:
    """Batch-1 inference latency percentiles in ms (synchronised before and after every call).

    Returns ``p50, p90, p99, mean, std, min, max, iterations, batch_size`` and ``threads``
    (``torch.get_num_threads()``, meaningful on CPU). The model is run in eval mode on the workload's
    device and put back as it was.
    """
    workload = workload.checked()
    device = workload.torch_device
    with prepared_for_inference(model, device, workload.channels_last):
        step = inference_step(model, workload.images(1), device, workload.precision)
        warm_up(step, workload.warmup, device, workload.precision)
        times_ms, _ = time_steps(step, workload.iterations, device, sync_each=True)
    return {**summary_ms(times_ms), "batch_size": 1, "threads": torch.get_num_threads()}


def measure_throughput(model: nn.Module, workload: Workload, batch_size: int = 32) -> dict[str, Any]:
    """Compute-only inference throughput: images/s = batch x iterations / total synchronised time.

    Returns ``images_per_s, batch_size, batch_size_run, iterations, total_s, median_ms, p90_ms,
    threads``; on out-of-memory the batch is halved until it fits (``batch_size_run``).
    """
    workload = workload.checked()
    check_counts(batch_size=batch_size)
    device, iterations = workload.torch_device, workload.iterations

    def measure(batch: int) -> dict[str, Any]:
        step = inference_step(model, workload.images(batch), device, workload.precision)
        warm_up(step, workload.warmup, device, workload.precision)
        times_ms, total_seconds = time_steps(step, iterations, device, sync_each=False)
        return {
            "images_per_s": batch * iterations / total_seconds,
            "iterations": iterations,
            "total_s": total_seconds,
            "median_ms": float(np.median(times_ms)),
            "p90_ms": float(np.percentile(times_ms, 90)),
            "threads": torch.get_num_threads(),
        }

    with prepared_for_inference(model, device, workload.channels_last):
        return with_oom_backoff(measure, batch_size)


def measure_train_throughput(
    model: nn.Module, workload: Workload, batch_size: int = 32, num_classes: int = 2, compile: bool = False
) -> dict[str, Any]:
    """Images/s for forward + cross-entropy + backward + Adam step, on a deep copy of the model.

    The caller's model (weights, BatchNorm statistics, mode, device) is untouched. One timed loop
    gives both the total (synchronised wall time, ``images_per_s``) and the ``split_ms`` medians of
    ``forward`` (incl. loss), ``backward`` and ``step`` (incl. zero_grad): phase marks are CUDA
    events, which do not synchronise, so the split adds no overhead to the total. fp16 uses a
    GradScaler, as training does. Out-of-memory halves the batch (``batch_size_run``).
    """
    workload = workload.checked()
    check_counts(batch_size=batch_size, num_classes=num_classes)
    device = workload.torch_device

    def measure(batch: int) -> dict[str, Any]:
        trainee = copy.deepcopy(uncompiled(model)).to(device).train()
        if workload.channels_last:
            trainee.to(memory_format=torch.channels_last)
        runner = compiled(trainee) if compile else trainee
        labels = torch.randint(0, num_classes, (batch,), device=device)
        step = _train_step(runner, trainee, workload.images(batch), labels, workload.precision)
        warm_up(step, workload.warmup, device, workload.precision)
        return _timed_train_steps(step, batch, workload.iterations, device)

    return with_oom_backoff(measure, batch_size)


def _train_step(
    runner: nn.Module, trainee: nn.Module, images: torch.Tensor, labels: torch.Tensor, precision: Precision
) -> Callable[[PhaseClock | None], None]:
    """One forward + loss, backward, Adam step (GradScaler for fp16), marking the phases on a clock."""
    device = images.device
    optimizer = torch.optim.Adam(trainee.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step(clock: PhaseClock | None = None) -> None:
        mark = clock.mark if clock is not None else _no_mark
        mark()
        with autocast(device, precision):
            loss = nn.functional.cross_entropy(runner(images), labels)
        mark()
        scaler.scale(loss).backward()
        mark()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        mark()

    return step


def _timed_train_steps(
    step: Callable[[PhaseClock | None], None], batch: int, iterations: int, device: torch.device
) -> dict[str, Any]:
    clock = PhaseClock(device)
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


def _no_mark() -> None:
    return None


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
    check_precision(precision)
    check_counts(warmup=warmup_batches)
    device = resolve_device(device)
    images_timed = batches_timed = 0
    started = time.perf_counter() if warmup_batches == 0 else None
    with prepared_for_inference(model, device, channels_last=False):
        for index, (images, _labels) in enumerate(batches):
            inputs = to_input(images.to(device, non_blocking=True))
            with torch.inference_mode(), autocast(device, precision):
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
