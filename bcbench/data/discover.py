"""Discover an ImageFolder tree: class folders (sorted names) and their image files, found recursively.

Skipped: files whose name contains a mask pattern, other extensions, hidden files and folders, and OS
junk (Thumbs.db, desktop.ini, __MACOSX).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bcbench.config import DataConfig
from bcbench.errors import DataError

logger = logging.getLogger(__name__)


DEFAULT_EXTENSIONS: tuple[str, ...] = DataConfig().extensions


JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


JUNK_FOLDERS = frozenset({"__macosx"})


@dataclass(frozen=True)
class ImageRecord:
    """One image file: its path (under the root as given), posix path relative to the root, class index."""

    path: Path
    relpath: str
    label: int


def discover_images(
    root: str | Path,
    mask_patterns: Sequence[str] = ("_mask",),
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
) -> tuple[list[str], list[ImageRecord]]:
    """Classes (sorted subfolder names) and their images, found recursively, sorted by relative path.

    Skipped: files whose name contains a mask pattern (case-insensitive), other extensions (matched
    case-insensitively), hidden files and folders, and OS junk (Thumbs.db, desktop.ini, __MACOSX).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data root {root} does not exist or is not a folder; set data.root to a folder "
            "with one subfolder of images per class"
        )
    classes = sorted(
        entry.name for entry in root.iterdir() if entry.is_dir() and not is_skipped_name(entry.name)
    )
    if not classes:
        raise DataError(
            f"data root {root} has no class folders; put each class's images in its own "
            f"subfolder, e.g. {root / 'benign'}"
        )
    suffixes = _normalised_extensions(extensions)
    patterns = tuple(pattern.lower() for pattern in mask_patterns if pattern)
    records: list[ImageRecord] = []
    for label, name in enumerate(classes):
        records.extend(_class_images(root, name, label, suffixes, patterns))
    return classes, records


def _class_images(
    root: Path, name: str, label: int, suffixes: frozenset[str], patterns: tuple[str, ...]
) -> list[ImageRecord]:
    images: list[ImageRecord] = []
    masks = others = 0
    for path in _walk_files(root / name):
        if path.suffix.lower() not in suffixes:
            others += 1
        elif any(pattern in path.name.lower() for pattern in patterns):
            masks += 1
        else:
            images.append(ImageRecord(path=path, relpath=path.relative_to(root).as_posix(), label=label))
    if not images:
        raise DataError(
            f"class folder {root / name} has no images (skipped {masks} mask file(s) matching "
            f"{', '.join(patterns) or 'no pattern'} and {others} file(s) with other extensions); "
            f"add {', '.join(sorted(suffixes))} images or remove the folder"
        )
    return sorted(images, key=lambda record: record.relpath)


def _walk_files(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, sorted, hidden and junk names left out. Symbolic links to files are listed
    (and followed when read); symbolic links to folders are not followed (they could loop or reach other
    classes), with a warning."""
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not is_skipped_name(name))
        for name in subfolders:
            if os.path.islink(os.path.join(directory, name)):
                logger.warning(
                    "not following symbolic link to a folder %s; link the image files themselves instead",
                    os.path.join(directory, name),
                )
        for name in sorted(files):
            if not is_skipped_name(name):
                yield Path(directory) / name


def is_skipped_name(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or lowered in JUNK_FILES or lowered in JUNK_FOLDERS


def _normalised_extensions(extensions: Sequence[str]) -> frozenset[str]:
    return frozenset(ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions)
