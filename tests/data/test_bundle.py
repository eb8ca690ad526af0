"""build_data end to end: manifests, the study's split sizes on the synthetic set, empty splits."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from bcbench.config import DataConfig
from bcbench.data import (
    build_data,
)
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error

RELPATHS = ["a/1.png", "a/2.png", "a/3.png", "b/1.png", "b/2.png"]


CLASSES = ["benign", "malignant", "normal"]


def write_manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "split.csv"
    path.write_text(text)
    return path


def test_build_data_uses_manifest_and_rejects_empty_split(
    tmp_path: Path, make_image_folder: Callable[..., Path]
) -> None:
    root = make_image_folder({"a": 3, "b": 3})
    rows = ["a/a (1).png,train", "a/a (2).png,val", "a/a (3).png,test"]
    rows += ["b/b (1).png,train", "b/b (2).png,val", "b/b (3).png,test"]
    manifest = write_manifest(tmp_path, "path,split\n" + "\n".join(rows) + "\n")

    bundle = build_data(DataConfig(root=str(root), image_size=8, manifest=str(manifest)))

    assert bundle.counts() == {"train": 2, "val": 2, "test": 2}
    assert bundle.relpaths("val") == ["a/a (2).png", "b/b (2).png"]
    expected = hashlib.sha256("".join(f"{row}\n" for row in sorted(rows)).encode()).hexdigest()
    assert bundle.split_hash == expected

    manifest.write_text("path,split\n" + "\n".join(row.replace(",val", ",train") for row in rows) + "\n")
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(root), image_size=8, manifest=str(manifest)))
    assert_one_line_error(error, "val split is empty")


@pytest.mark.slow  # over 1.5 s: writes and decodes the whole synthetic set
def test_build_data_on_synthetic_set_reproduces_study_split(synthetic_root: Path) -> None:
    bundle = build_data(DataConfig(root=str(synthetic_root), image_size=16))

    assert bundle.classes == CLASSES
    assert bundle.counts() == {"train": 563, "val": 100, "test": 117}
    assert bundle.class_counts("test") == [66, 31, 20]
    images, labels = bundle.tensors("val")
    assert images.shape == (100, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == bundle.decoded.labels[bundle.splits["val"]].tolist()
    assert bundle.split_hash == build_data(DataConfig(root=str(synthetic_root), image_size=8)).split_hash
    with pytest.raises(DataError):
        bundle.tensors("holdout")


def test_build_data_rejects_empty_val_split(make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder({"a": 5, "b": 5})
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(root), val_fraction=0.0))
    assert_one_line_error(error, "val split is empty", "data.val_fraction")
