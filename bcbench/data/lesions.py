"""A data set's lesion masks, found and loaded once per build (``bundle_masks``) when a run needs them
(``explain.enabled``), and counted for the audit (``mask_audit``).

Where masks come from: a CSV index's ``mask`` column when it has one, otherwise the files beside each
image (``<stem>_mask.png``, ``<stem>_mask_1.png``, ...: the first of ``data.mask_patterns``), in class
folders and split folders alike. ``.npz`` files hold no masks. With ``data.cache_dir`` the packed masks
are kept in a small ``.npz`` beside the decoded images, keyed by every image's and mask file's content
hash (``bcbench.data.cache.MaskCache``), so a changed, added or removed mask file misses the cache.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bcbench.config import DataConfig
from bcbench.data.cache import MaskCache
from bcbench.data.masks import MASK_PATTERN, PackedMasks, csv_mask_files, load_masks, mask_files_beside
from bcbench.data.scan import file_sha256
from bcbench.data.sources import Catalog
from bcbench.errors import DataError


def bundle_masks(
    source: Catalog, relpaths: Sequence[str], hashes: Sequence[str], data_config: DataConfig
) -> PackedMasks:
    """The masks of the images ``relpaths`` (in order; ``hashes`` their content hashes), shaped as the
    images are; a ``DataError`` when none of them has a mask file."""
    files = mask_files_of(source, relpaths, data_config)
    if not any(files):
        raise DataError(
            f"explain needs lesion masks but no image under {source.root} has one; put <stem>_mask.png "
            "beside each image (or a mask column in data.index), or set explain.enabled: false"
        )
    cache = None
    if data_config.cache_dir is not None:
        entries = [[(_relative(path, source.root), file_sha256(path)) for path in group] for group in files]
        cache = MaskCache.for_masks(data_config, relpaths, hashes, entries)
    cached = _cached(cache, len(relpaths), data_config.image_size)
    if cached is not None:
        return cached
    packed = load_masks([source.root / relpath for relpath in relpaths], files, data_config)
    if cache is not None:
        cache.save(packed.to_arrays())
    return packed


def mask_files_of(
    source: Catalog, relpaths: Sequence[str], data_config: DataConfig
) -> list[tuple[Path, ...]]:
    """Each image's mask files: from the index's ``mask`` column when it has one, else beside the image."""
    if source.kind == "csv" and source.described_by is not None:
        listed = csv_mask_files(source.described_by, source.root)
        if listed:
            return [listed.get(relpath, ()) for relpath in relpaths]
    pattern = next((p for p in data_config.mask_patterns if p), MASK_PATTERN)
    return mask_files_beside([source.root / relpath for relpath in relpaths], pattern)


def mask_audit(masks: PackedMasks, splits: dict[str, np.ndarray]) -> dict[str, Any]:
    """The audit's ``masks`` entry: images with a mask file, and per split the images with and without a
    lesion after preprocessing (those without are left out of the localisation scores)."""
    lesion = masks.has_lesion
    return {
        "with_mask_file": int(np.sum(masks.annotated)),
        "with_lesion": {name: int(lesion[index].sum()) for name, index in splits.items()},
        "without_lesion": {name: int((~lesion[index]).sum()) for name, index in splits.items()},
    }


def _cached(cache: MaskCache | None, count: int, side: int) -> PackedMasks | None:
    arrays = cache.load() if cache is not None else None
    if arrays is None:
        return None
    try:
        packed = PackedMasks.from_arrays(arrays)
    except KeyError:
        return None
    return packed if len(packed) == count and (packed.height, packed.width) == (side, side) else None


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()
