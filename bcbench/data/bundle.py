"""``DataBundle``: a decoded data set and its split (built by ``bcbench.data.build``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bcbench.data.decode import DecodedImages, StreamedImages
from bcbench.data.masks import PackedMasks
from bcbench.data.scan import Skipped
from bcbench.data.split import split_sha256
from bcbench.errors import DataError


@dataclass
class DataBundle:
    """A decoded data set and its split, ready for training, with an audit of what was left out.

    ``groups``: each image's group (patient, lesion) when the source has them, else None.
    ``skipped``: unusable files left out with ``data.on_bad_image: skip``, as ``{"path", "reason"}``
    (path relative to ``root``). ``audit``: JSON-serialisable summary, see ``data_audit``. ``masks``: each
    image's lesion mask, in the images' order and geometry, when they were asked for (``explain``), else
    None; ``split_masks`` gives one split's.
    """

    root: Path
    classes: list[str]
    decoded: DecodedImages
    splits: dict[str, np.ndarray]
    split_hash: str
    audit: dict[str, Any] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    groups: np.ndarray | None = None
    source: str = "folders"
    masks: PackedMasks | None = None

    def indices(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise DataError(f"unknown split {split!r}; use one of {', '.join(self.splits)}")
        return self.splits[split]

    def counts(self) -> dict[str, int]:
        return {name: int(indices.size) for name, indices in self.splits.items()}

    def class_counts(self, split: str) -> list[int]:
        labels = self.decoded.labels.numpy()[self.indices(split)]
        return np.bincount(labels, minlength=len(self.classes)).tolist()

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images [n, 3, H, W], int64 labels [n]) of one split, in index order."""
        index = torch.from_numpy(self.indices(split))
        images = self.decoded.pixels
        selected = (
            images.subset(index) if isinstance(images, StreamedImages) else images.index_select(0, index)
        )
        return selected, self.decoded.labels.index_select(0, index)

    def split_masks(self, split: str) -> PackedMasks | None:
        """The lesion masks of one split, in index order (None when the bundle has none)."""
        return None if self.masks is None else self.masks.subset(self.indices(split))

    def relpaths(self, split: str) -> list[str]:
        return [self.decoded.relpaths[int(i)] for i in self.indices(split)]

    def labels(self) -> np.ndarray:
        return self.decoded.labels.numpy()

    def with_splits(self, splits: dict[str, np.ndarray]) -> DataBundle:
        """The same decoded images under another split (a cross-validation fold)."""
        return replace(self, splits=splits, split_hash=split_sha256(self.decoded.relpaths, splits))
