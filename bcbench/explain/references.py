"""Reference maps that know nothing about the image, scored exactly as a model's maps are, so that a
reader can tell a model's skill from a data set's bias.

- ``centre_prior``: a Gaussian at the image centre with sigma = ``CENTRE_SIGMA`` (a quarter) of the side,
  so the central half of the image holds most of its mass (lesions in BUSI crops are often central). Its
  pointing game, top-k IoU and AP depend only on the ranking of pixels by distance from the centre, not on
  sigma; sigma sets only the energy share.
- ``uniform_random_maps``: i.i.d. uniform values, seeded per image (``[seed, image index]``), so a map
  does not depend on the batch or the run: its expected scores are chance (AP = the lesion's share of the
  image, energy = the same, pointing game = the dilated lesion's share).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CENTRE_SIGMA = 0.25
RANDOM_SEED = 20180820  # any fixed number: the random reference is the same in every run


def centre_prior(height: int, width: int, sigma_fraction: float = CENTRE_SIGMA) -> np.ndarray:
    """float32 [height, width]: exp(-d^2 / (2 sigma^2)) of the distance d of each pixel centre from the image
    centre, sigma = ``sigma_fraction`` x the shorter side; 1 at the centre."""
    sigma = sigma_fraction * min(height, width)
    rows = (np.arange(height) - (height - 1) / 2.0) ** 2
    columns = (np.arange(width) - (width - 1) / 2.0) ** 2
    return np.exp(-(rows[:, None] + columns[None, :]) / (2.0 * sigma**2)).astype(np.float32)


def centre_prior_maps(
    count: int, height: int, width: int, sigma_fraction: float = CENTRE_SIGMA
) -> np.ndarray:
    """float32 [count, height, width]: the centre prior for each of ``count`` images (a read-only view)."""
    return np.broadcast_to(centre_prior(height, width, sigma_fraction), (count, height, width))


def uniform_random_maps(
    image_indices: Sequence[int], height: int, width: int, seed: int = RANDOM_SEED
) -> np.ndarray:
    """float32 [len(image_indices), height, width]: uniform [0, 1) maps, image i's from ``[seed, i]``."""
    maps = np.empty((len(image_indices), height, width), dtype=np.float32)
    for row, index in enumerate(image_indices):
        maps[row] = np.random.default_rng([seed, int(index)]).random((height, width), dtype=np.float32)
    return maps
