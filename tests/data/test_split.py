"""Splits: stratified by seed with sklearn's sizes, manifests with errors naming the row, the split hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from bcbench.config import DataConfig
from bcbench.data import (
    build_data,
    stratified_split,
)
from bcbench.data.split import read_manifest, split_sha256, splits_from_manifest
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error

STUDY_LABELS = [0] * 437 + [1] * 210 + [2] * 133


CLASSES = ["benign", "malignant", "normal"]


RELPATHS = ["a/1.png", "a/2.png", "a/3.png", "b/1.png", "b/2.png"]


def write_manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "split.csv"
    path.write_text(text)
    return path


def test_stratified_split_reproduces_study_sizes() -> None:
    splits = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=0)
    labels = np.array(STUDY_LABELS)

    assert {name: len(indices) for name, indices in splits.items()} == {"train": 563, "val": 100, "test": 117}
    # per-class counts are proportional and equal to the study's published split
    assert np.bincount(labels[splits["test"]]).tolist() == [66, 31, 20]
    assert np.bincount(labels[splits["val"]]).tolist() == [56, 27, 17]
    assert np.bincount(labels[splits["train"]]).tolist() == [315, 152, 96]
    everything = np.concatenate(list(splits.values()))
    assert sorted(everything.tolist()) == list(range(780))
    assert all(np.array_equal(indices, np.sort(indices)) for indices in splits.values())


def test_stratified_split_is_deterministic_by_seed_only() -> None:
    first = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=3)
    torch.manual_seed(123)
    np.random.seed(456)  # global random states must not matter
    again = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=3)
    other = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=4)

    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["test"], other["test"])


def test_stratified_split_uses_sklearn_rounding() -> None:
    splits = stratified_split([0] * 6 + [1] * 4, 0.25, 0.25, seed=0)
    assert [len(splits[name]) for name in ("train", "val", "test")] == [5, 2, 3]  # ceil(2.5), ceil(1.75)


def test_stratified_split_keeps_every_class_in_every_split() -> None:
    labels = [0] * 60 + [1] * 3 + [2] * 4
    splits = stratified_split(labels, 0.1, 0.1, seed=0)
    for indices in splits.values():
        assert set(np.array(labels)[indices].tolist()) == {0, 1, 2}


def test_stratified_split_names_class_with_too_few_images() -> None:
    with pytest.raises(DataError) as error:
        stratified_split([0] * 20 + [1] * 2, 0.15, 0.15, seed=0, class_names=["benign", "normal"])
    assert_one_line_error(error, "'normal'", "only 2 image")


def test_a_class_without_a_name_is_named_by_its_index() -> None:
    with pytest.raises(DataError) as error:
        stratified_split([0] * 10 + [1], 0.2, 0.2, seed=0, class_names=["benign"])
    assert_one_line_error(error, "class with index 1 has only 1 image(s) but the split needs at least 3")
    with pytest.raises(DataError) as error:
        stratified_split([0] * 10 + [2], 0.2, 0.2, seed=0, class_names=["benign", "malignant"])
    assert_one_line_error(error, "class with index 2 has only 1 image(s)")


def test_stratified_split_allows_two_images_without_val() -> None:
    labels = np.array([0] * 20 + [1] * 2)
    splits = stratified_split(labels, 0.2, 0.0, seed=0)
    assert [len(splits[name]) for name in ("train", "val", "test")] == [17, 0, 5]  # ceil(0.2 * 22) = 5
    assert 1 in labels[splits["train"]] and 1 in labels[splits["test"]]


def test_splits_from_manifest_assigns_listed_splits(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path, "path,split\nb/2.png,test\na/1.png,train\na/2.png, val\n./a/3.png,train\nb/1.png,TRAIN\n"
    )
    splits = _manifest_split(RELPATHS, manifest)
    assert {name: indices.tolist() for name, indices in splits.items()} == {
        "train": [0, 2, 3],
        "val": [1],
        "test": [4],
    }


@pytest.mark.parametrize(
    "text,fragments",
    [
        ("file,part\na/1.png,train\n", ["lacks column(s) path, split", "file,part"]),
        ("path,split\na/1.png,train\na/2.png,dev\n", ["row 3", "unknown split 'dev'", "a/2.png"]),
        ("path,split\na/1.png,train\na/1.png,test\n", ["row 3", "'a/1.png' is listed twice", "row 2"]),
        ("path,split\na/9.png,train\n", ["row 2", "'a/9.png' is not among"]),
        ("path,split\na/1.png,train\na/2.png,val\n", ["does not list 3 image(s)", "'a/3.png'"]),
    ],
    ids=["missing-columns", "unknown-split", "duplicate", "not-on-disk", "unlisted-image"],
)
def test_splits_from_manifest_errors_name_file_and_row(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    manifest = write_manifest(tmp_path, text)
    with pytest.raises(DataError) as error:
        _manifest_split(RELPATHS, manifest)
    assert_one_line_error(error, str(manifest), *fragments)


def test_splits_from_manifest_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        _manifest_split(RELPATHS, tmp_path / "absent.csv")
    assert_one_line_error(error, "absent.csv", "does not exist")


def test_split_sha256_ignores_order_but_not_assignment() -> None:
    splits = {"train": np.array([0, 2]), "val": np.array([1]), "test": np.array([3])}
    # the same assignment with the paths listed in another order: old index 0 -> 2, 1 -> 1, 2 -> 3, 3 -> 0
    shuffled_paths = [RELPATHS[i] for i in (3, 1, 0, 2)]
    remapped = {"test": np.array([0]), "train": np.array([3, 2]), "val": np.array([1])}
    moved = {"train": np.array([0]), "val": np.array([1, 2]), "test": np.array([3])}

    assert split_sha256(RELPATHS, splits) == split_sha256(shuffled_paths, remapped)
    assert split_sha256(RELPATHS, splits) != split_sha256(RELPATHS, moved)


def test_relative_manifest_resolves_against_the_data_root(make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder({"a": 3, "b": 3})
    rows = [
        f"{c}/{c} ({i}).png,{s}"
        for c in "ab"
        for i, s in zip((1, 2, 3), ("train", "val", "test"), strict=True)
    ]
    (root / "split.csv").write_text("path,split\n" + "\n".join(rows) + "\n")
    bundle = build_data(DataConfig(root=str(root), image_size=8, manifest="split.csv"))
    assert bundle.counts() == {"train": 2, "val": 2, "test": 2}


def test_comment_lines_are_skipped_and_rows_keep_the_files_numbers(tmp_path):
    manifest = tmp_path / "split.csv"
    manifest.write_text("# where this split comes from\npath,split\n# a note\na.png,train\nb.png,holdout\n")
    with pytest.raises(DataError) as error:
        read_manifest(manifest)
    assert_one_line_error(error, "row 5: unknown split 'holdout'")
    manifest.write_text("# where this split comes from\npath,split\n# a note\na.png,train\nb.png,test\n")
    _, assigned = read_manifest(manifest)
    assert assigned == {"a.png": ("train", 4), "b.png": ("test", 5)}


def _manifest_split(relpaths, manifest_path):
    """A split read from a manifest file, as ``build_data`` makes it."""
    manifest, assigned = read_manifest(manifest_path)
    return splits_from_manifest(manifest, assigned, relpaths)
