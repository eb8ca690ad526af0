"""Helpers of the cost tests: a tiny CNN and the cost block's keys."""

from __future__ import annotations

from torch import nn

CONTRACT_KEYS = {
    "params", "trainable_params", "flops", "macs", "model_mb", "infer_throughput", "throughput_by_batch",
    "latency_ms", "train_throughput", "train_split_ms", "peak_memory_mb", "memory", "energy", "device",
    "threads", "precision", "channels_last", "compiled",
}  # fmt: skip


def tiny_cnn(num_classes: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )
