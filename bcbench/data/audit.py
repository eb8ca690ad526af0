"""The data audit: what was found, used, skipped, deduplicated, and which identical files cross classes or
splits (leakage)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from bcbench.data.scan import ScannedFile, Skipped, duplicate_groups, relpath_of

logger = logging.getLogger(__name__)


def data_audit(
    n_found: int,
    kept: Sequence[ScannedFile],
    splits: dict[str, np.ndarray],
    groups: Sequence[Sequence[ScannedFile]],
    removed: Sequence[str],
    skipped: Sequence[Skipped],
    manifest_dropped: Sequence[str],
) -> dict[str, Any]:
    """JSON-serialisable summary of the data set as used; relpaths are relative to the data root.

    ``n_found``: image files discovered; ``n_images``: images used. ``duplicate_groups``: byte-identical
    files as found (before ``dedupe``); ``label_conflicts``: those of them filed under different classes;
    ``cross_split_duplicates``: identical images among those used that sit in different splits (leakage);
    ``removed_duplicates``: files ``dedupe`` dropped; ``skipped``: unusable files left out, with the
    reason; ``manifest_dropped``: paths the manifest lists that were left out as skipped or duplicate.
    """
    split_of = {int(index): name for name, indices in splits.items() for index in indices}
    kept_groups = duplicate_groups(kept)
    position = {relpath_of(file): index for index, file in enumerate(kept)}
    cross_split = [
        group for group in kept_groups if len({split_of.get(position[relpath_of(f)]) for f in group}) > 1
    ]
    return {
        "n_found": n_found,
        "n_images": len(kept),
        "duplicate_groups": [[relpath_of(file) for file in group] for group in groups],
        "cross_split_duplicates": [[relpath_of(file) for file in group] for group in cross_split],
        "label_conflicts": [
            [relpath_of(file) for file in group]
            for group in groups
            if len({file.record.label for file in group}) > 1
        ],
        "removed_duplicates": list(removed),
        "skipped": [dict(entry) for entry in skipped],
        "manifest_dropped": list(manifest_dropped),
    }


def warn_skipped(skipped: Sequence[Skipped], stage: str) -> None:
    first = skipped[0]
    logger.warning(
        "skipping %d unusable image file(s) found while %s, e.g. %s: %s",
        len(skipped),
        stage,
        first["path"],
        first["reason"],
    )


def warn_about_audit(audit: dict[str, Any], dedupe: bool) -> None:
    if audit["label_conflicts"] and not dedupe:
        logger.warning(
            "%d group(s) of identical images are filed under different classes, e.g. %s; set data.dedupe "
            "to drop them",
            len(audit["label_conflicts"]),
            " = ".join(audit["label_conflicts"][0]),
        )
    if audit["cross_split_duplicates"]:
        logger.warning(
            "%d group(s) of identical images sit in different splits (leakage), e.g. %s; set data.dedupe "
            "to drop the copies",
            len(audit["cross_split_duplicates"]),
            " = ".join(audit["cross_split_duplicates"][0]),
        )
