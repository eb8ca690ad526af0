"""The stratified split's sharing rule and the manifest reader, case by case, every expectation worked out by
hand from the rule in ``stratified_split``'s docstring: n_test = ceil(test_fraction N), n_val =
ceil(val_fraction (N - n_test)); each shared among the classes in proportion to their counts by largest
remainder, at least one per class when the size allows, leaving every class at least one image for each
later split (an absent class gets none)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bcbench.data import stratified_split
from bcbench.data.split import CommentedCsv, read_manifest, split_sha256, splits_from_manifest
from bcbench.errors import DataError


def counts_per_split(counts: list[int], test: float, val: float) -> dict[str, list[int]]:
    labels = np.repeat(np.arange(len(counts)), counts)
    splits = stratified_split(labels, test, val, seed=0)
    return {name: np.bincount(labels[splits[name]], minlength=len(counts)).tolist() for name in splits}


@pytest.mark.parametrize(
    ("counts", "test", "val", "expected"),
    [
        # 12 test: quotas 10.43 / 1.57, class 1 capped at 3 - 2 (one left for val and for train); val 3 of
        # [9, 2]: quotas 2.45 / 0.55 -> floors 2 / 0, raised to one each
        ([20, 3], 0.5, 0.2, {"test": [11, 1], "val": [2, 1], "train": [7, 1]}),
        # 70 test: class 0's quota 2.1 is capped at 1; class 1 (absent) gets nothing even when the others'
        # remainders run out; val 3 of [2, 0, 28]: quotas 0.2 / 2.8 -> 1 / 2
        ([3, 0, 97], 0.7, 0.1, {"test": [1, 0, 69], "val": [1, 0, 2], "train": [1, 0, 26]}),
        # 2 test for 3 classes: no minimum of one each; quotas 1 / 0.6 / 0.4 -> the largest remainder
        ([50, 30, 20], 0.015, 0.0, {"test": [1, 1, 0], "val": [0, 0, 0], "train": [49, 29, 20]}),
        # 3 test for 3 classes: one each, taken back from the class over its quota (2 of 2.7)
        ([90, 6, 4], 0.025, 0.0, {"test": [1, 1, 1], "val": [0, 0, 0], "train": [89, 5, 3]}),
        # 4 test: floors 3 / 0 / 0 raised to 3 / 1 / 1, one taken back from class 0
        ([200, 5, 5], 0.0175, 0.0, {"test": [2, 1, 1], "val": [0, 0, 0], "train": [198, 4, 4]}),
        # 5 test: floors 2 / 2 / 0 / 0 raised to 2 / 2 / 1 / 1; the one taken back is from the class furthest
        # over its quota: class 1 (2 - 2.21) rather than class 0 (2 - 2.70)
        ([110, 90, 2, 2], 0.024, 0.0, {"test": [2, 1, 1, 1], "val": [0] * 4, "train": [108, 89, 1, 1]}),
        # 2 test = every image the reserve allows; val 1 of [2, 2]: a tie, the first class
        ([3, 3], 0.3, 0.25, {"test": [1, 1], "val": [1, 0], "train": [1, 2]}),
        # 1 test of [3, 3]: a tie, the first class; then val 1 of what is left, [2, 3]: quotas 0.4 / 0.6
        ([3, 3], 0.1, 0.05, {"test": [1, 0], "val": [0, 1], "train": [2, 2]}),
        # an absent class in the middle; val 4 of [9, 0, 7]: quotas 2.25 / 1.75 -> 2 / 2
        ([11, 0, 9], 0.2, 0.2, {"test": [2, 0, 2], "val": [2, 0, 2], "train": [7, 0, 5]}),
    ],
)
def test_split_sizes_per_class_follow_the_largest_remainder_rule(counts, test, val, expected):
    assert counts_per_split(counts, test, val) == expected


def test_a_test_set_that_would_leave_a_class_out_of_train_or_val_is_refused():
    with pytest.raises(DataError) as caught:
        counts_per_split([3, 3], 0.5, 0.2)
    assert str(caught.value) == (
        "cannot put 3 of 6 images in the test split and keep every class in the other splits; lower "
        "data.test_fraction or data.val_fraction"
    )


def test_val_that_would_leave_a_class_out_of_train_is_refused_naming_the_val_split():
    with pytest.raises(DataError) as caught:
        counts_per_split([3, 3], 0.0, 0.7)  # ceil(4.2) = 5 val images, but train needs one of each
    assert str(caught.value) == (
        "cannot put 5 of 6 images in the val split and keep every class in the other splits; lower "
        "data.test_fraction or data.val_fraction"
    )


def test_a_class_too_small_for_every_split_is_named_with_the_splits_it_needs():
    with pytest.raises(DataError) as caught:
        stratified_split([0] * 10 + [1] * 2, 0.2, 0.2, seed=0, class_names=["benign", "normal"])
    assert str(caught.value) == (
        "class 'normal' has only 2 image(s) but the split needs at least 3 (one each in train, val, test); "
        "add images of that class or remove it"
    )


@pytest.mark.parametrize("fraction", [1.0, 1.5, -0.1])
def test_a_fraction_outside_zero_to_one_is_refused(fraction):
    with pytest.raises(DataError) as caught:
        stratified_split([0, 1] * 10, fraction, 0.1, seed=0)
    assert str(caught.value) == f"split fraction must be in [0, 1), got {fraction!r}"


def test_negative_labels_and_no_labels():
    with pytest.raises(DataError) as caught:
        stratified_split([0, 1, -2], 0.2, 0.2, seed=0)
    assert str(caught.value) == "labels must be non-negative class indices, got -2"
    empty = stratified_split([], 0.2, 0.2, seed=0)
    assert {name: (indices.size, indices.dtype) for name, indices in empty.items()} == {
        name: (0, np.dtype(np.int64)) for name in ("train", "val", "test")
    }


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "split.csv"
    path.write_text(text, encoding=encoding)
    return path


def manifest_error(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        read_manifest(path)
    return str(caught.value)


def test_a_manifest_saved_with_a_byte_order_mark_reads_its_header(tmp_path):
    path = write(tmp_path, "path,split\na.png,train\n", encoding="utf-8-sig")
    assert read_manifest(path)[1] == {"a.png": ("train", 2)}


def test_manifest_paths_are_normalised_and_splits_lower_cased(tmp_path):
    path = write(tmp_path, "path,split\n a\\b\\1.png ,Train\n./c/2.png, TEST\n")
    assert read_manifest(path)[1] == {"a/b/1.png": ("train", 2), "c/2.png": ("test", 3)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "lacks column(s) path, split; its header must be path,split (found: nothing)"),
        (
            "# only a comment\n  # and an indented one\n",
            "lacks column(s) path, split; its header must be path,split (found: nothing)",
        ),
        (
            "path,,label\na.png,,x\n",
            "lacks column(s) split; its header must be path,split (found: path,,label)",
        ),
        (
            "Path,Split\na.png,train\n",
            "lacks column(s) path, split; its header must be path,split (found: Path,Split)",
        ),
        ("path,split\n,train\n", "row 2 has an empty path"),
        ("path,split\na.png,\n", "row 2: unknown split '' for 'a.png'; use train, val or test"),
    ],
    ids=["empty", "comments-only", "empty-column-name", "capitalised", "empty-path", "empty-split"],
)
def test_manifest_errors_say_exactly_what_is_wrong(tmp_path, text, message):
    path = write(tmp_path, text)
    assert manifest_error(path) == f"split manifest {path} {message}"


def test_indented_comments_anywhere_are_skipped_and_row_numbers_are_the_files(tmp_path):
    text = "# one\n  # two, indented\npath,split\n   # three, indented\na.png,train\nb.png,val\n"
    assert read_manifest(write(tmp_path, text))[1] == {"a.png": ("train", 5), "b.png": ("val", 6)}


def test_columns_are_lower_cased_only_when_asked():
    reader = CommentedCsv(iter(["Path,LABEL\n", "a.png,x\n"]))
    assert reader.require_columns(("path",), "data.index x.csv", "path,label", lower=True) == [
        "path",
        "label",
    ]
    assert next(reader.reader) == {"path": "a.png", "label": "x"}


def test_a_split_with_no_image_in_the_manifest_is_an_empty_index_array(tmp_path):
    manifest, assigned = read_manifest(write(tmp_path, "path,split\na.png,train\nb.png,test\n"))
    splits = splits_from_manifest(manifest, assigned, ["b.png", "a.png"])
    assert {name: indices.tolist() for name, indices in splits.items()} == {
        "train": [1],
        "val": [],
        "test": [0],
    }
    assert all(indices.dtype == np.int64 for indices in splits.values())


def test_manifest_errors_for_paths_name_the_row_and_the_fix(tmp_path):
    manifest, assigned = read_manifest(write(tmp_path, "path,split\na.png,train\nz.png,test\n"))
    with pytest.raises(DataError) as caught:
        splits_from_manifest(manifest, assigned, ["a.png"])
    assert str(caught.value) == (
        f"split manifest {manifest} row 3: 'z.png' is not among the 1 images found under the data root; fix "
        "the path or data.root"
    )


def test_the_split_hash_is_sha256_of_the_sorted_path_split_lines():
    splits = {"train": np.array([1]), "val": np.array([], dtype=np.int64), "test": np.array([0])}
    expected = hashlib.sha256(b"a/1.png,test\nb/2.png,train\n").hexdigest()  # sort | sha256sum
    assert split_sha256(["a/1.png", "b/2.png"], splits) == expected
