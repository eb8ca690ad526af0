"""Helpers of the deploy tests: tiny models (one exportable, two that are not), uint8 images, eager logits
computed here, independently of bcbench.deploy, as the oracle."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bcbench.data.normalize import IMAGENET_MEAN, IMAGENET_STD

SIZE = 16


def tiny_cnn(num_classes: int = 3, seed: int = 0) -> nn.Module:
    """Conv + BatchNorm + ReLU + pooling + linear: every op the real models use, in a few hundred weights.
    The head is scaled up and its bias centres the logits of a reference set of images, so that
    predictions spread over the classes."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 2.0)
        model[7].weight.mul_(8.0)
        model.eval()
        reference = model(normalized_by_hand(uint8_images(64, seed=99)))
        model[7].bias.sub_(reference.mean(dim=0))
    return model


class EigenvalueNet(nn.Module):
    """Uses torch.linalg.eigvalsh, which neither ONNX exporter can translate."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = images.mean(dim=(2, 3))
        return self.linear(features) + torch.linalg.eigvalsh(features.T @ features).sum()


class BranchNet(nn.Module):
    """Python control flow on the data: torch.export refuses it; the TorchScript tracer bakes in the branch
    the example input took."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = images.mean(dim=(2, 3))
        if features.sum() > 0:
            return self.linear(features)
        return -self.linear(features)


def uint8_images(count: int, seed: int, low: int = 0, high: int = 256, size: int = SIZE) -> torch.Tensor:
    """Random uint8 images [count, 3, size, size] in [low, high), with a per-image brightness and
    per-channel tint so that a small network's predictions differ between images."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-0.5, 0.5, size=(count, 3, size, size))
    level = rng.uniform(0.1, 0.9, size=(count, 3, 1, 1))
    values = low + (high - 1 - low) * np.clip(level + 0.4 * noise, 0.0, 1.0)
    return torch.from_numpy(np.round(values).astype(np.uint8))


def normalized_by_hand(images: torch.Tensor) -> torch.Tensor:
    """(x / 255 - mean) / std in float64, from the published ImageNet constants, then float32."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    return ((images.double() / 255.0 - mean) / std).float()


def eager_logits(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(normalized_by_hand(images)).double().numpy()


def softmax_by_hand(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
