"""Parameters, FLOPs (2 per multiply-add) and size against torchvision's metadata and hand counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from bcbench.cost import (
    count_flops,
    count_parameters,
    model_size_mb,
)
from bcbench.errors import BcbenchError


@pytest.mark.parametrize(
    ("name", "params", "gmacs"), [("resnet101", 44_549_160, 7.801), ("mobilenet_v2", 3_504_872, 0.301)]
)
def test_counts_match_torchvision_metadata(name: str, params: int, gmacs: float) -> None:
    meta = get_model_weights(name).IMAGENET1K_V1.meta
    with torch.device("meta"):  # no weights allocated: FLOP counting works on shapes alone
        model = get_model(name, weights=None)
    counts = count_flops(model, image_size=224)
    assert count_parameters(model) == (params, params) == (meta["num_params"], meta["num_params"])
    assert counts["macs"] / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert counts["macs"] / 1e9 == pytest.approx(meta["_ops"], rel=0.01)  # torchvision's "GFLOPS" are MACs
    assert counts["flops"] == 2 * counts["macs"]


def test_flops_on_cpu_model_and_training_mode_restored() -> None:
    model = get_model("mobilenet_v2", weights=None).train()
    counts = count_flops(model, image_size=224)
    assert counts["macs"] / 1e9 == pytest.approx(0.301, rel=0.01)
    assert model.training


def test_flops_exact_for_hand_computable_layers() -> None:
    linear = nn.Sequential(nn.Flatten(), nn.Linear(1 * 4 * 4, 5, bias=False))
    assert count_flops(linear, image_size=4, channels=1) == {"flops": 2 * 16 * 5, "macs": 16 * 5}
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)  # 8x8 output, 8 filters of 3x3x3
    assert count_flops(conv, image_size=8) == {"flops": 2 * 8 * 8 * 8 * 27, "macs": 8 * 8 * 8 * 27}


def test_trainable_parameters_exclude_frozen() -> None:
    model = nn.Sequential(nn.Linear(10, 5), nn.Linear(5, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == (55 + 12, 12)


def test_model_size_halves_for_floats_and_keeps_integer_buffers() -> None:
    norm = nn.BatchNorm1d(4)  # 4 floats each: weight, bias, running mean, var; one int64 counter
    assert model_size_mb(norm, "no") * 2**20 == 16 * 4 + 8
    assert model_size_mb(norm, "bf16") * 2**20 == 16 * 2 + 8
    linear = nn.Linear(1000, 1000)
    assert model_size_mb(linear, "fp16") == pytest.approx(model_size_mb(linear, "no") / 2)
    with pytest.raises(BcbenchError, match="precision"):
        model_size_mb(linear, "fp8")
