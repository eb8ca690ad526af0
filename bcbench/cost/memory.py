"""Peak memory (CUDA allocator or the process's resident set) and GPU energy per image (NVML)."""

from __future__ import annotations

import functools
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bcbench.cost.static import MIB
from bcbench.cost.timing import Workload, inference_step, prepared_for_inference, warm_up
from bcbench.device import free_cached_memory, synchronize

ENERGY_MIN_SECONDS = 1.0  # NVML energy counter updates every few ms to ~100 ms: run long enough to resolve it


def reset_peak_memory(device: str | torch.device) -> bool:
    """Start a new peak-memory window; returns whether the platform allowed it.

    CUDA: empties the allocator's cache (so "reserved" is not inflated by earlier work), then
    ``torch.cuda.reset_peak_memory_stats``. Linux CPU: writing "5" to /proc/self/clear_refs resets
    the process's peak resident set size (VmHWM). Elsewhere the peak is the process's lifetime peak.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free_cached_memory()
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
    model: nn.Module, workload: Workload, batch_size: int = 32, min_seconds: float = ENERGY_MIN_SECONDS
) -> dict[str, Any]:
    """GPU energy per image (joules) from NVML's total-energy counter around a throughput loop.

    The loop runs for at least ``min_seconds`` so the counter's update interval is negligible.
    The figure is the whole GPU's energy (idle power included, other processes too). Without CUDA,
    pynvml (package nvidia-ml-py) or counter support, returns ``joules_per_image: None`` and the
    ``reason``.
    """
    workload = workload.checked()
    device = workload.torch_device
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
        with prepared_for_inference(model, device, workload.channels_last):
            step = inference_step(model, workload.images(batch_size), device, workload.precision)
            warm_up(step, workload.warmup, device, workload.precision)
            counter = functools.partial(pynvml.nvmlDeviceGetTotalEnergyConsumption, handle)
            return _energy_of(counter, step, device, batch_size, min_seconds)
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
