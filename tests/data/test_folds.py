"""Cross-validation folds and group-aware splits: every image tested once per repeat, groups never split."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from bcbench.data.folds import (
    _Quiet,
    carve_missing_validation,
    check_fold_count,
    grouped_holdout,
    kfold_splits,
)
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error

CLASSES = ["benign", "malignant", "normal"]
LABELS = np.array([0] * 40 + [1] * 25 + [2] * 15)


def grouped_data() -> tuple[np.ndarray, np.ndarray]:
    """80 images of 30 patients with 1-5 images each; a patient's images share its class."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 6, size=30)
    groups = np.repeat([f"p{i}" for i in range(30)], sizes)
    labels = np.repeat(rng.integers(0, 3, size=30), sizes)
    return labels, groups


def test_every_image_is_tested_exactly_once_per_repeat_and_splits_are_disjoint():
    folds = kfold_splits(LABELS, None, folds=5, repeats=2, val_fraction=0.15, seed=0, classes=CLASSES)
    assert sorted(folds) == [(r, f) for r in range(2) for f in range(5)]
    for repeat in range(2):
        tested = np.concatenate([folds[(repeat, fold)]["test"] for fold in range(5)])
        assert np.array_equal(np.sort(tested), np.arange(LABELS.size))
        for fold in range(5):
            parts = folds[(repeat, fold)]
            together = np.concatenate([parts["train"], parts["val"], parts["test"]])
            assert np.array_equal(np.sort(together), np.arange(LABELS.size))
            assert np.bincount(LABELS[parts["test"]]).tolist() == [8, 5, 3]  # stratified
            assert parts["val"].size == 10  # ceil(0.15 x 64), carved from the training folds
    assert not np.array_equal(folds[(0, 0)]["test"], folds[(1, 0)]["test"])  # repeats reshuffle


def test_folds_depend_on_the_seed_only():
    first = kfold_splits(LABELS, None, 4, 1, 0.2, seed=7, classes=CLASSES)
    again = kfold_splits(LABELS, None, 4, 1, 0.2, seed=7, classes=CLASSES)
    other = kfold_splits(LABELS, None, 4, 1, 0.2, seed=8, classes=CLASSES)
    assert sorted(first) == [(0, fold) for fold in range(4)]  # the folds asked for, not sklearn's default 5
    for split in ("train", "val", "test"):
        assert all(np.array_equal(first[key][split], again[key][split]) for key in first), split
        assert not all(np.array_equal(first[key][split], other[key][split]) for key in first), split


def test_grouped_splits_depend_on_the_seed_only():
    """Grouped holdout and grouped folds (test, train and the carved val) are the same for the same seed."""
    labels, groups, _ = patients(5)
    first, again, other = (grouped_holdout(labels, groups, 0.2, 0.2, seed, CLASSES) for seed in (5, 5, 6))
    folds, folds_again = (kfold_splits(labels, groups, 3, 1, 0.2, 5, CLASSES) for _ in range(2))
    for split in ("train", "val", "test"):
        assert np.array_equal(first[split], again[split]) and not np.array_equal(first[split], other[split])
        assert all(np.array_equal(folds[key][split], folds_again[key][split]) for key in folds), split


def test_grouped_folds_never_split_a_group():
    labels, groups = grouped_data()
    folds = kfold_splits(labels, groups, folds=5, repeats=2, val_fraction=0.2, seed=0, classes=CLASSES)
    for repeat in range(2):
        test_fold_of = {}
        for fold in range(5):
            parts = folds[(repeat, fold)]
            train, val, test = (set(groups[parts[name]]) for name in ("train", "val", "test"))
            assert not (train & test or train & val or val & test), (repeat, fold)
            for group in test:
                assert test_fold_of.setdefault(group, fold) == fold  # a group is in one test fold only
        assert len(test_fold_of) == 30


def test_grouped_holdout_keeps_groups_whole():
    labels, groups = grouped_data()
    parts = grouped_holdout(labels, groups, 0.2, 0.2, seed=1, classes=CLASSES)
    train, val, test = (set(groups[parts[name]]) for name in ("train", "val", "test"))
    assert train and val and test and not (train & test or train & val or val & test)
    assert sum(part.size for part in parts.values()) == labels.size


def patients(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """About 225 images of 90 patients with 1-4 images each, classes about 50/30/20 % by patient; and the
    largest patient's image count (a split of whole groups can miss its target by at most that)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, size=90)
    groups = np.repeat([f"p{i}" for i in range(90)], sizes)
    labels = np.repeat(rng.choice(3, size=90, p=[0.5, 0.3, 0.2]), sizes)
    return labels, groups, int(sizes.max())


def assert_rough_class_balance(labels: np.ndarray, parts: dict[str, np.ndarray]) -> None:
    """Each split's class shares within 0.1 of the whole set's (stratified by group)."""
    overall = np.bincount(labels, minlength=3) / labels.size
    for name, indices in parts.items():
        shares = np.bincount(labels[indices], minlength=3) / indices.size
        assert np.abs(shares - overall).max() < 0.1, (name, shares.round(3), overall.round(3))


@pytest.mark.parametrize(
    ("seed", "test_fraction", "val_fraction"), [(0, 0.2, 0.2), (1, 0.15, 0.15), (2, 0.25, 0.1)]
)
def test_grouped_holdout_sizes_are_within_one_group_of_the_fractions(seed, test_fraction, val_fraction):
    """test: test_fraction of the images; val: val_fraction of the rest (as the ungrouped split); train the
    remainder, so train and val are never swapped."""
    labels, groups, largest = patients(seed)
    parts = grouped_holdout(labels, groups, test_fraction, val_fraction, seed=seed, classes=CLASSES)
    rest = labels.size - parts["test"].size
    assert abs(parts["test"].size - test_fraction * labels.size) <= largest
    assert abs(parts["val"].size - val_fraction * rest) <= largest
    assert parts["train"].size == rest - parts["val"].size > parts["val"].size
    assert_rough_class_balance(labels, parts)


def test_grouped_folds_sizes_are_within_one_group_of_a_fold_and_of_the_val_fraction():
    labels, groups, largest = patients(3)
    folds = kfold_splits(labels, groups, folds=5, repeats=1, val_fraction=0.2, seed=3, classes=CLASSES)
    for key, parts in folds.items():
        rest = labels.size - parts["test"].size
        assert abs(parts["test"].size - labels.size / 5) <= largest, key
        assert abs(parts["val"].size - 0.2 * rest) <= largest, key
        assert parts["train"].size == rest - parts["val"].size > parts["val"].size, key
        assert_rough_class_balance(labels, parts)


def test_a_given_split_without_val_gets_val_carved_from_its_train_images():
    """ceil(0.15 x 64) = 10 val images out of the 64 train images, shared 32:20:12 by largest remainder."""
    train, test = np.arange(64), np.arange(64, 80)
    labels = np.array([0] * 32 + [1] * 20 + [2] * 12 + [0] * 8 + [1] * 5 + [2] * 3)
    given = {"train": train, "val": np.empty(0, np.int64), "test": test}
    parts = carve_missing_validation(given, labels, None, 0.15, seed=0, classes=CLASSES)
    assert parts["val"].size == 10 and parts["train"].size == 54 and np.array_equal(parts["test"], test)
    assert np.array_equal(np.sort(np.concatenate([parts["train"], parts["val"]])), train)
    assert np.bincount(labels[parts["val"]], minlength=3).tolist() == [5, 3, 2]  # 32:20:12 of 10
    assert np.array_equal(parts["train"], np.sort(parts["train"]))
    assert np.array_equal(parts["val"], np.sort(parts["val"]))
    again = carve_missing_validation(given, labels, None, 0.15, seed=0, classes=CLASSES)
    assert np.array_equal(again["val"], parts["val"])  # the seed decides
    assert carve_missing_validation(given, labels, None, 0.0, seed=0, classes=CLASSES) is given
    with_val = {**given, "val": np.array([0, 1])}
    assert carve_missing_validation(with_val, labels, None, 0.15, seed=0, classes=CLASSES) is with_val


def test_a_given_grouped_split_without_val_carves_whole_groups():
    labels, groups, largest = patients(4)
    test = np.flatnonzero(np.isin(groups, [f"p{i}" for i in range(20)]))
    train = np.setdiff1d(np.arange(labels.size), test)
    given = {"train": train, "val": np.empty(0, np.int64), "test": test}
    parts = carve_missing_validation(given, labels, groups, 0.2, seed=4, classes=CLASSES)
    assert not set(groups[parts["val"]]) & set(groups[parts["train"]])
    assert abs(parts["val"].size - 0.2 * train.size) <= largest
    assert parts["train"].size + parts["val"].size == train.size


def test_more_folds_than_the_smallest_class_names_it():
    with pytest.raises(DataError) as error:
        kfold_splits(LABELS, None, folds=16, repeats=1, val_fraction=0.1, seed=0, classes=CLASSES)
    assert_one_line_error(error, "evaluation.folds=16", "class 'normal' has only 15 images", "15 or fewer")


def test_more_folds_than_groups_says_so():
    labels, groups = grouped_data()
    with pytest.raises(DataError) as error:
        kfold_splits(labels, groups, folds=31, repeats=1, val_fraction=0.1, seed=0, classes=CLASSES)
    assert_one_line_error(error, "evaluation.folds=31", "only 30 groups")


def test_cross_validation_needs_a_validation_fraction():
    with pytest.raises(DataError) as error:
        kfold_splits(LABELS, None, folds=3, repeats=1, val_fraction=0.0, seed=0, classes=CLASSES)
    assert_one_line_error(error, "data.val_fraction")


def test_half_the_images_for_test_or_val_makes_two_groups_of_folds():
    """A fraction of 0.5 is round(1 / 0.5) = 2 group folds: half of the images (within one group), not a
    third."""
    labels, groups, largest = patients(6)
    parts = grouped_holdout(labels, groups, 0.5, 0.5, seed=6, classes=CLASSES)
    rest = labels.size - parts["test"].size
    assert abs(parts["test"].size - 0.5 * labels.size) <= largest
    assert abs(parts["val"].size - 0.5 * rest) <= largest


def test_a_grouped_split_needs_test_and_val_fractions():
    labels, groups, _ = patients(7)
    message = (
        "a group-aware split needs test and val images; set data.test_fraction and data.val_fraction > 0"
    )
    for test_fraction, val_fraction in ((0.0, 0.2), (0.2, 0.0), (0.0, 0.0)):
        with pytest.raises(DataError) as error:
            grouped_holdout(labels, groups, test_fraction, val_fraction, seed=0, classes=CLASSES)
        assert str(error.value) == message


def test_fewer_groups_than_the_split_needs_says_so():
    """1 / 0.2 = 5 group folds for the test set (or for val, carved from a given train set) of 4 patients."""
    labels, groups = np.array([0, 0, 1, 1, 2, 2, 0, 1]), np.repeat(["a", "b", "c", "d"], 2)
    with pytest.raises(DataError) as error:
        grouped_holdout(labels, groups, 0.2, 0.2, seed=0, classes=CLASSES)
    assert_one_line_error(error, "evaluation.folds=5", "only 4 groups")
    given = {"train": np.arange(8), "val": np.empty(0, np.int64), "test": np.empty(0, np.int64)}
    with pytest.raises(DataError) as error:
        carve_missing_validation(given, labels, groups, 0.2, seed=0, classes=CLASSES)
    assert_one_line_error(error, "evaluation.folds=5", "only 4 groups")


def test_the_fold_count_may_equal_the_smallest_class_or_the_group_count():
    """The boundary: as many folds as images of the smallest present class (an absent class does not
    count), or as groups, is allowed; a class of one image is named."""
    check_fold_count(LABELS, None, 15, CLASSES)  # 'normal' has exactly 15
    check_fold_count(np.array([0] * 6 + [1] * 5), None, 5, CLASSES)  # 'normal' absent
    check_fold_count(np.zeros(4, np.int64), np.array(["a", "b", "c", "d"]), 4, CLASSES)
    with pytest.raises(DataError) as error:
        check_fold_count(np.array([0] * 10 + [1] + [2] * 10), None, 2, CLASSES)
    assert str(error.value) == (
        "evaluation.folds=2 but class 'malignant' has only 1 images; lower evaluation.folds to 1 or fewer"
    )
    with pytest.raises(DataError):  # no images at all: an error, not an index error
        check_fold_count(np.empty(0, np.int64), None, 2, CLASSES)


def test_cross_validation_without_val_fraction_gives_the_exact_message():
    with pytest.raises(DataError) as error:
        kfold_splits(LABELS, None, folds=3, repeats=1, val_fraction=0.0, seed=0, classes=CLASSES)
    assert str(error.value) == (
        "cross-validation carves a validation set from the training folds; set data.val_fraction above 0"
    )


def test_a_class_too_small_for_val_is_named_when_carving():
    """A training part with one 'normal' image cannot give val one: the error names the class (a given
    split, and a fold)."""
    labels = np.array([0] * 10 + [1] * 10 + [2] * 2)
    given = {"train": np.arange(21), "val": np.empty(0, np.int64), "test": np.array([21])}
    with pytest.raises(DataError) as error:
        carve_missing_validation(given, labels, None, 0.2, seed=0, classes=CLASSES)
    assert_one_line_error(error, "class 'normal' has only 1 image(s)")
    with pytest.raises(DataError) as error:  # 2 folds: the training fold holds one of the 2 'normal' images
        kfold_splits(labels, None, folds=2, repeats=1, val_fraction=0.2, seed=0, classes=CLASSES)
    assert_one_line_error(error, "class 'normal' has only 1 image(s)")


def test_the_splitter_warning_of_a_rare_class_becomes_one_info_line(caplog):
    """Three 'normal' patients cannot be in each of 5 test folds: sklearn's UserWarning is logged once as
    info with the reason, and no warning reaches the user."""
    labels = np.array([0] * 10 + [1] * 10 + [2] * 3)
    groups = np.array([f"p{i}" for i in range(labels.size)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.INFO, logger="bcbench.data.folds"):
            kfold_splits(labels, groups, folds=5, repeats=1, val_fraction=0.2, seed=0, classes=CLASSES)
    lines = [record.getMessage() for record in caplog.records if record.name == "bcbench.data.folds"]
    assert lines and all(line.endswith(" (some folds lack that class)") for line in lines)
    assert lines[0] == (
        "The least populated class in y has only 3 members, which is less than n_splits=5. "
        "(some folds lack that class)"
    )


class _DeprecatedSplitter:
    """A splitter that warns of a deprecation (as a library update might) and gives one fold."""

    def split(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None):
        warnings.warn("an argument of this splitter is deprecated", DeprecationWarning, stacklevel=2)
        yield np.array([0]), np.array([1])


def test_a_splitter_warning_of_another_category_is_left_to_the_warning_filters(caplog):
    """Only the rare-class UserWarning becomes the info line: a DeprecationWarning raised inside the split
    follows the filters in force (ignored here, as Python ignores them in library code), and is never
    logged as a class missing from some folds."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("ignore", DeprecationWarning)
        with caplog.at_level(logging.INFO, logger="bcbench.data.folds"):
            parts = list(_Quiet(_DeprecatedSplitter()).split(np.arange(2), np.array([0, 1]), None))
    assert [(list(train), list(test)) for train, test in parts] == [([0], [1])]
    assert shown == [] and [r.getMessage() for r in caplog.records if r.name == "bcbench.data.folds"] == []
