"""The ``data`` block of a run record: split sizes, classes, split fingerprint, class counts, audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcbench.data.bundle import DataBundle
from bcbench.serial import JsonBlock


@dataclass
class DataSummary(JsonBlock):
    """What a run was trained and tested on (the record contract's ``data`` block)."""

    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    classes: list[str] = field(default_factory=list)
    split_sha256: str | None = None
    root: str | None = None
    class_counts: dict[str, list[int]] = field(default_factory=dict)  # split -> count per class
    audit: dict[str, Any] = field(default_factory=dict)  # skipped files, duplicates, leakage
    source: str | None = None  # folders, split_folders, csv or npz
    grouped: bool | None = None  # splits kept every group (patient, lesion) whole
    n_groups: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_bundle(cls, data: DataBundle) -> DataSummary:
        counts = data.counts()
        return cls(
            n_train=counts["train"],
            n_val=counts["val"],
            n_test=counts["test"],
            classes=list(data.classes),
            split_sha256=data.split_hash,
            root=str(data.root),
            class_counts={split: data.class_counts(split) for split in ("train", "val", "test")},
            audit=data.audit,
            source=data.source,
            grouped=data.groups is not None,
            n_groups=None if data.groups is None else len(set(data.groups.tolist())),
        )
