"""The on-disk cache of decoded images (``data.cache_dir``): one ``.pt`` file per data set and preprocessing,
named after a key over every file's content hash, so any change to the data or preprocessing misses it.
Lesion masks, when a run needs them, get their own small ``.npz`` file beside it (``MaskCache``), keyed by
the images and every mask file's content hash, so that the images' cache does not change with them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import torch

from bcbench.atomic import atomic_open
from bcbench.config import DataConfig

logger = logging.getLogger(__name__)


CACHE_FORMAT = 2  # 2: the cache also holds the files skipped while decoding


def decode_cache_key(
    relpaths: Sequence[str],
    labels: Sequence[int],
    classes: Sequence[str],
    hashes: Sequence[str],
    data_config: DataConfig,
) -> str:
    """sha256 over the files (relpath, label, content hash), what happens to files that fail to decode and
    the preprocessing that produced the pixels."""
    shorter = data_config.resize_shorter if data_config.preprocess == "shorter_crop" else None
    payload = {
        "format": CACHE_FORMAT,
        "pillow": PIL.__version__,  # resampling filters have changed between Pillow releases
        "classes": list(classes),
        "files": [
            [path, int(label), digest] for path, label, digest in zip(relpaths, labels, hashes, strict=True)
        ],
        "on_bad_image": data_config.on_bad_image,
        "preprocess": data_config.preprocess,
        "image_size": data_config.image_size,
        "resize_shorter": shorter,
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class DecodeCache:
    """One ``.pt`` file of decoded images in ``data_config.cache_dir``, named after its key."""

    path: Path
    key: str

    @classmethod
    def for_files(
        cls,
        data_config: DataConfig,
        relpaths: Sequence[str],
        labels: Sequence[int],
        classes: Sequence[str],
        hashes: Sequence[str],
    ) -> DecodeCache | None:
        if data_config.cache_dir is None:
            return None
        key = decode_cache_key(relpaths, labels, classes, hashes, data_config)
        name = f"decoded-{data_config.preprocess}-{data_config.image_size}-{key[:24]}.pt"
        return cls(path=Path(data_config.cache_dir).expanduser() / name, key=key)

    def load(self, relpaths: Sequence[str], size: int) -> tuple[torch.Tensor, list[dict[str, str]]] | None:
        """(images, skipped files) saved for these files, or None when missing, stale or damaged."""
        if not self.path.is_file():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
            images, skipped = payload["images"], payload["skipped"]
            skipped_paths = {entry["path"] for entry in skipped}
            if (
                payload["key"] == self.key
                and skipped_paths <= set(relpaths)
                and all(isinstance(entry["reason"], str) for entry in skipped)
                and images.dtype == torch.uint8
                and images.shape == (len(relpaths) - len(skipped_paths), 3, size, size)
            ):
                return images, [{"path": entry["path"], "reason": entry["reason"]} for entry in skipped]
        except Exception as error:  # a damaged cache file is only a miss
            logger.warning("ignoring unreadable decode cache %s: %s", self.path, error)
        return None

    def save(self, images: torch.Tensor, skipped: Sequence[dict[str, str]] = ()) -> None:
        """Write the file atomically, so readers never see half of it; failures only warn."""
        try:
            # a file object, not a path: on a full disk torch.save then fails with the OSError, which
            # the atomic writer turns into a StorageError (an OSError too), not a bare RuntimeError
            with atomic_open(self.path, "wb") as handle:
                torch.save({"key": self.key, "images": images, "skipped": list(skipped)}, handle)
        except OSError as error:
            logger.warning("could not write decode cache %s: %s", self.path, error)


MASK_CACHE_FORMAT = 1


@dataclass(frozen=True)
class MaskCache:
    """One ``.npz`` file of packed lesion masks in ``data_config.cache_dir``, named after its key: the
    images (relpath, content hash), their mask files (relpath, content hash) and the geometry."""

    path: Path
    key: str

    @classmethod
    def for_masks(
        cls,
        data_config: DataConfig,
        relpaths: Sequence[str],
        hashes: Sequence[str],
        mask_files: Sequence[Sequence[tuple[str, str]]],
    ) -> MaskCache | None:
        """``mask_files``: per image, (relpath, sha256) of each of its mask files."""
        if data_config.cache_dir is None:
            return None
        shorter = data_config.resize_shorter if data_config.preprocess == "shorter_crop" else None
        payload = {
            "format": MASK_CACHE_FORMAT,
            "pillow": PIL.__version__,
            "images": [list(pair) for pair in zip(relpaths, hashes, strict=True)],
            "masks": [[list(entry) for entry in files] for files in mask_files],
            "preprocess": data_config.preprocess,
            "image_size": data_config.image_size,
            "resize_shorter": shorter,
        }
        key = hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()
        name = f"masks-{data_config.preprocess}-{data_config.image_size}-{key[:24]}.npz"
        return cls(path=Path(data_config.cache_dir).expanduser() / name, key=key)

    def load(self) -> dict[str, np.ndarray] | None:
        """The arrays saved under this key, or None when missing, stale or damaged."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            if str(arrays.pop("key")) == self.key:
                return arrays
        except Exception as error:  # a damaged cache file is only a miss
            logger.warning("ignoring unreadable mask cache %s: %s", self.path, error)
        return None

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        """Write the file atomically; failures only warn."""
        try:
            with atomic_open(self.path, "wb") as handle:
                np.savez(handle, key=np.asarray(self.key), **arrays)
        except OSError as error:
            logger.warning("could not write mask cache %s: %s", self.path, error)
