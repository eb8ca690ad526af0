"""``build_data``: discover, scan and hash, set aside unusable files, find (and with ``data.dedupe`` drop)
duplicates, split, then decode once; the result is a ``DataBundle``.

Training code takes uint8 tensors from ``DataBundle.tensors`` and runs ``BatchAugmenter`` and
``Normalizer`` on whole batches on whatever device holds them; nothing after decoding touches PIL.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bcbench.config import DataConfig
from bcbench.data.audit import data_audit, warn_about_audit, warn_skipped
from bcbench.data.decode import DecodedImages, Progress, StreamedImages, decode_images
from bcbench.data.discover import ImageRecord, discover_images
from bcbench.data.scan import (
    ScannedFile,
    Skipped,
    duplicate_groups,
    duplicates_to_drop,
    pillow_bomb_check_suspended,
    relpath_of,
    scan_files,
    set_aside_unusable,
)
from bcbench.data.split import SPLITS, read_manifest, split_sha256, splits_from_manifest, stratified_split
from bcbench.data.synthetic import ensure_synthetic_dataset
from bcbench.errors import DataError


@dataclass
class DataBundle:
    """A decoded data set and its split, ready for training, with an audit of what was left out.

    ``skipped``: unusable files left out with ``data.on_bad_image: skip``, as ``{"path", "reason"}``
    (path relative to ``root``). ``audit``: JSON-serialisable summary, see ``data_audit``.
    """

    root: Path
    classes: list[str]
    images: DecodedImages
    splits: dict[str, np.ndarray]
    split_hash: str
    audit: dict[str, Any] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    def indices(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise DataError(f"unknown split {split!r}; use one of {', '.join(self.splits)}")
        return self.splits[split]

    def counts(self) -> dict[str, int]:
        return {name: int(indices.size) for name, indices in self.splits.items()}

    def class_counts(self, split: str) -> list[int]:
        labels = self.images.labels.numpy()[self.indices(split)]
        return np.bincount(labels, minlength=len(self.classes)).tolist()

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images [n, 3, H, W], int64 labels [n]) of one split, in index order."""
        index = torch.from_numpy(self.indices(split))
        images = self.images.images
        selected = (
            images.subset(index) if isinstance(images, StreamedImages) else images.index_select(0, index)
        )
        return selected, self.images.labels.index_select(0, index)

    def relpaths(self, split: str) -> list[str]:
        return [self.images.relpaths[int(i)] for i in self.indices(split)]


def build_data(data_config: DataConfig, progress: Progress | None = None) -> DataBundle:
    """Resolve the root (None = the embedded synthetic set), discover, scan and hash, set aside unusable
    files, find (and with ``data.dedupe`` drop) duplicates, split, then decode once.

    Files that only fail when decoded (damage past the header) are found after the split; with
    ``on_bad_image: skip`` the split is then made again without them, exactly as if they had been caught
    by the scan or were not on disk, so every class keeps its place in every split.
    """
    with pillow_bomb_check_suspended():
        return _build_data(data_config, progress)


def _build_data(data_config: DataConfig, progress: Progress | None) -> DataBundle:
    root = resolve_root(data_config)
    classes, records = discover_images(root, data_config.mask_patterns, data_config.extensions)
    _require_two_classes(root, classes)
    scanned = scan_files(records, data_config.max_image_pixels)
    usable, skipped = set_aside_unusable(root, scanned, data_config.on_bad_image)
    if skipped:
        warn_skipped(skipped, "scanning")
    groups = duplicate_groups(usable)
    removed = duplicates_to_drop(groups) if data_config.dedupe else []
    kept = _without(usable, removed)
    _require_images_in_every_class(root, classes, kept, skipped, removed)
    excluded = {entry["path"] for entry in skipped} | set(removed)
    splits: dict[str, np.ndarray] | None = None
    manifest_dropped: list[str] = []
    try:  # before decoding, so that a bad manifest or split fails fast
        splits, manifest_dropped = _make_splits(data_config, root, kept, classes, excluded)
    except DataError:
        if data_config.on_bad_image == "error":
            raise
        # the split may fail because of files that decoding will skip: try again after decoding
    hashes = [str(f.sha256) for f in kept]
    if data_config.storage == "stream":
        decoded = _streamed(root, [file.record for file in kept], classes, data_config, hashes)
    else:
        decoded = decode_images(root, [file.record for file in kept], classes, data_config, progress, hashes)
    if decoded.skipped:
        warn_skipped(decoded.skipped, "decoding")
        skipped = skipped + decoded.skipped
        kept = _without(kept, [entry["path"] for entry in decoded.skipped])
        _require_images_in_every_class(root, classes, kept, skipped, removed)
        excluded |= {entry["path"] for entry in decoded.skipped}
    if decoded.skipped or splits is None:
        splits, manifest_dropped = _make_splits(data_config, root, kept, classes, excluded)
    relpaths = [relpath_of(file) for file in kept]
    audit = data_audit(len(records), kept, splits, groups, removed, skipped, manifest_dropped)
    warn_about_audit(audit, data_config.dedupe)
    return DataBundle(
        root=root,
        classes=classes,
        images=decoded,
        splits=splits,
        split_hash=split_sha256(relpaths, splits),
        audit=audit,
        skipped=[dict(entry) for entry in skipped],
    )


def _streamed(
    root: Path,
    records: Sequence[ImageRecord],
    classes: Sequence[str],
    data_config: DataConfig,
    hashes: list[str],
) -> DecodedImages:
    """The data set without decoding anything: batches are decoded when the training loop gathers them."""
    return DecodedImages(
        images=StreamedImages([root / record.relpath for record in records], data_config),
        labels=torch.tensor([record.label for record in records], dtype=torch.int64),
        relpaths=[record.relpath for record in records],
        classes=list(classes),
        sha256=hashes,
    )


def resolve_root(data_config: DataConfig) -> Path:
    if data_config.root is None:
        return ensure_synthetic_dataset(data_config.synthetic_dir)
    return Path(data_config.root).expanduser()


def resolve_manifest(manifest: str, root: Path) -> Path:
    """A relative manifest path is looked up in the data root first, then the working directory."""
    path = Path(manifest).expanduser()
    if not path.is_absolute() and (root / path).is_file():
        return root / path
    return path


def _without(files: Sequence[ScannedFile], relpaths: Collection[str]) -> list[ScannedFile]:
    left_out = set(relpaths)
    return [file for file in files if relpath_of(file) not in left_out]


def _require_two_classes(root: Path, classes: Sequence[str]) -> None:
    if len(classes) < 2:
        raise DataError(
            f"data root {root} has only one class folder, {classes[0]!r}; a classifier needs at least 2 "
            "classes: add a subfolder of images for each other class"
        )


def _require_images_in_every_class(
    root: Path,
    classes: Sequence[str],
    kept: Sequence[ScannedFile],
    skipped: Sequence[Skipped],
    removed: Sequence[str],
) -> None:
    present = {file.record.label for file in kept}
    for label, name in enumerate(classes):
        if label not in present:
            raise DataError(
                f"class {name!r} has no usable images left ({len(skipped)} unusable file(s) skipped, "
                f"{len(removed)} duplicate(s) removed in all); fix its images in {root / name} "
                "or remove the folder"
            )


def _make_splits(
    data_config: DataConfig,
    root: Path,
    files: Sequence[ScannedFile],
    classes: list[str],
    excluded: Collection[str],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """(index arrays into ``files``, excluded paths that the manifest lists and that were dropped)."""
    relpaths = [relpath_of(file) for file in files]
    dropped: list[str] = []
    if data_config.manifest is not None:
        manifest, assigned = read_manifest(resolve_manifest(data_config.manifest, root))
        splits = splits_from_manifest(manifest, assigned, relpaths, excluded)
        dropped = sorted(path for path in assigned if path in excluded)
        remedy = f"list some images as {{split}} in {data_config.manifest}"
    else:
        labels = [file.record.label for file in files]
        splits = stratified_split(
            labels, data_config.test_fraction, data_config.val_fraction, data_config.split_seed, classes
        )
        remedy = "set data.{split}_fraction above 0"
    for name in SPLITS:
        if splits[name].size == 0:
            raise DataError(
                f"the {name} split is empty but training needs train, val and test images; "
                + remedy.format(split=name)
            )
    return splits, dropped
