"""Devices, once: resolve a device, synchronise it, autocast dtypes, out-of-memory detection, names.

Every part of bcbench that touches a device goes through here, so a device is named the same way
everywhere: ``device`` is torch's string (``cuda:0``, ``cpu``) and ``device_name`` the hardware
(``NVIDIA H100 80GB HBM3``, or the CPU model read from ``/proc/cpuinfo``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import platform
from pathlib import Path
from typing import Literal

import torch

from bcbench.errors import BcbenchError

Precision = Literal["no", "fp16", "bf16"]
PRECISIONS: tuple[str, ...] = ("no", "fp16", "bf16")
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "bf16": torch.bfloat16}


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise BcbenchError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device`` with an explicit index on CUDA ("cuda" -> "cuda:<current>")."""
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise BcbenchError(f"device {device!r} requested but CUDA is not available; use --device cpu")
        if resolved.index is None:
            resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it means something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` at ``precision`` ("fp16"/"bf16"), or a no-op for "no"."""
    if precision == "no":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision])


def is_out_of_memory(error: BaseException) -> bool:
    """Out of memory on any device: CUDA's OutOfMemoryError, Python's MemoryError, or what Accelerate's
    ``should_reduce_batch_size`` recognises (CUDA, XPU, MPS and CPU allocator messages)."""
    from accelerate.utils.memory import should_reduce_batch_size

    if isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, Exception) and should_reduce_batch_size(error)


def free_cached_memory() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def device_name(device: torch.device | str) -> str:
    """The hardware behind ``device``: the GPU's name, or the CPU model."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return cpu_name()
    return device.type


@functools.cache
def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"
