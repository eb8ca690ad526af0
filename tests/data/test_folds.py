"""Cross-validation folds and group-aware splits: every image tested once per repeat, groups never split."""

from __future__ import annotations

import numpy as np
import pytest

from bcbench.data.folds import carve_missing_validation, grouped_holdout, kfold_splits
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
    assert all(np.array_equal(first[key]["test"], again[key]["test"]) for key in first)
    assert not all(np.array_equal(first[key]["test"], other[key]["test"]) for key in first)


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
