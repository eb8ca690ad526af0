"""Where images come from: one ``Catalog`` (classes, image files, groups, a given split) per source.

- ``folders``: class folders under one root (``root/<class>/...``);
- ``split_folders``: ``root/<split>/<class>/...`` with split folders named train/val/test (any case;
  also Training/Testing, valid/validation); a missing val split is carved from train later;
- ``csv``: an index ``path,label[,group][,split]`` with paths relative to the root;
- ``npz`` (MedMNIST) holds pixels, not files: see ``bcbench.data.npz``.

``auto`` picks one from what ``data.root`` points at. Class folders whose names look like split names
are never taken for classes silently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bcbench.config import DataConfig
from bcbench.data.discover import ImageRecord, discover_images, is_skipped_name
from bcbench.data.split import CommentedCsv
from bcbench.errors import DataError

logger = logging.getLogger(__name__)

SPLIT_FOLDER_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
Assigned = dict[str, tuple[str, int]]  # relpath -> (split, row or 0), as a manifest assigns them


@dataclass
class Catalog:
    """What a file-based source holds, before any file is read."""

    kind: str
    root: Path
    classes: list[str]
    records: list[ImageRecord]
    groups: dict[str, str] = field(default_factory=dict)  # relpath -> patient / lesion id
    given: Assigned | None = None  # the source's own split (split folders, a CSV split column)
    described_by: Path | None = None  # the index file, for error messages


def source_kind(data_config: DataConfig, root: Path) -> str:
    """The source ``data.source`` names, or for ``auto`` the one ``root`` looks like."""
    if data_config.source != "auto":
        return data_config.source
    if root.suffix.lower() == ".npz":
        return "npz"
    if data_config.index is not None:
        return "csv"
    split_like = [name for name in _subfolders(root) if name.lower() in SPLIT_FOLDER_NAMES]
    if not split_like:
        return "folders"
    others = [name for name in _subfolders(root) if name.lower() not in SPLIT_FOLDER_NAMES]
    if others:
        raise DataError(
            f"data root {root} mixes split folders ({', '.join(split_like)}) with other folders "
            f"({', '.join(others)}); put every class folder inside train/val/test, or set "
            "data.source: folders if these really are class names"
        )
    return "split_folders"


def catalog(data_config: DataConfig, root: Path) -> Catalog:
    """The catalog of a file-based source (``folders``, ``split_folders`` or ``csv``)."""
    kind = source_kind(data_config, root)
    if kind == "folders":
        return folder_catalog(root, data_config)
    if kind == "split_folders":
        return split_folder_catalog(root, data_config)
    if kind == "csv":
        if data_config.index is None:
            raise DataError("data.source is csv but data.index is not set; set data.index to the labels CSV")
        return csv_catalog(resolve_index(data_config.index, root), root, data_config.class_names)
    raise DataError(
        f"data.source {kind!r} holds no image files here; this is a bcbench bug, please report it"
    )


def folder_catalog(root: Path, data_config: DataConfig) -> Catalog:
    classes, records = discover_images(root, data_config.mask_patterns, data_config.extensions)
    look_like_splits = [name for name in classes if name.lower() in SPLIT_FOLDER_NAMES]
    if look_like_splits:
        logger.warning(
            "class folder(s) %s of %s look like split names; they are taken as classes because "
            "data.source is folders",
            ", ".join(look_like_splits),
            root,
        )
    return Catalog("folders", root, classes, records)


def split_folder_catalog(root: Path, data_config: DataConfig) -> Catalog:
    """``root/<split>/<class>/...``: classes are the union over splits, every image's split is given."""
    found: dict[str, tuple[str, list[str], list[ImageRecord]]] = {}
    for name in _subfolders(root):
        split = SPLIT_FOLDER_NAMES.get(name.lower())
        if split is None:
            raise DataError(f"folder {root / name} is not a split folder; use train, val or test")
        if split in found:
            raise DataError(
                f"data root {root} has two {split} folders: {found[split][0]} and {name}; keep one"
            )
        classes, records = discover_images(root / name, data_config.mask_patterns, data_config.extensions)
        found[split] = (name, classes, records)
    if "train" not in found or "test" not in found:
        missing = [split for split in ("train", "test") if split not in found]
        raise DataError(f"split folders under {root} have no {' or '.join(missing)} folder; add it")
    classes = sorted({name for _, names, _ in found.values() for name in names})
    records: list[ImageRecord] = []
    given: Assigned = {}
    for split, (folder, names, split_records) in found.items():
        for record in split_records:
            relpath = f"{folder}/{record.relpath}"
            records.append(ImageRecord(record.path, relpath, classes.index(names[record.label])))
            given[relpath] = (split, 0)
    return Catalog("split_folders", root, classes, sorted(records, key=lambda r: r.relpath), given=given)


def resolve_index(index: str, root: Path) -> Path:
    """A relative index path is looked up in the data root first, then the working directory."""
    path = Path(index).expanduser()
    if not path.is_absolute() and (root / path).is_file():
        return root / path
    return path


def csv_catalog(index: Path, root: Path, class_names: Sequence[str] = ()) -> Catalog:
    """An index CSV ``path,label[,group][,split]``; every problem is one error naming the row."""
    if not index.is_file():
        raise DataError(f"data.index {index} does not exist; point it at a CSV with columns path,label")
    rows = _index_rows(index)
    classes = list(class_names) or sorted({label for _, _, label, _, _ in rows})
    records, groups, given = [], {}, {}
    for row, relpath, label, group, split in rows:
        if label not in classes:
            raise DataError(
                f"data.index {index} row {row}: label {label!r} is not in data.class_names {classes}"
            )
        records.append(ImageRecord(_checked_file(index, row, root, relpath), relpath, classes.index(label)))
        if group is not None:
            groups[relpath] = group
        if split is not None:
            given[relpath] = (split, row)
    has_split = any(split is not None for *_, split in rows)
    return Catalog("csv", root, classes, records, groups, given if has_split else None, index)


def _index_rows(index: Path) -> list[tuple[int, str, str, str | None, str | None]]:
    """(row, relpath, label, group, split) of every data row, checked for the row-level problems."""
    with index.open(newline="", encoding="utf-8-sig") as handle:
        commented = CommentedCsv(handle)
        columns = commented.require_columns(
            ("path", "label"), f"data.index {index}", "path,label[,group][,split]", lower=True
        )
        return _checked_rows(index, commented, "group" in columns, "split" in columns)


def _checked_rows(
    index: Path, commented: CommentedCsv, has_group: bool, has_split: bool
) -> list[tuple[int, str, str, str | None, str | None]]:
    rows, seen = [], {}
    for record in commented.reader:
        number = commented.row
        path = (record.get("path") or "").strip().replace("\\", "/").removeprefix("./")
        label = (record.get("label") or "").strip()
        where = f"data.index {index} row {number}"
        if not path or not label:
            raise DataError(
                f"{where}: empty {'path' if not path else 'label'}; every row needs a path and a label"
            )
        if path in seen:
            raise DataError(
                f"{where}: {path!r} is listed twice (first on row {seen[path]}); keep one row per image"
            )
        seen[path] = number
        group = (record.get("group") or "").strip() or None if has_group else None
        split = _split_name(where, (record.get("split") or "").strip()) if has_split else None
        rows.append((number, path, label, group, split))
    return rows


def _split_name(where: str, value: str) -> str:
    split = SPLIT_FOLDER_NAMES.get(value.lower())
    if split is None:
        raise DataError(f"{where}: unknown split {value!r}; use train, val or test")
    return split


def _checked_file(index: Path, row: int, root: Path, relpath: str) -> Path:
    path = Path(os.path.normpath(root / relpath))  # ".." resolved, symbolic links kept (they are followed)
    if Path(relpath).is_absolute() or not path.is_relative_to(os.path.normpath(root)):
        raise DataError(
            f"data.index {index} row {row}: path {relpath!r} is not inside data.root {root}; "
            "use a path relative to it"
        )
    if not path.is_file():
        raise DataError(
            f"data.index {index} row {row}: {relpath!r} does not exist under {root}; fix the path"
        )
    return root / relpath


def _subfolders(root: Path) -> list[str]:
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist or is not a folder; set data.root to your images")
    return sorted(
        entry.name for entry in root.iterdir() if entry.is_dir() and not is_skipped_name(entry.name)
    )
