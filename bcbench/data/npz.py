"""MedMNIST ``.npz`` files: pixels and labels per split in one file (``{train,val,test}_images`` and
``_labels``), grey ``[N, H, W]`` or RGB ``[N, H, W, 3]`` uint8, labels ``[N]`` or ``[N, 1]``.

The file's own split is used as given. Class names come from ``data.class_names`` or are
``class_0 .. class_k``. Each image goes through the same preprocessing as an image file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bcbench.config import DataConfig
from bcbench.data.audit import data_audit, warn_about_audit
from bcbench.data.bundle import DataBundle
from bcbench.data.decode import DecodedImages, Progress, preprocess
from bcbench.data.discover import ImageRecord
from bcbench.data.scan import ScannedFile, duplicate_groups
from bcbench.data.split import SPLITS, split_sha256
from bcbench.errors import DataError

KEYS = tuple(f"{split}_{part}" for split in SPLITS for part in ("images", "labels"))


def npz_bundle(
    path: Path, data_config: DataConfig, progress: Progress | None = None, group_policy: str = "auto"
) -> DataBundle:
    """The ``DataBundle`` of a MedMNIST-style ``.npz`` file, split as the file splits it (no groups)."""
    if group_policy == "required":
        raise DataError(
            f"evaluation.groups is required but {path} has no groups; set evaluation.groups: auto"
        )
    decoded, splits = npz_images(path, data_config, progress)
    scanned = [
        ScannedFile(ImageRecord(path, relpath, int(label)), digest)
        for relpath, label, digest in zip(
            decoded.relpaths, decoded.labels.tolist(), decoded.sha256, strict=True
        )
    ]
    audit = data_audit(len(scanned), scanned, splits, duplicate_groups(scanned), [], [], [])
    warn_about_audit(audit, dedupe=False)
    split_hash = split_sha256(decoded.relpaths, splits)
    return DataBundle(path, decoded.classes, decoded, splits, split_hash, audit, source="npz")


def npz_images(
    path: Path, data_config: DataConfig, progress: Progress | None = None
) -> tuple[DecodedImages, dict[str, np.ndarray]]:
    """Every image of the file, preprocessed, with the file's split (train, val, test in that order)."""
    arrays = read_npz(path)
    classes = npz_classes(path, arrays, data_config.class_names)
    images, labels, relpaths, splits = _stack(arrays, data_config, progress)
    hashes = [
        hashlib.sha256(pixels.tobytes()).hexdigest() for s in SPLITS for pixels in arrays[f"{s}_images"]
    ]
    decoded = DecodedImages(pixels=images, labels=labels, relpaths=relpaths, classes=classes, sha256=hashes)
    return decoded, splits


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The six arrays, checked: keys present, images uint8 grey or RGB, labels one integer per image."""
    if not path.is_file():
        raise DataError(f"data.root {path} does not exist; point it at a MedMNIST .npz file")
    try:
        with np.load(path, allow_pickle=False) as loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is not a readable .npz file ({error}); download it again") from None
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise DataError(
            f"{path} lacks key(s) {', '.join(missing)} (it has {', '.join(sorted(arrays)) or 'none'}); "
            "a MedMNIST file holds train/val/test _images and _labels"
        )
    for split in SPLITS:
        arrays[f"{split}_labels"] = _labels(path, split, arrays[f"{split}_images"], arrays[f"{split}_labels"])
        _check_images(path, split, arrays[f"{split}_images"])
    return arrays


def npz_classes(path: Path, arrays: dict[str, np.ndarray], class_names: tuple[str, ...]) -> list[str]:
    """``data.class_names``, or ``class_0..k``; a label outside them is an error naming key and value."""
    largest = max(int(arrays[f"{split}_labels"].max(initial=0)) for split in SPLITS)
    classes = list(class_names) or [f"class_{index}" for index in range(largest + 1)]
    for split in SPLITS:
        labels = arrays[f"{split}_labels"]
        bad = labels[(labels < 0) | (labels >= len(classes))]
        if bad.size:
            raise DataError(
                f"{path} key {split}_labels holds label {int(bad[0])}, outside 0..{len(classes) - 1} of the "
                f"{len(classes)} classes; fix data.class_names or the file"
            )
    if len(classes) < 2:
        raise DataError(f"{path} has only one class; a classifier needs at least 2")
    return classes


def _labels(path: Path, split: str, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path} key {split}_labels has shape {labels.shape} and type {labels.dtype}; bcbench needs one "
            "integer class per image (multi-label files are not supported)"
        )
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{path}: {split}_labels has {labels.shape[0]} labels for {images.shape[0]} images")
    return labels.astype(np.int64)


def _check_images(path: Path, split: str, images: np.ndarray) -> None:
    grey = images.ndim == 3
    rgb = images.ndim == 4 and images.shape[-1] == 3
    if images.dtype != np.uint8 or not (grey or rgb) or images.shape[0] == 0:
        raise DataError(
            f"{path} key {split}_images has shape {images.shape} and type {images.dtype}; expected uint8 "
            "[N, H, W] (grey) or [N, H, W, 3] (RGB) with N > 0"
        )


def _stack(
    arrays: dict[str, np.ndarray], data_config: DataConfig, progress: Progress | None
) -> tuple[torch.Tensor, torch.Tensor, list[str], dict[str, np.ndarray]]:
    """All images preprocessed into one uint8 tensor, in train, val, test order, with their split."""
    tensors, labels, relpaths, splits, start = [], [], [], {}, 0
    total = sum(arrays[f"{split}_images"].shape[0] for split in SPLITS)
    for split in SPLITS:
        images = arrays[f"{split}_images"]
        for index, pixels in enumerate(images):
            tensors.append(_preprocessed(pixels, data_config))
            relpaths.append(f"{split}/{index}")
            if progress is not None:
                progress(len(tensors), total)
        labels.append(arrays[f"{split}_labels"])
        splits[split] = np.arange(start, start + len(images), dtype=np.int64)
        start += len(images)
    return torch.stack(tensors), torch.from_numpy(np.concatenate(labels)), relpaths, splits


def _preprocessed(pixels: np.ndarray, data_config: DataConfig) -> torch.Tensor:
    image = Image.fromarray(pixels).convert("RGB")
    size = data_config.image_size
    if data_config.preprocess == "square" and image.size == (size, size):
        return (
            torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()
        )  # already the size: no resampling
    return preprocess(image, data_config.preprocess, size, data_config.resize_shorter)
