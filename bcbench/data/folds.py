"""Group-aware holdout splits and cross-validation folds, with scikit-learn's splitters.

Folds: ``StratifiedKFold`` (or ``StratifiedGroupKFold`` when images carry groups: patients, lesions),
shuffled with ``split_seed + repeat``, so repeat r is an independent assignment and every image lies in
exactly one test fold per repeat. The validation set of a fold is carved from its training folds the
same way: stratified, and group-aware when there are groups, so no group is ever in two of train, val
and test.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from bcbench.data.split import stratified_split
from bcbench.errors import DataError

logger = logging.getLogger(__name__)
FoldKey = tuple[int, int]  # (repeat, fold)
Splits = dict[str, np.ndarray]


def kfold_splits(
    labels: np.ndarray,
    groups: np.ndarray | None,
    folds: int,
    repeats: int,
    val_fraction: float,
    seed: int,
    classes: Sequence[str],
) -> dict[FoldKey, Splits]:
    """Train/val/test index arrays for every (repeat, fold)."""
    check_fold_count(labels, groups, folds, classes)
    if val_fraction <= 0:
        raise DataError(
            "cross-validation carves a validation set from the training folds; set data.val_fraction above 0"
        )
    assignments: dict[FoldKey, Splits] = {}
    for repeat in range(repeats):
        for fold, (rest, test) in enumerate(
            _splitter(groups, folds, seed + repeat).split(labels, labels, groups)
        ):
            train, val = carve_validation(rest, labels, groups, val_fraction, seed + repeat, classes)
            assignments[(repeat, fold)] = {
                "train": np.sort(train),
                "val": np.sort(val),
                "test": np.sort(test),
            }
    return assignments


def check_fold_count(
    labels: np.ndarray, groups: np.ndarray | None, folds: int, classes: Sequence[str]
) -> None:
    """More folds than the smallest class (or than there are groups) is an error naming the class or count."""
    if groups is not None:
        distinct = len(np.unique(groups))
        if distinct < folds:
            raise DataError(
                f"evaluation.folds={folds} but the data has only {distinct} groups; lower evaluation.folds "
                f"to {distinct} or fewer, or set evaluation.groups: ignore"
            )
        return
    counts = np.bincount(labels, minlength=len(classes))
    smallest = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
    if counts[smallest] < folds:
        raise DataError(
            f"evaluation.folds={folds} but class {classes[smallest]!r} has only {counts[smallest]} images; "
            f"lower evaluation.folds to {counts[smallest]} or fewer"
        )


def carve_validation(
    rest: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    val_fraction: float,
    seed: int,
    classes: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices from ``rest``: stratified by ``val_fraction``, whole groups when grouped."""
    if groups is None:
        split = stratified_split(labels[rest], 0.0, val_fraction, seed, classes)
        return rest[split["train"]], rest[split["val"]]
    parts = max(2, round(1 / val_fraction))
    check_fold_count(labels[rest], groups[rest], parts, classes)
    train, val = next(_splitter(groups, parts, seed).split(rest, labels[rest], groups[rest]))
    return rest[train], rest[val]


def grouped_holdout(
    labels: np.ndarray,
    groups: np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    classes: Sequence[str],
) -> Splits:
    """A train/val/test split that keeps every group whole: the first of round(1 / test_fraction)
    stratified group folds is the test set, then val is carved from the rest the same way."""
    if test_fraction <= 0 or val_fraction <= 0:
        raise DataError(
            "a group-aware split needs test and val images; set data.test_fraction and data.val_fraction > 0"
        )
    parts = max(2, round(1 / test_fraction))
    check_fold_count(labels, groups, parts, classes)
    indices = np.arange(labels.size)
    rest, test = next(_splitter(groups, parts, seed).split(indices, labels, groups))
    train, val = carve_validation(rest, labels, groups, val_fraction, seed, classes)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def carve_missing_validation(
    splits: Splits,
    labels: np.ndarray,
    groups: np.ndarray | None,
    val_fraction: float,
    seed: int,
    classes: Sequence[str],
) -> Splits:
    """A given split without val images gets val carved from its train images (``data.val_fraction``)."""
    if splits["val"].size or val_fraction <= 0:
        return splits
    train, val = carve_validation(splits["train"], labels, groups, val_fraction, seed, classes)
    return {**splits, "train": np.sort(train), "val": np.sort(val)}


def _splitter(groups: np.ndarray | None, folds: int, seed: int) -> _Quiet:
    if groups is None:
        return _Quiet(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed))
    return _Quiet(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed))


class _Quiet:
    """A splitter whose "least populated class" warning becomes one log line: with groups, a class with
    fewer images than folds cannot be in every test fold, which is expected, not a fault."""

    def __init__(self, splitter: StratifiedKFold | StratifiedGroupKFold) -> None:
        self.splitter = splitter

    def split(
        self, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            parts = list(self.splitter.split(x, y, groups))
        for warning in caught:
            logger.info("%s (some folds lack that class)", str(warning.message).strip())
        return iter(parts)
