"""On a GPU the corruptions give the CPU's pixels: the same draws (made on the CPU) and only
elementwise IEEE arithmetic or exact integer sums (run by scripts/device_check.sh: pytest -m cuda)."""

from __future__ import annotations

import pytest
import torch

from bcbench.robustness import CORRUPTIONS, SEVERITIES, corrupt, corrupted_sets
from tests.robustness.images import ultrasound_like

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_cuda_equals_cpu(name):
    images = ultrasound_like(3, 96)
    keys = ["a", "b", "c"]
    for severity in SEVERITIES:
        on_gpu = corrupt(images.cuda(), keys, name, severity)
        assert on_gpu.device.type == "cuda"
        assert torch.equal(on_gpu.cpu(), corrupt(images, keys, name, severity)), (name, severity)


def test_whole_set_iterator_on_cuda_keeps_the_device():
    images = ultrasound_like(4, 64).cuda()
    for corrupted in corrupted_sets(images, list(range(4)), "ultrasound", [0, 3], max_bytes=2**20):
        assert corrupted.images.device == images.device and corrupted.images.shape == images.shape
