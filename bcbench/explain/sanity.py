"""Sanity and stability of explanation maps (the criteria of Arun et al., Radiology: AI 2021).

- ``randomised_copy``: the model with every weight re-initialised (Adebayo et al., NeurIPS 2018, "Sanity
  checks for saliency maps"). All layers at once: the last step of their cascading randomisation, not the
  cascade itself, which would need one pass per layer. A map that is faithful to what the model learned
  must change and score worse on the copy.
- ``rank_correlation``: Spearman's rank correlation of two maps of the same image, per image (the
  structural-similarity alternative of Adebayo et al. depends on intensity scaling, ranks do not).
  Repeatability compares maps of one architecture trained with other seeds; reproducibility compares
  architectures, after ``resize_maps`` to a common size; ``pairwise_rank_correlation`` does every pair.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with every parameter re-initialised, ``model`` untouched.

    Modules with ``reset_parameters`` (convolutions, linear layers, batch norm, which also resets its
    running statistics) draw fresh weights from their own initialisers; any parameter left over (e.g. a
    layer scale held by a block) is permuted at random, which keeps its values but destroys what was learned.
    The global random state is left as it was.
    """
    clone = copy.deepcopy(model)
    devices = sorted({p.device.index or 0 for p in clone.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        reset: set[int] = set()
        for module in clone.modules():
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
                reset.update(id(p) for p in module.parameters(recurse=False))
        with torch.no_grad():
            for parameter in clone.parameters():
                if id(parameter) not in reset and parameter.numel() > 1:
                    order = torch.randperm(parameter.numel(), device=parameter.device)
                    parameter.copy_(parameter.flatten()[order].view_as(parameter))
    return clone


def resize_maps(maps: torch.Tensor | np.ndarray, size: int) -> np.ndarray:
    """float32 [N, size, size]: maps resized (bilinear, antialiased when shrinking) to compare models whose
    maps differ in size, or to store them small."""
    tensor = torch.as_tensor(np.asarray(maps) if not isinstance(maps, torch.Tensor) else maps).float()
    if tuple(tensor.shape[-2:]) == (size, size):
        return tensor.cpu().numpy()
    resized = F.interpolate(
        tensor[:, None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized[:, 0].cpu().numpy()


def rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman's rho [N] between ``first[i]`` and ``second[i]`` over pixels (ties get average ranks); NaN
    where a map is flat."""
    a = stats.rankdata(np.asarray(first, dtype=np.float64).reshape(len(first), -1), axis=1)
    b = stats.rankdata(np.asarray(second, dtype=np.float64).reshape(len(second), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)


def pairwise_rank_correlation(
    maps: Mapping[str, np.ndarray], image_ids: Sequence[object] | None = None
) -> pd.DataFrame:
    """One row per image and pair of keys of ``maps`` (seeds of one model for repeatability, models for
    reproducibility), columns ``image``, ``first``, ``second``, ``spearman``. Every array holds the same
    images in the same order, at one size (see ``resize_maps``)."""
    keys = list(maps)
    count = len(next(iter(maps.values()))) if keys else 0
    ids = list(image_ids) if image_ids is not None else list(range(count))
    frames = []
    for first, second in itertools.combinations(keys, 2):
        if maps[first].shape != maps[second].shape:
            raise ValueError(
                f"maps of {first!r} {maps[first].shape} and {second!r} {maps[second].shape} differ"
            )
        rho = rank_correlation(maps[first], maps[second])
        frames.append(pd.DataFrame({"image": ids, "first": first, "second": second, "spearman": rho}))
    columns = ["image", "first", "second", "spearman"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
