"""Small images with known lesions, and tiny networks that look at the lesion or at a planted shortcut."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SIDE = 32
BACKGROUND = 70
MARKER = slice(0, 5)  # the shortcut: a red square in the top-left corner


def lesion_images(
    count: int,
    seed: int,
    bright: np.ndarray | None = None,
    marked: np.ndarray | None = None,
    side: int = SIDE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [count, 3, side, side] gray noisy images, each with a round lesion of radius 4 somewhere away
    from the top-left corner (bright, 230, where ``bright`` says so, else dark, 10), and a red corner
    square where ``marked`` says so; and the lesions' masks bool [count, side, side]."""
    rng = np.random.default_rng(seed)
    bright = np.ones(count, bool) if bright is None else bright
    marked = np.zeros(count, bool) if marked is None else marked
    rows, columns = np.mgrid[:side, :side]
    images = np.clip(BACKGROUND + rng.normal(0, 12, (count, side, side)), 0, 255)
    masks = np.zeros((count, side, side), bool)
    for index in range(count):
        centre_row, centre_column = rng.integers(10, side - 5, size=2)
        masks[index] = (rows - centre_row) ** 2 + (columns - centre_column) ** 2 <= 16
        images[index][masks[index]] = 230 if bright[index] else 10
    colour = np.repeat(images[:, None], 3, axis=1)
    colour[marked, 0, MARKER, MARKER] = 255
    colour[marked, 1:, MARKER, MARKER] = 0
    return torch.from_numpy(colour.round().astype(np.uint8)), torch.from_numpy(masks)


class TinyCam(nn.Module):
    """conv - ReLU - pool - conv - ReLU (``features``), global average pool, linear: a CAM-style network."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 2))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def detector(red_minus_green: bool) -> TinyCam:
    """A TinyCam built by hand (inputs scaled to [0, 1]): its one used channel responds to bright gray
    blobs, or with ``red_minus_green`` only to red (the shortcut marker, not a gray lesion); class 1's
    logit grows with that response, class 0's falls."""
    model = TinyCam(channels=1)
    with torch.no_grad():
        first, second, linear = model.features[0], model.features[3], model.head[2]
        first.weight.zero_()
        if red_minus_green:
            first.weight[0, 0], first.weight[0, 1] = 1.0 / 9, -1.0 / 9
            first.bias.fill_(-0.3)
        else:
            first.weight[0] = 1.0 / 27
            first.bias.fill_(-0.6)
        second.weight.zero_()
        second.weight[0, 0, 1, 1] = 1.0
        second.bias.zero_()
        linear.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        linear.bias.zero_()
    return model


def trained(images: torch.Tensor, labels: torch.Tensor, steps: int = 150, seed: int = 0) -> TinyCam:
    """A TinyCam trained with Adam on ``images / 255`` (full batch): a few hundred milliseconds."""
    torch.manual_seed(seed)
    model = TinyCam()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    inputs = images.float() / 255
    for _ in range(steps):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimiser.step()
    return model.eval()
