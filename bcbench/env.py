"""The environment a measurement was taken in, captured one way for records, cost tables and tools."""

from __future__ import annotations

import functools
import importlib.metadata
import json
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
    """The commit bcbench runs from, read once per process: its checkout's HEAD, else the commit pip
    recorded when it installed bcbench from a git URL (PEP 610 ``direct_url.json``); None when unknown
    (installed from a folder or a wheel)."""
    return _checkout_head() or _installed_commit()


def _checkout_head() -> str | None:
    """HEAD of the git checkout whose top folder holds this bcbench; None for an installed bcbench, even
    one in a virtual environment inside some other repository (that repository's HEAD is not ours)."""
    checkout = Path(__file__).resolve().parents[1]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=checkout,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != checkout:
        return None
    return lines[1]


def _installed_commit() -> str | None:
    """``vcs_info.commit_id`` of the distribution that installed this very file (pip writes it for
    ``pip install git+URL``)."""
    try:
        distribution = importlib.metadata.distribution("bcbench")
    except importlib.metadata.PackageNotFoundError:
        return None
    installed_here = (
        Path(str(distribution.locate_file("bcbench/env.py"))).resolve() == Path(__file__).resolve()
    )
    text = distribution.read_text("direct_url.json") if installed_here else None
    try:
        commit = json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) and commit else None


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
