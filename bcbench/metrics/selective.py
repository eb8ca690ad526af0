"""Selective prediction: how good the model is on the cases it is surest of, if it may defer the rest
(to a radiologist), and the ensemble of several runs' stored probabilities.

Confidence is the top-class probability of the probabilities the caller passes (temperature-scaled,
``calibration.apply_temperature``: with more than two classes the ranking of cases by top probability
can change with the temperature, so it matters which are passed). Cases are kept from the most
confident down. With k kept of N, the coverage is k/N and the selective risk is the error rate among
the kept (Geifman & El-Yaniv, "Selective classification for deep neural networks", NeurIPS 2017).

Ties in confidence are handled deterministically and independently of row order: a group of tied
cases enters as a block, and any count at a coverage that splits the group (errors, positives) is its
expectation over every order of the group: the count before the group plus the kept share of the
group times the group's count. The risk-coverage curve is the selective risk at k = 1..N, and

    AURC = (1 / N) * sum_{k=1..N} risk(k / N),

the mean selective risk over all coverages k/N (Geifman, Uziel & El-Yaniv, "Bias-reduced uncertainty
estimation for deep neural classifiers", ICLR 2019; Ding et al., "Revisiting the evaluation of
uncertainty estimation and its application to explore model complexity-uncertainty
trade-off", CVPR Workshops 2020). Lower is better; ``optimal_aurc`` is the AURC of a ranking that
puts every correct case first (the least any ranking can reach at this accuracy), and E-AURC = AURC
minus it. At a target coverage c the kept count is ceil(c N), the fewest cases that cover at least c.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bcbench.errors import ConfigError, DataError

DEFAULT_COVERAGES = (0.8, 0.9)
ROW_SUM_TOLERANCE = 1e-3  # stored float32 probabilities sum to 1 within this


@dataclass(frozen=True)
class RiskCoverage:
    coverage: np.ndarray  # k / N for k = 1..N
    risk: np.ndarray  # selective risk (error rate among the k most confident), tie-averaged


def _checked_probs(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    probs_array, labels_array = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if probs_array.ndim != 2 or labels_array.shape != (probs_array.shape[0],) or len(labels_array) == 0:
        raise DataError(
            f"selective prediction needs probabilities [N, C] and N labels, got {probs_array.shape} "
            f"and {labels_array.shape}"
        )
    return probs_array, labels_array


def _ranked(probs: np.ndarray, *per_case: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Confidences from the highest down, and each per-case array in the same order."""
    confidence = probs.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    return confidence[order], [values[order] for values in per_case]


def tie_averaged_counts(confidence: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Expected cumulative sums of ``values`` over the k most confident, k = 1..N (``confidence``
    sorted descending): within a run of tied confidences the sum grows linearly across the run."""
    total = np.cumsum(values, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, confidence[1:] != confidence[:-1]])
    ends = np.r_[starts[1:], len(confidence)]
    before = np.r_[0.0, total[ends[:-1] - 1]]
    rate = (total[ends - 1] - before) / (ends - starts)
    group = np.repeat(np.arange(len(starts)), ends - starts)
    kept = np.arange(1, len(confidence) + 1)
    return before[group] + (kept - starts[group]) * rate[group]


def risk_coverage(probs: Any, labels: Any) -> RiskCoverage:
    """The risk-coverage curve: selective risk at every coverage k/N."""
    probs_array, labels_array = _checked_probs(probs, labels)
    errors = (probs_array.argmax(axis=1) != labels_array).astype(np.float64)
    confidence, (errors,) = _ranked(probs_array, errors)
    kept = np.arange(1, len(errors) + 1)
    return RiskCoverage(coverage=kept / len(errors), risk=tie_averaged_counts(confidence, errors) / kept)


def aurc(probs: Any, labels: Any) -> float:
    """Area under the risk-coverage curve: the mean selective risk over coverages k/N, k = 1..N."""
    return float(risk_coverage(probs, labels).risk.mean())


def optimal_aurc(probs: Any, labels: Any) -> float:
    """The AURC of a ranking with every correct case first, at this model's accuracy."""
    probs_array, labels_array = _checked_probs(probs, labels)
    correct = int((probs_array.argmax(axis=1) == labels_array).sum())
    kept = np.arange(1, len(labels_array) + 1)
    return float((np.maximum(kept - correct, 0) / kept).mean())


def kept_count(coverage: float, total: int) -> int:
    """ceil(coverage * total), read through 9 decimals so that 0.9 * 10 keeps 9, not 10."""
    if not 0 < coverage <= 1:
        raise ConfigError(f"coverage must lie in (0, 1], got {coverage}")
    return max(1, math.ceil(round(coverage * total, 9)))


def at_coverage(probs: Any, labels: Any, coverage: float, positive: int | None = None) -> dict[str, Any]:
    """Accuracy among the ceil(coverage N) most confident cases, and the sensitivity of class
    ``positive`` among them (true positives over positives kept, both tie-averaged; None without a
    positive class or with no positive kept)."""
    probs_array, labels_array = _checked_probs(probs, labels)
    predicted = probs_array.argmax(axis=1)
    is_positive = labels_array == positive if positive is not None else np.zeros(len(labels_array), bool)
    confidence, (correct, positives, hits) = _ranked(
        probs_array,
        (predicted == labels_array).astype(float),
        is_positive.astype(float),
        (is_positive & (predicted == positive)).astype(float),
    )
    kept = kept_count(coverage, len(labels_array))
    index = kept - 1
    positives_kept = tie_averaged_counts(confidence, positives)[index]
    sensitivity = None
    if positive is not None and positives_kept > 0:
        sensitivity = float(tie_averaged_counts(confidence, hits)[index] / positives_kept)
    return {
        "coverage": coverage,
        "kept": kept,
        "accuracy": float(tie_averaged_counts(confidence, correct)[index] / kept),
        "sensitivity": sensitivity,
        "positives_kept": float(positives_kept) if positive is not None else None,
    }


def selective_block(
    probs: Any, labels: Any, positive: int | None = None, coverages: Sequence[float] = DEFAULT_COVERAGES
) -> dict[str, Any]:
    """AURC, its optimum and excess (E-AURC), and ``at_coverage`` at each coverage, for one run."""
    value, best = aurc(probs, labels), optimal_aurc(probs, labels)
    return {
        "aurc": value,
        "optimal_aurc": best,
        "eaurc": value - best,
        "at_coverage": [at_coverage(probs, labels, coverage, positive) for coverage in coverages],
    }


def ensemble_probabilities(
    members: Sequence[Any], row_ids: Sequence[Sequence[Hashable]] | None = None
) -> np.ndarray:
    """The mean of the members' probabilities [N, C] (float64): each member a run's stored test
    probabilities, all of one shape, each row a probability vector. ``row_ids`` (one sequence per member,
    e.g. its image paths) must then be identical, row for row: averaging misaligned rows is silent
    nonsense, so it is an error."""
    if len(members) == 0:
        raise DataError("an ensemble needs at least one member's probabilities")
    arrays = [np.asarray(member, dtype=np.float64) for member in members]
    for number, array in enumerate(arrays):
        _check_member(number, array, arrays[0].shape)
    if row_ids is not None:
        _check_rows(row_ids, len(arrays), arrays[0].shape[0])
    return np.mean(np.stack(arrays), axis=0)


def _check_member(number: int, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.ndim != 2 or array.shape != shape:
        raise DataError(f"ensemble member {number} has probabilities {array.shape}, member 0 {shape}")
    sums_to_one = np.abs(array.sum(axis=1) - 1).max(initial=0.0) <= ROW_SUM_TOLERANCE
    if not np.isfinite(array).all() or (array < 0).any() or not sums_to_one:
        raise DataError(
            f"ensemble member {number} has rows that are not probabilities (negative, not finite or "
            "not summing to 1)"
        )


def _check_rows(row_ids: Sequence[Sequence[Hashable]], members: int, rows: int) -> None:
    if len(row_ids) != members:
        raise DataError(f"{len(row_ids)} row-id lists for {members} ensemble members; pass one per member")
    reference = list(row_ids[0])
    for number, ids in enumerate(row_ids):
        ids = list(ids)
        if len(ids) != rows:
            raise DataError(f"ensemble member {number} names {len(ids)} rows for {rows} probabilities")
        for row, (mine, first) in enumerate(zip(ids, reference, strict=True)):
            if mine != first:
                raise DataError(
                    f"ensemble member {number} row {row} is {mine!r} where member 0 has {first!r}; "
                    "align the members' rows (same test set, same order) before averaging"
                )


def tie_averaged_rows(confidence: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``tie_averaged_counts`` of every row of [B, N] arrays at once (each row sorted descending), with the
    same arithmetic in the same order, so each row equals the 1-D result."""
    total = np.cumsum(values, axis=1, dtype=np.float64)
    positions = np.arange(confidence.shape[1])
    new_group = np.ones(confidence.shape, dtype=bool)
    new_group[:, 1:] = confidence[:, 1:] != confidence[:, :-1]
    last_of_group = np.ones(confidence.shape, dtype=bool)
    last_of_group[:, :-1] = new_group[:, 1:]
    starts = np.maximum.accumulate(np.where(new_group, positions, 0), axis=1)
    reversed_ends = np.where(last_of_group, positions, confidence.shape[1] - 1)[:, ::-1]
    ends = np.minimum.accumulate(reversed_ends, axis=1)[:, ::-1] + 1  # one past the group's last case
    before = np.where(starts > 0, np.take_along_axis(total, np.maximum(starts - 1, 0), axis=1), 0.0)
    rate = (np.take_along_axis(total, ends - 1, axis=1) - before) / (ends - starts)
    return before + (positions + 1 - starts) * rate


def resampled_selective(
    probs: Any,
    labels: Any,
    index: np.ndarray,
    positive: int | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
) -> dict[str, np.ndarray]:
    """``selective_block``'s numbers on every resample of the cases at once: ``index`` [B, N] picks each
    resample's rows. Returns {"aurc", "eaurc", "accuracy_at_<percent>", "sensitivity_at_<percent>"}, each
    [B] (sensitivity NaN where no positive is kept or without a positive class)."""
    probs_array, labels_array = _checked_probs(probs, labels)
    predicted = probs_array.argmax(axis=1)
    confidence = probs_array.max(axis=1)[index]
    order = np.argsort(-confidence, axis=1, kind="stable")
    ranked = np.take_along_axis(confidence, order, axis=1)

    def in_order(values: np.ndarray) -> np.ndarray:
        return np.take_along_axis(values.astype(np.float64)[index], order, axis=1)

    errors = in_order(predicted != labels_array)
    kept = np.arange(1, index.shape[1] + 1)
    risk = tie_averaged_rows(ranked, errors) / kept
    correct = index.shape[1] - errors.sum(axis=1, keepdims=True)
    out = {"aurc": risk.mean(axis=1)}
    out["eaurc"] = out["aurc"] - (np.maximum(kept - correct, 0) / kept).mean(axis=1)
    is_positive = labels_array == positive if positive is not None else np.zeros(len(labels_array), bool)
    positives = tie_averaged_rows(ranked, in_order(is_positive))
    hits = tie_averaged_rows(ranked, in_order(is_positive & (predicted == positive)))
    right = tie_averaged_rows(ranked, in_order(predicted == labels_array))
    for coverage in coverages:
        column, percent = kept_count(coverage, index.shape[1]) - 1, round(coverage * 100)
        out[f"accuracy_at_{percent}"] = right[:, column] / (column + 1)
        found = positives[:, column]
        with np.errstate(invalid="ignore", divide="ignore"):
            sensitivity = np.where(found > 0, hits[:, column] / found, np.nan)
        out[f"sensitivity_at_{percent}"] = (
            sensitivity if positive is not None else np.full(len(index), np.nan)
        )
    return out
