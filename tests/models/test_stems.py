"""The small-input stem of torchvision ResNets (MedMNIST's 28 px protocol)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bcbench.errors import ModelError
from bcbench.models import build_model, check_model
from tests.helpers import assert_one_line_error


def test_small_input_stem_keeps_28_px_resolution_through_the_first_stage():
    model = build_model("resnet18", 3, image_size=28, small_input_stem=True).eval()
    assert (
        model.conv1.kernel_size == (3, 3)
        and model.conv1.stride == (1, 1)
        and isinstance(model.maxpool, nn.Identity)
    )
    captured = {}

    def record_shape(module: nn.Module, args: object, output: torch.Tensor) -> None:
        captured["shape"] = output.shape

    model.layer1.register_forward_hook(record_shape)
    assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 3)
    assert captured["shape"][-2:] == (28, 28)  # the standard stem would give 7 x 7
    plain = build_model("resnet18", 3, image_size=28)
    assert plain.conv1.stride == (2, 2) and isinstance(plain.maxpool, nn.MaxPool2d)


@pytest.mark.parametrize("check", [True, False])
def test_small_input_stem_on_a_model_without_a_resnet_stem_is_an_error(check):
    with pytest.raises(ModelError) as error:
        if check:
            check_model("simple_cnn", small_input_stem=True)
        else:
            build_model("mobilenet_v3_small", 3, image_size=28, small_input_stem=True)
    assert_one_line_error(error, "small_input_stem applies to torchvision ResNets")
