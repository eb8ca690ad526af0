"""Localisation scores of explanation maps against lesion masks, vectorised over a batch of images.

Every function takes maps [N, H, W] (non-negative floats; larger = more evidence) and boolean masks
[N, H, W] with at least one lesion pixel each (images without a lesion are left out before scoring), and
returns one float per image:

- ``pointing_game`` (Zhang et al., ECCV 2016): 1 when the map's maximum lies within the mask dilated by
  ``tolerance`` pixels (Euclidean), else 0;
- ``energy_pointing_game`` (Wang et al., Score-CAM, CVPR-W 2020): the share of the map's mass inside the
  mask;
- ``top_percent_iou``: IoU of the map's top ``k`` percent of pixels with the mask;
- ``average_precision``: the map's values as scores for the mask's pixels, the step-wise average precision
  of scikit-learn's ``average_precision_score`` (ties form one threshold).

A map that is flat (one value everywhere, e.g. zero after ReLU) carries no information and scores what a
guess uniform over the image scores: pointing game = the dilated mask's share of the image (each of the
tied maxima counts for its share, which for a unique maximum is simply 1 or 0), energy = the mask's
share, top-k IoU with every pixel in the top set (ties at the k-th value are all included), AP = the
mask's share. So a dead map never looks like a hit.

The pointing-game tolerance is given at 224 px (``tolerance_px``, 15 as in Zhang et al.) and scaled with
the image side by ``scaled_tolerance``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

REFERENCE_SIDE = 224


def scaled_tolerance(tolerance_px: float, side: int) -> float:
    """The pointing-game tolerance in pixels for images ``side`` px high (given at 224 px)."""
    return float(tolerance_px) * side / REFERENCE_SIDE


def dilate(masks: np.ndarray, radius: float) -> np.ndarray:
    """bool [N, H, W]: pixels within Euclidean distance ``radius`` of a mask pixel (centres)."""
    if radius <= 0:
        return masks.copy()
    dilated = np.empty_like(masks)
    for row, mask in enumerate(masks):
        dilated[row] = ndimage.distance_transform_edt(~mask) <= radius
    return dilated


def pointing_game(maps: np.ndarray, near_masks: np.ndarray) -> np.ndarray:
    """Share of each map's maximal pixels within its dilated mask ``near_masks`` (``dilate(masks,
    tolerance)``): 1 or 0 when the maximum is unique."""
    flat = maps.reshape(len(maps), -1)
    at_peak = flat == flat.max(axis=1, keepdims=True)
    hits = at_peak & near_masks.reshape(len(near_masks), -1)
    return hits.sum(axis=1) / at_peak.sum(axis=1)


def energy_pointing_game(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each map's mass inside its mask (the mask's area share for a map that sums to zero)."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    inside = masks.reshape(len(masks), -1)
    total = flat.sum(axis=1)
    area = inside.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (flat * inside).sum(axis=1) / total
    return np.where(total > 0, share, area)


def top_percent_iou(maps: np.ndarray, masks: np.ndarray, percent: float) -> np.ndarray:
    """IoU of each map's top ``percent`` % of pixels (``ceil``, ties at the cut all kept) with its mask."""
    flat = maps.reshape(len(maps), -1)
    inside = masks.reshape(len(masks), -1)
    keep = max(1, math.ceil(flat.shape[1] * percent / 100.0))
    cut = -np.partition(-flat, keep - 1, axis=1)[:, keep - 1 : keep]
    top = flat >= cut
    return (top & inside).sum(axis=1) / (top | inside).sum(axis=1)


def average_precision(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Average precision of each map's values as scores of its mask's pixels, as scikit-learn defines it:
    the sum over distinct thresholds of (recall gained) x (precision there)."""
    flat = maps.reshape(len(maps), -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    values = np.take_along_axis(flat, order, axis=1)
    positive = np.take_along_axis(masks.reshape(len(masks), -1), order, axis=1)
    true_positives = np.cumsum(positive, axis=1, dtype=np.float64)
    precision = true_positives / np.arange(1, flat.shape[1] + 1)
    # a tie group is one threshold: every positive in it gets the precision at the group's last pixel
    last_of_group = np.ones_like(positive)
    last_of_group[:, :-1] = values[:, :-1] != values[:, 1:]
    position = np.where(last_of_group, np.arange(flat.shape[1]), flat.shape[1] - 1)
    group_end = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1]
    at_end = np.take_along_axis(precision, group_end, axis=1)
    return (positive * at_end).sum(axis=1) / positive.sum(axis=1)


def localisation_scores(
    maps: np.ndarray, masks: np.ndarray, near_masks: np.ndarray, top_percent: Sequence[float]
) -> dict[str, np.ndarray]:
    """Every score of ``maps`` against ``masks`` by name: ``pointing`` (against ``near_masks``, the masks
    dilated by the tolerance, computed once for all maps of these images), ``energy``, ``iou<k>`` for each
    k in ``top_percent``, ``ap``."""
    scores = {
        "pointing": pointing_game(maps, near_masks),
        "energy": energy_pointing_game(maps, masks),
    }
    for percent in top_percent:
        scores[f"iou{percent:g}"] = top_percent_iou(maps, masks, percent)
    scores["ap"] = average_precision(maps, masks)
    return scores
