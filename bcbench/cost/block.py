"""The ``cost`` block of a run record: what a trained model costs, with the units in the field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcbench.serial import JsonBlock


@dataclass
class CostBlock(JsonBlock):
    """What a trained model costs (units in the names: MiB, ms, images/s; FLOPs = 2 x MACs).

    Every field but ``train_seconds`` and ``train_throughput`` is None when ``cost.enabled`` is off.
    """

    params: int | None = None
    trainable_params: int | None = None
    flops: int | None = None
    macs: int | None = None
    model_mb: float | None = None
    infer_throughput: float | None = None  # compute only, images/s at infer_batch_size
    infer_batch_size: int | None = None
    throughput_by_batch: dict[str, float] | None = None
    batch_size_fallbacks: dict[str, int] | None = None
    latency_ms: dict[str, float] | None = None  # batch 1: p50, p90, p99, mean, std, min, max
    train_throughput: float | None = None  # images/s in the real training loop (data path included)
    train_batch_size: int | None = None
    train_split_ms: dict[str, float] | None = None
    peak_memory_mb: float | None = None
    memory: dict[str, Any] | None = None
    energy: dict[str, Any] | None = None
    device: str | None = None
    device_name: str | None = None
    threads: int | None = None
    precision: str | None = None
    channels_last: bool | None = None
    compiled: bool | None = None
    image_size: int | None = None
    end_to_end_infer_throughput: float | None = None  # bcbench's data path + forward, images/s
    end_to_end_batch_size: int | None = None
    train_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
