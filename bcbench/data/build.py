"""``build_data``: from a source to a ``DataBundle``, in phases.

catalog (classes, files, groups, a given split) -> vet (read and hash every file once, set aside
unusable ones, find and with ``data.dedupe`` drop duplicates) -> split (a manifest, the source's own
split, a group-aware or a stratified split) -> decode once (or stream) -> audit. MedMNIST ``.npz``
files hold pixels, not files: ``bcbench.data.npz`` builds their bundle.

Training code takes uint8 tensors from ``DataBundle.tensors`` and runs ``BatchAugmenter`` and
``Normalizer`` on whole batches on whatever device holds them; nothing after decoding touches PIL.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bcbench.config import Config, DataConfig, shipped_configs_dir
from bcbench.data.audit import data_audit, warn_about_audit, warn_skipped
from bcbench.data.bundle import DataBundle
from bcbench.data.decode import DecodedImages, Progress, StreamedImages, decode_images
from bcbench.data.folds import carve_missing_validation, grouped_holdout
from bcbench.data.lesions import bundle_masks, mask_audit
from bcbench.data.npz import npz_bundle
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
from bcbench.data.sources import Catalog, catalog, source_kind
from bcbench.data.split import SPLITS, read_manifest, split_sha256, splits_from_manifest, stratified_split
from bcbench.data.synthetic import ensure_synthetic_dataset
from bcbench.errors import DataError

SHIPPED_CONFIGS = shipped_configs_dir()  # split files that ship with bcbench, installed or in a checkout
GroupPolicy = str  # "auto" | "required" | "ignore" (evaluation.groups)


def build_data(
    config: Config | DataConfig,
    progress: Progress | None = None,
    group_policy: GroupPolicy | None = None,
    masks: bool | None = None,
) -> DataBundle:
    """Resolve the root (None = the embedded synthetic set) and build its bundle (see the module doc).

    ``config`` is a whole ``Config`` (its ``evaluation.groups`` then says whether splits keep groups
    whole) or its ``data`` block (groups: ``group_policy``, default ``auto``). Files that only fail when
    decoded (damage past the header) are found after the split; with ``on_bad_image: skip`` the split is
    then made again without them, exactly as if they had been caught by the scan or were not on disk, so
    every class keeps its place in every split.

    ``masks``: also load each image's lesion mask (``bcbench.data.lesions``) into ``DataBundle.masks``
    and count them in the audit; default: what ``config.explain.enabled`` says (False for a data block).
    """
    data_config = config.data if isinstance(config, Config) else config
    if group_policy is None:
        group_policy = config.evaluation.groups if isinstance(config, Config) else "auto"
    if masks is None:
        masks = isinstance(config, Config) and config.explain.enabled
    root = resolve_root(data_config)
    if source_kind(data_config, root) == "npz":
        if masks:
            raise DataError(
                f"data.root {root} is an .npz file, which holds no lesion masks; explain needs image files "
                "with masks beside them (or a mask column in data.index): set explain.enabled: false"
            )
        return npz_bundle(root, data_config, progress, group_policy)
    with pillow_bomb_check_suspended():
        source = catalog(data_config, root)
        return _build_from_files(source, data_config, progress, group_policy, masks)


@dataclass
class Vetted:
    """The files of a catalog after vetting."""

    found: int
    kept: list[ScannedFile]
    skipped: list[Skipped]
    duplicates: list[list[ScannedFile]]
    removed: list[str]

    @property
    def excluded(self) -> set[str]:
        return {entry["path"] for entry in self.skipped} | set(self.removed)


def _build_from_files(
    source: Catalog,
    data_config: DataConfig,
    progress: Progress | None,
    group_policy: GroupPolicy,
    with_masks: bool = False,
) -> DataBundle:
    _require_two_classes(source)
    vetted = vet_files(source, data_config)
    splitter = _Splitter(source, data_config, group_policy)
    splits: dict[str, np.ndarray] | None = None
    try:  # before decoding, so that a bad manifest or split fails fast
        splits = splitter.split(vetted)
    except DataError:
        if data_config.on_bad_image == "error":
            raise  # with skip, the split may fail because of files that decoding will skip: retry after
    decoded = decode_files(source, vetted, data_config, progress)
    if decoded.skipped or splits is None:
        splits = splitter.split(vetted)
    audit = data_audit(
        vetted.found, vetted.kept, splits, vetted.duplicates, vetted.removed, vetted.skipped, splitter.dropped
    )
    warn_about_audit(audit, data_config.dedupe)
    relpaths = [relpath_of(file) for file in vetted.kept]
    masks = bundle_masks(source, decoded.relpaths, decoded.sha256, data_config) if with_masks else None
    if masks is not None:
        audit["masks"] = mask_audit(masks, splits)
    return DataBundle(
        root=source.root,
        classes=source.classes,
        decoded=decoded,
        splits=splits,
        split_hash=split_sha256(relpaths, splits),
        audit=audit,
        skipped=[dict(entry) for entry in vetted.skipped],
        groups=splitter.groups_of(vetted.kept),
        source=source.kind,
        masks=masks,
    )


def vet_files(source: Catalog, data_config: DataConfig) -> Vetted:
    scanned = scan_files(source.records, data_config.max_image_pixels)
    usable, skipped = set_aside_unusable(source.root, scanned, data_config.on_bad_image)
    if skipped:
        warn_skipped(skipped, "scanning")
    duplicates = duplicate_groups(usable)
    removed = duplicates_to_drop(duplicates) if data_config.dedupe else []
    vetted = Vetted(len(source.records), _without(usable, removed), skipped, duplicates, removed)
    _require_images_in_every_class(source, vetted)
    return vetted


def decode_files(
    source: Catalog, vetted: Vetted, data_config: DataConfig, progress: Progress | None
) -> DecodedImages:
    """Decode the kept files once (or prepare to stream them); files that fail are left out of ``vetted``."""
    records = [file.record for file in vetted.kept]
    hashes = [str(file.sha256) for file in vetted.kept]
    if data_config.storage == "stream":
        decoded = _streamed(source.root, records, source.classes, data_config, hashes)
    else:
        decoded = decode_images(source.root, records, source.classes, data_config, progress, hashes)
    if decoded.skipped:
        warn_skipped(decoded.skipped, "decoding")
        vetted.skipped += decoded.skipped
        vetted.kept = _without(vetted.kept, [entry["path"] for entry in decoded.skipped])
        _require_images_in_every_class(source, vetted)
    return decoded


class _Splitter:
    """The holdout split of a catalog: a manifest, else the source's own split (a missing val carved
    from train), else a group-aware split when there are groups, else a stratified one."""

    def __init__(self, source: Catalog, data_config: DataConfig, group_policy: GroupPolicy) -> None:
        self.source = source
        self.config = data_config
        self.grouped = _use_groups(source, group_policy)
        self.dropped: list[str] = []  # manifest rows left out as skipped or duplicate

    def groups_of(self, files: Sequence[ScannedFile]) -> np.ndarray | None:
        if not self.grouped:
            return None
        return np.array([self.source.groups[relpath_of(file)] for file in files], dtype=object)

    def split(self, vetted: Vetted) -> dict[str, np.ndarray]:
        files = vetted.kept
        relpaths = [relpath_of(file) for file in files]
        labels = np.array([file.record.label for file in files], dtype=np.int64)
        config, classes, groups = self.config, self.source.classes, self.groups_of(files)
        if config.manifest is not None:
            manifest, assigned = read_manifest(resolve_manifest(config.manifest, self.source.root))
            self.dropped = sorted(path for path in assigned if path in vetted.excluded)
            splits = splits_from_manifest(manifest, assigned, relpaths, vetted.excluded)
            remedy = f"list some images as {{split}} in {config.manifest}"
        elif self.source.given is not None:
            where = self.source.described_by or self.source.root
            splits = splits_from_manifest(where, self.source.given, relpaths, vetted.excluded)
            splits = carve_missing_validation(
                splits, labels, groups, config.val_fraction, config.split_seed, classes
            )
            remedy = f"give some images the {{split}} split in {where}"
        elif groups is not None:
            splits = grouped_holdout(
                labels, groups, config.test_fraction, config.val_fraction, config.split_seed, classes
            )
            remedy = "set data.{split}_fraction above 0"
        else:
            splits = stratified_split(
                labels, config.test_fraction, config.val_fraction, config.split_seed, classes
            )
            remedy = "set data.{split}_fraction above 0"
        _require_every_split(splits, remedy)
        return splits


def _use_groups(source: Catalog, group_policy: GroupPolicy) -> bool:
    if group_policy == "required" and not source.groups:
        where = source.described_by or source.root
        raise DataError(
            f"evaluation.groups is required but {where} has no group column; add a group column "
            "(patient or lesion id) to data.index, or set evaluation.groups: auto"
        )
    if source.groups and len(source.groups) < len(source.records):
        missing = next(r.relpath for r in source.records if r.relpath not in source.groups)
        raise DataError(f"{source.described_by}: {missing!r} has an empty group; give every row a group")
    return bool(source.groups) and group_policy != "ignore"


def _require_every_split(splits: dict[str, np.ndarray], remedy: str) -> None:
    for name in SPLITS:
        if splits[name].size == 0:
            raise DataError(
                f"the {name} split is empty but training needs train, val and test images; "
                + remedy.format(split=name)
            )


def _streamed(
    root: Path,
    records: Sequence[Any],
    classes: Sequence[str],
    data_config: DataConfig,
    hashes: list[str],
) -> DecodedImages:
    """The data set without decoding anything: batches are decoded when the training loop gathers them."""
    return DecodedImages(
        pixels=StreamedImages([root / record.relpath for record in records], data_config),
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
    """A relative manifest path is looked up in the data root, the working directory, then bcbench's
    shipped ``configs/`` folder (where ``splits/busi_paper_split.csv`` lives)."""
    path = Path(manifest).expanduser()
    if path.is_absolute():
        return path
    for candidate in (root / path, path, SHIPPED_CONFIGS / path):
        if candidate.is_file():
            return candidate
    return path


def _without(files: Sequence[ScannedFile], relpaths: Collection[str]) -> list[ScannedFile]:
    left_out = set(relpaths)
    return [file for file in files if relpath_of(file) not in left_out]


def _require_two_classes(source: Catalog) -> None:
    if len(source.classes) < 2:
        what = "class folder" if source.kind == "folders" else "class"
        raise DataError(
            f"data root {source.root} has only one {what}, {source.classes[0]!r}; a classifier needs at "
            "least 2 classes: add images of each other class"
        )


def _require_images_in_every_class(source: Catalog, vetted: Vetted) -> None:
    present = {file.record.label for file in vetted.kept}
    for label, name in enumerate(source.classes):
        if label not in present:
            raise DataError(
                f"class {name!r} has no usable images left ({len(vetted.skipped)} unusable file(s) skipped, "
                f"{len(vetted.removed)} duplicate(s) removed in all); fix its images in {source.root / name} "
                "or remove the folder"
            )
