"""The small-input stem for torchvision ResNets: a 3x3 stride-1 first convolution and no max-pool, so
28 px inputs (MedMNIST) keep their resolution through the first stage, as the MedMNIST v2 baselines do."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import ResNet

from bcbench.errors import ModelError


def use_small_input_stem(model: nn.Module, name: str) -> nn.Module:
    """Replace ``model``'s stem in place (freshly initialised as torchvision initialises ResNets)."""
    require_resnet(model, name)
    old = model.conv1
    conv = nn.Conv2d(old.in_channels, old.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    model.conv1 = conv.to(device=old.weight.device, dtype=old.weight.dtype)
    model.maxpool = nn.Identity()
    return model


def require_resnet(model: nn.Module, name: str) -> None:
    if not isinstance(model, ResNet):
        raise ModelError(
            f"model_options.{name}.small_input_stem applies to torchvision ResNets (resnet18, resnet50), "
            f"not {name}; remove the option or choose a ResNet"
        )


def check_small_input_stem(name: str, build: object) -> None:
    """Fail fast for a model that has no ResNet stem, building it on the meta device (no memory)."""
    with torch.device("meta"):
        require_resnet(build(), name)  # type: ignore[operator]
