"""Discovery of ImageFolder trees: classes, nested images, masks, junk, extensions, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bcbench.data import (
    discover_images,
)
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error

CLASSES = ["benign", "malignant", "normal"]


def test_discover_sorts_classes_and_finds_nested_images(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    for relpath in ["normal/n.png", "benign/b.png", "malignant/m.png", "benign/sub/deep/nested.png"]:
        write_image(tmp_path / relpath)

    classes, records = discover_images(tmp_path)

    assert classes == ["benign", "malignant", "normal"]
    assert [(r.relpath, r.label) for r in records] == [
        ("benign/b.png", 0),
        ("benign/sub/deep/nested.png", 0),
        ("malignant/m.png", 1),
        ("normal/n.png", 2),
    ]
    assert records[1].path == tmp_path / "benign" / "sub" / "deep" / "nested.png"


def test_discover_skips_masks_hidden_files_and_os_junk(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    for relpath in [
        "benign/benign (1).png",
        "benign/benign (1)_mask.png",
        "benign/benign (1)_mask_1.png",
        "benign/.hidden.png",
        "benign/._benign (1).png",
        "benign/.ipynb_checkpoints/copy.png",
        "__MACOSX/benign/benign (1).png",
        "normal/normal (1).png",
    ]:
        write_image(tmp_path / relpath)
    for junk in ["benign/Thumbs.db", "benign/desktop.ini", "benign/.DS_Store", "normal/notes.txt"]:
        (tmp_path / junk).write_text("junk")

    classes, records = discover_images(tmp_path)

    assert classes == ["benign", "normal"]
    assert [r.relpath for r in records] == ["benign/benign (1).png", "normal/normal (1).png"]


def test_discover_matches_extensions_case_insensitively(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    write_image(tmp_path / "a" / "upper.PNG")
    write_image(tmp_path / "a" / "mixed.JpEg")
    write_image(tmp_path / "a" / "other.gif")

    _, records = discover_images(tmp_path, extensions=(".png", "jpeg"))

    assert [r.relpath for r in records] == ["a/mixed.JpEg", "a/upper.PNG"]


def test_discover_rejects_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        discover_images(tmp_path / "nowhere")
    assert_one_line_error(error, str(tmp_path / "nowhere"), "does not exist")


def test_discover_rejects_root_without_class_folders(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    write_image(tmp_path / "loose.png")
    with pytest.raises(DataError) as error:
        discover_images(tmp_path)
    assert_one_line_error(error, str(tmp_path), "no class folders")


def test_discover_rejects_class_folder_with_only_masks(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    write_image(tmp_path / "benign" / "b.png")
    write_image(tmp_path / "normal" / "n_mask.png")
    with pytest.raises(DataError) as error:
        discover_images(tmp_path)
    assert_one_line_error(error, str(tmp_path / "normal"), "no images", "1 mask file")
