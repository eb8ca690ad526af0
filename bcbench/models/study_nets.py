"""The reference study's own networks, registered as ``simple_cnn`` and ``study_mobilenet``."""

from __future__ import annotations

import torch
from torch import nn

from bcbench.errors import ModelError
from bcbench.models.registry import register


def _conv_output_size(size: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class SimpleCNN(nn.Module):
    """The study's custom CNN: two conv/ReLU/max-pool stages, then a three-layer MLP with dropout."""

    def __init__(self, num_classes: int, image_size: int = 224) -> None:
        super().__init__()
        side = image_size // 2 // 2
        if side < 1:
            raise ModelError(f"simple_cnn needs image_size >= 4, got {image_size}; raise data.image_size")
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * side * side, 512),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(512, 128),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(128, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


class DepthwiseSeparable(nn.Sequential):
    """Depthwise 3x3 conv (no norm or activation after it), then pointwise 1x1 conv + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels),
            nn.Conv2d(in_channels, out_channels, 1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class StudyMobileNet(nn.Module):
    """The study's from-scratch MobileNet-v1-like network with a large fully connected head."""

    blocks = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2))  # (in, out, stride)

    def __init__(self, num_classes: int, image_size: int = 224) -> None:
        super().__init__()
        side = _conv_output_size(image_size, stride=2)
        layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU()]
        for in_channels, out_channels, stride in self.blocks:
            layers.append(DepthwiseSeparable(in_channels, out_channels, stride))
            side = _conv_output_size(side, stride=stride)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * side * side, 1024),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(1024, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


@register("simple_cnn")
def simple_cnn(num_classes: int, image_size: int = 224) -> nn.Module:
    return SimpleCNN(num_classes, image_size)


@register("study_mobilenet")
def study_mobilenet(num_classes: int, image_size: int = 224) -> nn.Module:
    return StudyMobileNet(num_classes, image_size)
