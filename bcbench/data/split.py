"""Splits: stratified train/val/test index arrays from labels and a seed, or a manifest CSV (path,split),
and the split's fingerprint.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np

from bcbench.errors import DataError

SPLITS = ("train", "val", "test")


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    class_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Stratified train/val/test index arrays (sorted) that depend only on the labels, fractions and seed.

    Sizes follow sklearn's ``train_test_split``: n_test = ceil(test_fraction * N), then
    n_val = ceil(val_fraction * (N - n_test)). Each size is shared among classes in proportion to their
    counts (largest remainder, so totals are exact), with at least one image of every class in every
    non-empty split. ``class_names`` only make error messages readable.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and labels.min() < 0:
        raise DataError(f"labels must be non-negative class indices, got {int(labels.min())}")
    names = list(class_names) if class_names is not None else []
    counts = np.bincount(labels, minlength=len(names))
    n_test = _split_size(test_fraction, labels.size)
    n_val = _split_size(val_fraction, labels.size - n_test)
    nonempty = ["train"] + [name for name, n in (("val", n_val), ("test", n_test)) if n > 0]
    _require_enough_per_class(counts, names, nonempty)
    test_counts = _allocate(counts, n_test, reserve=len(nonempty) - 1, split="test")
    val_counts = _allocate(counts - test_counts, n_val, reserve=1, split="val")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for label in range(counts.size):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_class_test, n_class_val = int(test_counts[label]), int(val_counts[label])
        parts["test"].append(members[:n_class_test])
        parts["val"].append(members[n_class_test : n_class_test + n_class_val])
        parts["train"].append(members[n_class_test + n_class_val :])
    return {name: np.sort(np.concatenate(parts[name] or [np.empty(0, np.int64)])) for name in SPLITS}


def _split_size(fraction: float, total: int) -> int:
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"split fraction must be in [0, 1), got {fraction!r}")
    return math.ceil(fraction * total)


def _class_name(label: int, names: Sequence[str]) -> str:
    return repr(names[label]) if label < len(names) else f"with index {label}"


def _require_enough_per_class(counts: np.ndarray, names: Sequence[str], nonempty: Sequence[str]) -> None:
    for label, count in enumerate(counts):
        if 0 < count < len(nonempty):
            raise DataError(
                f"class {_class_name(label, names)} has only {count} image(s) but the split needs at least "
                f"{len(nonempty)} (one each in {', '.join(nonempty)}); add images of that class or remove it"
            )


def _allocate(counts: np.ndarray, total: int, reserve: int, split: str) -> np.ndarray:
    """Share ``total`` among classes in proportion to ``counts`` by largest remainder, giving each present
    class at least one (when ``total`` allows) and leaving at least ``reserve`` of it for the other splits."""
    allocation = np.zeros_like(counts)
    if total == 0:
        return allocation
    present = counts > 0
    upper = np.where(present, counts - reserve, 0)
    lower = present.astype(counts.dtype) if total >= present.sum() else np.zeros_like(counts)
    if total > upper.sum():
        raise DataError(
            f"cannot put {total} of {int(counts.sum())} images in the {split} split and keep every class in "
            "the other splits; lower data.test_fraction or data.val_fraction"
        )
    quota = counts * (total / counts.sum())
    allocation = np.clip(np.floor(quota).astype(counts.dtype), lower, upper)
    while allocation.sum() < total:
        allocation[np.argmax(np.where(allocation < upper, quota - allocation, -np.inf))] += 1
    while allocation.sum() > total:
        allocation[np.argmax(np.where(allocation > lower, allocation - quota, -np.inf))] -= 1
    return allocation


def read_manifest(manifest_path: str | Path) -> tuple[Path, dict[str, tuple[str, int]]]:
    """(manifest path, {relpath: (split, row)}), checking split names and that no path is listed twice."""
    manifest = Path(manifest_path).expanduser()
    if not manifest.is_file():
        raise DataError(
            f"split manifest {manifest} does not exist; set data.manifest to a CSV with columns path,split"
        )
    assigned: dict[str, tuple[str, int]] = {}
    for row, path, split in _manifest_rows(manifest):
        if split not in SPLITS:
            raise DataError(
                f"split manifest {manifest} row {row}: unknown split {split!r} for {path!r}; "
                "use train, val or test"
            )
        if path in assigned:
            raise DataError(
                f"split manifest {manifest} row {row}: {path!r} is listed twice "
                f"(first on row {assigned[path][1]}); keep one row per image"
            )
        assigned[path] = (split, row)
    return manifest, assigned


def splits_from_manifest(
    manifest: Path,
    assigned: dict[str, tuple[str, int]],
    relpaths: Sequence[str],
    excluded: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """Index arrays into ``relpaths`` from a manifest read by ``read_manifest``."""
    positions = {relpath: index for index, relpath in enumerate(relpaths)}
    for path, (_, row) in assigned.items():
        if path not in positions and path not in excluded:
            raise DataError(
                f"split manifest {manifest} row {row}: {path!r} is not among the {len(positions)} "
                "images found under the data root; fix the path or data.root"
            )
    unlisted = [relpath for relpath in relpaths if relpath not in assigned]
    if unlisted:
        raise DataError(
            f"split manifest {manifest} does not list {len(unlisted)} image(s) found on disk, "
            f"e.g. {unlisted[0]!r}; add them to the manifest or remove them from the data root"
        )
    return {
        name: np.array(
            sorted(positions[p] for p, (split, _) in assigned.items() if split == name and p in positions),
            dtype=np.int64,
        )
        for name in SPLITS
    }


def _manifest_rows(manifest: Path) -> Iterator[tuple[int, str, str]]:
    """(row number in the file, normalised path, lower-case split) for each data row."""
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        commented = CommentedCsv(handle)
        reader = commented.reader
        commented.require_columns(("path", "split"), f"split manifest {manifest}", "path,split")
        for record in reader:
            path = (record.get("path") or "").strip().replace("\\", "/").removeprefix("./")
            if not path:
                raise DataError(f"split manifest {manifest} row {commented.row} has an empty path")
            yield commented.row, path, (record.get("split") or "").strip().lower()


class CommentedCsv:
    """A ``csv.DictReader`` over a file whose lines starting with ``#`` are comments; ``row`` is the
    file's own line number of the row just read (comments and blank lines counted)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.skipped = 0
        lines = iter(lines)
        first = next(lines, "")
        while first and (first.lstrip().startswith("#") or not first.strip()):
            self.skipped += 1
            first = next(lines, "")
        blanked = ("\n" if line.lstrip().startswith("#") else line for line in lines)  # csv skips blank rows
        self.reader = csv.DictReader(itertools.chain([first], blanked))

    @property
    def row(self) -> int:
        return self.reader.line_num + self.skipped

    def require_columns(
        self, required: Sequence[str], what: str, header: str, lower: bool = False
    ) -> list[str]:
        """Normalise the header (stripped, optionally lower-cased) and fail naming ``what`` if it lacks
        one of ``required``; ``header`` is the expected form shown in the message."""
        columns = [(name or "").strip() for name in self.reader.fieldnames or []]
        columns = [name.lower() for name in columns] if lower else columns
        missing = [name for name in required if name not in columns]
        if missing:
            raise DataError(
                f"{what} lacks column(s) {', '.join(missing)}; its header must be "
                f"{header} (found: {','.join(columns) or 'nothing'})"
            )
        self.reader.fieldnames = columns
        return columns


def split_sha256(relpaths: Sequence[str], splits: dict[str, np.ndarray]) -> str:
    """Order-independent fingerprint of a split: sha256 of the sorted ``relpath,split`` lines.

    For a manifest in that form it equals ``tail -n +2 manifest.csv | LC_ALL=C sort | sha256sum``.
    """
    lines = sorted(f"{relpaths[int(index)]},{name}" for name, indices in splits.items() for index in indices)
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()
