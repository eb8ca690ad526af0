"""Peak memory and energy: what is measured on the CPU, and clear reasons when it cannot be."""

from __future__ import annotations

import pytest
import torch

from bcbench.cost import (
    measure_latency,
)
from bcbench.cost.memory import energy_per_image, peak_memory_mb, reset_peak_memory
from bcbench.cost.timing import Workload
from bcbench.errors import BcbenchError
from tests.cost.helpers import tiny_cnn


def test_cpu_memory_is_process_rss() -> None:
    reset_peak_memory("cpu")
    memory = peak_memory_mb("cpu")
    assert set(memory) == {"rss"} and memory["rss"] > 0


def test_energy_on_cpu_is_none_with_a_reason() -> None:
    result = energy_per_image(tiny_cnn(), Workload(16, "cpu"))
    assert result["joules_per_image"] is None
    assert "CUDA" in result["reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is missing")
def test_cuda_requested_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(BcbenchError, match="CUDA is not available"):
        measure_latency(tiny_cnn(), Workload(16, "cuda", iterations=1))
