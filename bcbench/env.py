"""The environment a measurement was taken in, captured one way for records, cost tables and tools."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bcbench.serial import JsonBlock


def capture_environment(device: Any = "cpu", **extra: Any) -> dict[str, Any]:
    """Versions, device (torch string and hardware name), threads, platform and git sha, plus ``extra``
    (e.g. ``num_processes``, ``mixed_precision``). torch is imported here, so ``git_sha`` stays cheap."""
    import accelerate
    import PIL
    import torch
    import torchvision

    from bcbench.device import device_name

    device = torch.device(device)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "accelerate": accelerate.__version__,
        "pillow": PIL.__version__,
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "git_sha": git_sha(),
        **extra,
    }


@functools.cache
def git_sha() -> str | None:
    """The checkout's commit, read once per process; None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


@dataclass
class Environment(JsonBlock):
    """The ``env`` block of a run record (see ``capture_environment``)."""

    python: str | None = None
    torch: str | None = None
    torchvision: str | None = None
    accelerate: str | None = None
    pillow: str | None = None
    device: str | None = None
    device_name: str | None = None
    num_processes: int | None = None
    process_index: int | None = None
    mixed_precision: str | None = None
    threads: int | None = None
    thread_source: str | None = None  # config, OMP_NUM_THREADS or free cores (bcbench.threads)
    cpus_available: int | None = None
    load_start: float | None = None  # 1-minute load average when the run started
    load_end: float | None = None  # ... and when it ended
    cpu_count: int | None = None
    cuda_available: bool | None = None
    platform: str | None = None
    hostname: str | None = None
    git_sha: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
