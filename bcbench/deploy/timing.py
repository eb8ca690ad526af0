"""Timing a deployed form with bcbench's timer rules (``bcbench.cost.timing``): untimed warm-up, the
device synchronised around every latency call, percentiles of batch-1 latency, throughput over a
loop queued back to back at the configured batch, out-of-memory halving the batch; threads recorded.

As in the efficiency block, the timed input is synthetic float32 data already in the form's input
layout (compute only: no decoding, normalisation or host copies), drawn from a seeded generator so
that every form is timed on identical input and the caller's random state is left alone. Intra-op
threads apply to torch (``torch.set_num_threads``) and to ONNX Runtime (a session per count) alike,
and torch's count is restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from bcbench.cost import summary_ms, time_steps, warm_up, with_oom_backoff
from bcbench.deploy.forms import Form
from bcbench.deploy.result import FormTiming
from bcbench.deploy.settings import DeploySettings

LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max", "iterations")


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` (None: unchanged), restored afterwards."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def timing_inputs(batch_size: int, image_size: int, seed: int, channels: int = 3) -> torch.Tensor:
    """Standard-normal float32 images [batch, channels, size, size] (the scale of normalised pixels)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, channels, image_size, image_size, generator=generator)


def time_form(form: Form, image_size: int, threads: int | None, settings: DeploySettings) -> FormTiming:
    """Batch-1 latency and throughput at ``settings.batch_size`` of ``form`` with ``threads`` threads."""
    with torch_threads(threads):
        latency = measure_form_latency(form, image_size, threads, settings)
        throughput = with_oom_backoff(
            lambda batch: _throughput(form, batch, image_size, threads, settings), settings.batch_size
        )
    return FormTiming(threads=threads, latency_ms=latency, throughput=throughput)


def measure_form_latency(
    form: Form, image_size: int, threads: int | None, settings: DeploySettings
) -> dict[str, float | int]:
    step = form.timed_call(timing_inputs(1, image_size, settings.seed), threads)
    warm_up(step, settings.warmup, form.device, _autocast_precision(form))
    times_ms, _ = time_steps(step, settings.iterations, form.device, sync_each=True)
    summary = summary_ms(times_ms)
    return {key: summary[key] for key in LATENCY_KEYS}


def _throughput(
    form: Form, batch: int, image_size: int, threads: int | None, settings: DeploySettings
) -> dict[str, Any]:
    step = form.timed_call(timing_inputs(batch, image_size, settings.seed), threads)
    warm_up(step, settings.throughput_warmup, form.device, _autocast_precision(form))
    iterations = settings.throughput_iterations
    times_ms, total_seconds = time_steps(step, iterations, form.device, sync_each=False)
    return {
        "images_per_s": batch * iterations / total_seconds,
        "iterations": iterations,
        "total_s": total_seconds,
        "median_ms": float(np.median(times_ms)),
    }


def _autocast_precision(form: Form) -> str:
    return form.precision if form.precision in ("bf16", "fp16") else "no"
