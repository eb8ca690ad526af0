"""Selective prediction and ensembles against values worked out by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bcbench.errors import BcbenchError
from bcbench.metrics.selective import (
    at_coverage,
    aurc,
    ensemble_probabilities,
    kept_count,
    optimal_aurc,
    resampled_selective,
    risk_coverage,
    selective_block,
    tie_averaged_counts,
    tie_averaged_rows,
)


def two_class(confidence: list[float], correct: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose top class 1 has ``confidence``; the label is 1 where ``correct``."""
    top = np.asarray(confidence)
    probs = np.stack([1 - top, top], axis=1)
    return probs, np.where(np.asarray(correct), 1, 0)


def test_aurc_by_hand_without_ties():
    probs, labels = two_class([0.9, 0.8, 0.7, 0.6], [True, False, True, False])
    curve = risk_coverage(probs, labels)
    # risks at k = 1..4: 0/1, 1/2, 1/3, 2/4
    assert np.allclose(curve.coverage, [0.25, 0.5, 0.75, 1.0])
    assert np.allclose(curve.risk, [0, 1 / 2, 1 / 3, 2 / 4])
    assert aurc(probs, labels) == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 2) / 4)
    # the best order puts both correct first: 0, 0, 1/3, 2/4
    assert optimal_aurc(probs, labels) == pytest.approx((1 / 3 + 1 / 2) / 4)


def test_ties_count_their_expected_errors_whatever_the_row_order():
    probs, labels = two_class([0.9, 0.8, 0.8, 0.6], [True, False, True, False])
    # the tied pair holds one error: k = 2 keeps half of it in expectation -> 0.5 / 2
    expected = (0 + 0.5 / 2 + 1 / 3 + 2 / 4) / 4
    assert aurc(probs, labels) == pytest.approx(expected)
    for order in ([0, 2, 1, 3], [3, 1, 2, 0]):
        assert aurc(probs[order], labels[order]) == pytest.approx(expected)


def test_a_tie_at_the_top_shares_its_errors_from_the_first_image_kept():
    """The two most confident images are tied and one is wrong: keeping one of them has an expected risk
    of 1/2; keeping both 1/2; then 1/3 with the third (correct) image."""
    probs, labels = two_class([0.9, 0.9, 0.6], [False, True, True])
    curve = risk_coverage(probs, labels)
    assert curve.risk.tolist() == pytest.approx([0.5, 0.5, 1 / 3])
    assert curve.coverage.tolist() == pytest.approx([1 / 3, 2 / 3, 1])


def test_accuracy_and_sensitivity_at_coverage_by_hand():
    # three classes, positive = 2; ten cases by decreasing confidence
    predicted = [2, 0, 2, 1, 0, 2, 0, 1, 2, 0]
    labels = np.array([2, 0, 0, 1, 2, 2, 0, 0, 2, 2])
    confidence = np.linspace(0.95, 0.5, 10)
    probs = np.full((10, 3), 0.0)
    probs[np.arange(10), predicted] = confidence
    for row, cls in enumerate(predicted):
        probs[row, [c for c in range(3) if c != cls]] = (1 - confidence[row]) / 2
    at_80 = at_coverage(probs, labels, 0.8, positive=2)  # the 8 most confident
    # kept: correct at rows 0, 1, 3, 5, 6 -> 5 / 8; positives kept rows 0, 4, 5 -> hits 0, 5 -> 2 / 3
    assert at_80["kept"] == 8 and at_80["accuracy"] == pytest.approx(5 / 8)
    assert at_80["sensitivity"] == pytest.approx(2 / 3)
    at_90 = at_coverage(probs, labels, 0.9, positive=2)  # adds row 8: correct, a hit
    assert at_90["kept"] == 9 and at_90["accuracy"] == pytest.approx(6 / 9) and at_90["sensitivity"] == 0.75
    block = selective_block(probs, labels, positive=2)
    assert [entry["coverage"] for entry in block["at_coverage"]] == [0.8, 0.9]
    assert block["eaurc"] == pytest.approx(block["aurc"] - block["optimal_aurc"]) and block["eaurc"] > 0


def test_kept_count_reads_the_coverage_as_written():
    assert kept_count(0.9, 10) == 9 and kept_count(0.8, 117) == 94 and kept_count(1.0, 117) == 117
    with pytest.raises(BcbenchError, match="coverage must lie in"):
        kept_count(0.0, 10)


def test_no_positive_class_or_none_kept_gives_no_sensitivity():
    probs, labels = two_class([0.9, 0.8, 0.7], [True, True, False])
    assert at_coverage(probs, labels, 1.0)["sensitivity"] is None
    assert at_coverage(probs, labels, 0.3, positive=0)["sensitivity"] is None  # label 0 only in row 2


def test_ensemble_is_the_mean_of_the_members():
    first = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    second = np.array([[0.7, 0.3], [0.4, 0.6], [0.1, 0.9]])
    third = np.array([[0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    mean = ensemble_probabilities([first, second, third], row_ids=[["a", "b", "c"]] * 3)
    assert np.allclose(mean, [[0.6, 0.4], [0.3, 0.7], [0.4, 0.6]])


@pytest.mark.parametrize(
    ("members", "row_ids", "match"),
    [
        ([], None, "at least one"),
        ([np.full((3, 2), 0.5), np.full((2, 2), 0.5)], None, r"member 1 has probabilities \(2, 2\)"),
        ([np.full((2, 2), 0.5), np.full((2, 2), 0.7)], None, "not probabilities"),
        (
            [np.full((2, 2), 0.5)] * 2,
            [["a", "b"], ["b", "a"]],
            "member 1 row 0 is 'b' where member 0 has 'a'",
        ),
        ([np.full((2, 2), 0.5)] * 2, [["a", "b"]], "1 row-id lists for 2"),
    ],
)
def test_misaligned_or_malformed_members_are_one_line_errors(members, row_ids, match):
    with pytest.raises(BcbenchError, match=match) as caught:
        ensemble_probabilities(members, row_ids)
    assert "\n" not in str(caught.value)


def test_rows_of_tie_averaged_counts_by_hand_and_against_the_one_dimensional_count():
    confidence = np.array([[0.9, 0.8, 0.8, 0.6], [0.7, 0.7, 0.7, 0.7]])
    values = np.array([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0]])
    # row 0: the tied pair holds one error, half of it counted at k = 2; row 1: one group, 2 errors in 4
    assert tie_averaged_rows(confidence, values).tolist() == [[0.0, 0.5, 1.0, 2.0], [0.5, 1.0, 1.5, 2.0]]
    for row in range(2):
        assert (
            tie_averaged_rows(confidence, values)[row].tolist()
            == tie_averaged_counts(confidence[row], values[row]).tolist()
        )


def test_resampled_numbers_equal_selective_block_on_each_resample_ties_included():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=25).round(1)  # rounding makes tied confidences
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, 25)
    index = rng.integers(0, 25, size=(30, 25))
    batched = resampled_selective(probs, labels, index, positive=2, coverages=(0.8, 0.9))
    for row, rows in enumerate(index):
        block = selective_block(probs[rows], labels[rows], 2, (0.8, 0.9))
        assert batched["aurc"][row] == block["aurc"] and batched["eaurc"][row] == block["eaurc"]
        for point in block["at_coverage"]:
            percent = round(point["coverage"] * 100)
            assert batched[f"accuracy_at_{percent}"][row] == point["accuracy"]
            sensitivity = batched[f"sensitivity_at_{percent}"][row]
            assert (
                np.isnan(sensitivity) if point["sensitivity"] is None else sensitivity == point["sensitivity"]
            )


def test_kept_count_is_the_ceiling_of_coverage_times_n_at_least_one():
    assert [kept_count(c, 10) for c in (0.01, 0.1, 0.84, 0.85, 1.0)] == [1, 1, 9, 9, 10]
    for coverage in (1.5, -0.1):
        with pytest.raises(BcbenchError, match=f"coverage must lie in \\(0, 1\\], got {coverage}"):
            kept_count(coverage, 10)


def test_one_positive_kept_gives_its_sensitivity_and_the_block_passes_the_positive_class():
    probs, labels = two_class([0.9, 0.8, 0.7, 0.6], [True, False, True, True])  # labels 1, 0, 1, 1
    entry = at_coverage(probs, labels, 0.5, positive=0)  # keeps rows 0, 1: one positive (row 1), missed
    assert entry == {"coverage": 0.5, "kept": 2, "accuracy": 0.5, "sensitivity": 0.0, "positives_kept": 1.0}
    no_class = at_coverage(probs, labels, 0.5)
    assert no_class["positives_kept"] is None and no_class["sensitivity"] is None
    block = selective_block(probs, labels, positive=1, coverages=(0.5,))
    assert block["at_coverage"] == [at_coverage(probs, labels, 0.5, positive=1)]
    assert block["at_coverage"][0]["sensitivity"] == 1.0 and block["at_coverage"][0]["positives_kept"] == 1.0


def test_misaligned_rows_name_the_member_the_row_and_what_to_do():
    with pytest.raises(BcbenchError) as caught:
        ensemble_probabilities([np.full((2, 2), 0.5)] * 2, [["a", "b"], ["a", "c"]])
    assert str(caught.value) == (
        "ensemble member 1 row 1 is 'c' where member 0 has 'b'; align the members' rows (same test set, "
        "same order) before averaging"
    )
    with pytest.raises(BcbenchError) as caught:
        ensemble_probabilities([np.full((2, 2), 0.5)] * 2, [["a", "b"], ["a", "b", "c"]])
    assert str(caught.value) == "ensemble member 1 names 3 rows for 2 probabilities"


def test_optimal_aurc_by_hand_with_three_of_four_correct():
    probs, labels = two_class([0.6, 0.7, 0.8, 0.9], [False, True, True, True])
    # the best order keeps the three correct first: risks 0, 0, 0, 1/4
    assert optimal_aurc(probs, labels) == pytest.approx(1 / 16)
    assert aurc(probs, labels) == pytest.approx(1 / 16)  # this model's order is the best one


def test_members_with_zeros_ones_or_no_rows_average_and_negative_entries_are_refused():
    hard = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert np.array_equal(ensemble_probabilities([hard, hard]), hard)
    assert ensemble_probabilities([np.empty((0, 2)), np.empty((0, 2))]).shape == (0, 2)
    with pytest.raises(BcbenchError, match="member 1 has rows that are not probabilities"):
        ensemble_probabilities([hard, np.array([[1.5, -0.5], [0.5, 0.5]])])  # rows sum to 1


@pytest.mark.parametrize(
    ("probs", "labels", "shapes"),
    [
        (np.full(3, 0.5), [0, 1, 0], "(3,) and (3,)"),
        (np.full((3, 2), 0.5), [0, 1], "(3, 2) and (2,)"),
        (np.empty((0, 2)), [], "(0, 2) and (0,)"),
    ],
)
def test_malformed_predictions_are_one_clear_error(probs, labels, shapes):
    with pytest.raises(BcbenchError) as caught:
        aurc(probs, labels)
    assert str(caught.value) == f"selective prediction needs probabilities [N, C] and N labels, got {shapes}"


def test_a_single_case_has_its_own_risk():
    assert aurc(*two_class([0.9], [False])) == 1.0 and aurc(*two_class([0.9], [True])) == 0.0


def test_one_member_ensembles_and_the_exact_messages_of_malformed_members():
    member = np.array([[0.25, 0.75]])
    assert np.array_equal(ensemble_probabilities([member], row_ids=[["a"]]), member)
    with pytest.raises(BcbenchError) as caught:
        ensemble_probabilities([])
    assert str(caught.value) == "an ensemble needs at least one member's probabilities"
    with pytest.raises(BcbenchError) as caught:
        ensemble_probabilities([member, np.array([[np.nan, 1.0]])])
    assert str(caught.value) == (
        "ensemble member 1 has rows that are not probabilities (negative, not finite or not summing to 1)"
    )


def test_kept_count_reads_coverage_times_n_to_nine_decimals():
    assert kept_count(0.9 + 2e-11, 10) == 9  # 9.0000000002: the tenth decimal is rounding noise
    assert kept_count(0.9 + 2e-10, 10) == 10  # 9.000000002: the ninth decimal counts


def test_counts_are_summed_in_float64_whatever_the_values_dtype():
    """A thousand float32 weights of 0.1 without ties: float32 running sums drift by about 1e-3 by the
    end, float64 ones stay k times the weight."""
    weights = np.full(1000, 0.1, dtype=np.float32)
    confidence = np.linspace(1.0, 0.0, 1000)
    expected = np.arange(1, 1001) * float(np.float32(0.1))
    np.testing.assert_allclose(tie_averaged_counts(confidence, weights), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        tie_averaged_rows(confidence[None], weights[None])[0], expected, rtol=1e-12, atol=0
    )


def test_resampled_numbers_by_hand_without_a_positive_class_and_with_no_positive_kept():
    probs, labels = two_class([0.9, 0.8, 0.7, 0.6], [True, False, True, False])  # labels 1, 0, 1, 0
    index = np.array([[0, 1, 2, 3], [0, 0, 3, 3], [0, 2, 0, 2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 where no positive is kept is NaN, silently
        out = resampled_selective(probs, labels, index)
        with_class = resampled_selective(probs, labels, index, positive=0)
    assert sorted(out) == [
        "accuracy_at_80",
        "accuracy_at_90",
        "aurc",
        "eaurc",
        "sensitivity_at_80",
        "sensitivity_at_90",
    ]
    # risks: 0, 1/2, 1/3, 2/4 (best 0, 0, 1/3, 2/4); 0, 0, 1/3, 2/4 (the best); all correct
    assert out["aurc"].tolist() == pytest.approx([(1 / 2 + 1 / 3 + 1 / 2) / 4, (1 / 3 + 1 / 2) / 4, 0.0])
    assert out["eaurc"].tolist() == pytest.approx([1 / 8, 0.0, 0.0])
    assert out["accuracy_at_80"].tolist() == out["accuracy_at_90"].tolist() == [0.5, 0.5, 1.0]  # all 4 kept
    assert np.isnan(out["sensitivity_at_80"]).all() and np.isnan(out["sensitivity_at_90"]).all()
    # label 0 (rows 1 and 3) is never predicted: sensitivity 0 where kept, NaN in the third resample
    assert with_class["sensitivity_at_80"][:2].tolist() == [0.0, 0.0]
    assert np.isnan(with_class["sensitivity_at_80"][2])
    one_positive = resampled_selective(probs, labels, np.array([[1, 1, 3, 2]]), positive=1)  # only row 2
    assert one_positive["sensitivity_at_80"].tolist() == [1.0]  # one positive kept, predicted: 1 / 1


def test_the_ensemble_of_stored_float32_members_is_their_float64_mean():
    first = np.array([[0.1, 0.9], [0.6, 0.4]], dtype=np.float32)
    second = np.array([[0.3, 0.7], [0.2, 0.8]], dtype=np.float32)
    mean = ensemble_probabilities([first, second])
    assert mean.dtype == np.float64
    by_hand = [[(first[r, c].item() + second[r, c].item()) / 2 for c in range(2)] for r in range(2)]
    assert mean.tolist() == by_hand
