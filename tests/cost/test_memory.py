"""Peak memory and energy: what is measured on the CPU, and clear reasons when it cannot be."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest
import torch

from bcbench.cost import (
    measure_latency,
)
from bcbench.cost.memory import energy_per_image, peak_memory_mb, reset_peak_memory
from bcbench.cost.timing import Workload
from bcbench.errors import BcbenchError
from tests.cost.helpers import tiny_cnn


def _status_mib(field: str) -> float:
    """A field of /proc/self/status (kB) in MiB, read here independently of bcbench."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
def test_cpu_memory_is_the_peak_rss_since_the_reset() -> None:
    """After the reset the peak is the resident set of now; touching 16 MiB raises it by at least that,
    and it stays there after the memory is freed (a high-water mark)."""
    assert reset_peak_memory("cpu")
    memory = peak_memory_mb("cpu")
    assert set(memory) == {"rss"}
    assert abs(memory["rss"] - _status_mib("VmRSS:")) < 8  # the reset brought the peak down to now
    with mmap.mmap(-1, 16 * 2**20) as block:  # fresh pages, never memory malloc already holds
        np.frombuffer(block, dtype=np.uint8)[:] = 1  # every page written: 16 MiB resident
        during = _status_mib("VmRSS:")
    after = peak_memory_mb("cpu")["rss"]
    assert after >= memory["rss"] + 15 and after >= during - 1
    assert after == pytest.approx(_status_mib("VmHWM:"), abs=1)


def test_energy_on_cpu_is_none_with_a_reason() -> None:
    result = energy_per_image(tiny_cnn(), Workload(16, "cpu"))
    assert result["joules_per_image"] is None
    assert "CUDA" in result["reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is missing")
def test_cuda_requested_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(BcbenchError, match="CUDA is not available"):
        measure_latency(tiny_cnn(), Workload(16, "cuda", iterations=1))
