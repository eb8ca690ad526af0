"""Paired comparisons, Holm correction and P(A>B) against scipy and hand values."""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bcbench.stats import (
    holm_correction,
    paired_comparison,
    pairwise_comparisons,
    probability_of_improvement,
)
from bcbench.stats.paired import NOTE_CONSTANT_DIFFERENCE, NOTE_IDENTICAL, NOTE_TOO_FEW

SEED_SCORES = [0.61, 0.64, 0.66, 0.70, 0.68]


# Paired scores of two models on six seeds. Differences a - b: 0.04, 0.02, -0.01, 0.05, 0.06, 0.025
# (distinct absolute values, no zeros, so scipy's exact signed-rank test applies).
A_SCORES = [0.70, 0.72, 0.68, 0.75, 0.71, 0.69]


B_SCORES = [0.66, 0.70, 0.69, 0.70, 0.65, 0.665]


def contains_nan(mapping: dict) -> bool:
    return any(isinstance(value, float) and math.isnan(value) for value in mapping.values())


def test_paired_comparison_matches_scipy_and_hand_values() -> None:
    result = paired_comparison(A_SCORES, B_SCORES)
    differences = np.array(A_SCORES) - np.array(B_SCORES)
    t_test = scipy_stats.ttest_rel(A_SCORES, B_SCORES)
    assert result["t_stat"] == pytest.approx(t_test.statistic, rel=1e-9)
    assert result["t_p"] == pytest.approx(t_test.pvalue, rel=1e-9)
    wilcoxon = scipy_stats.wilcoxon(A_SCORES, B_SCORES)
    assert result["wilcoxon_stat"] == wilcoxon.statistic
    assert result["wilcoxon_p"] == pytest.approx(wilcoxon.pvalue, rel=1e-9)
    # By hand: ranks of |d| are 1 (0.01, negative) .. 6, so W- = 1, W+ = 20 and the exact two-sided
    # p = 2 * #{subsets of 1..6 with rank sum <= 1} / 2^6 = 2 * 2 / 64.
    assert result["wilcoxon_stat"] == 1.0
    assert result["wilcoxon_p"] == pytest.approx(4 / 64)
    low, high = scipy_stats.t.interval(0.95, df=5, loc=differences.mean(), scale=scipy_stats.sem(differences))
    assert (result["diff_ci_low"], result["diff_ci_high"]) == pytest.approx((low, high), abs=1e-12)
    # Cohen's d_z = mean(d) / sd(d), with mean(d) = 0.185 / 6.
    assert result["mean_diff"] == pytest.approx(0.185 / 6, abs=1e-12)
    d = [0.04, 0.02, -0.01, 0.05, 0.06, 0.025]
    assert result["effect_size"] == pytest.approx(statistics.mean(d) / statistics.stdev(d), rel=1e-9)
    u = scipy_stats.mannwhitneyu(A_SCORES, B_SCORES).statistic
    assert result["prob_improvement"] == pytest.approx(u / 36, abs=1e-12)
    assert result["mean_a"] == pytest.approx(np.mean(A_SCORES)) and result["mean_b"] == pytest.approx(
        np.mean(B_SCORES)
    )
    assert result["diff_ci_boot_low"] is None  # no percentile bootstrap over 6 values (needs 10)
    assert result["n"] == 6 and result["note"] == ""


def test_probability_of_improvement_hand_cases() -> None:
    assert probability_of_improvement([0.8, 0.9, 0.7], [0.5, 0.6, 0.4]) == 1.0
    assert probability_of_improvement([0.5, 0.5], [0.5, 0.5, 0.5]) == 0.5
    assert probability_of_improvement([0.4, 0.5], [0.8, 0.9]) == 0.0
    # a = [1, 2, 3] vs b = [2, 2, 0]: 1 beats 0 (1); 2 ties twice and beats 0 (2); 3 beats all (3) -> 6/9.
    assert probability_of_improvement([1, 2, 3], [2, 2, 0]) == pytest.approx(6 / 9)
    u = scipy_stats.mannwhitneyu([1, 2, 3], [2, 2, 0]).statistic
    assert probability_of_improvement([1, 2, 3], [2, 2, 0]) == pytest.approx(u / 9)


def test_paired_comparison_fewer_than_three_pairs_has_no_test() -> None:
    result = paired_comparison([0.7, 0.8], [0.6, 0.75])
    assert result["note"] == NOTE_TOO_FEW
    for key in ("t_stat", "t_p", "wilcoxon_stat", "wilcoxon_p"):
        assert result[key] is None
    assert result["n"] == 2 and result["mean_diff"] == pytest.approx(0.075)
    assert not contains_nan(result)


def test_paired_comparison_identical_values_has_no_test_and_no_nan() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_comparison([0.7, 0.72, 0.69], [0.7, 0.72, 0.69])
    assert result["note"] == NOTE_IDENTICAL
    assert result["t_p"] is None and result["wilcoxon_p"] is None and result["effect_size"] is None
    assert result["mean_diff"] == 0.0 and result["diff_ci_low"] is None and result["diff_ci_high"] is None
    assert result["prob_improvement"] == 0.5
    assert not contains_nan(result)


def test_paired_comparison_constant_shift_despite_float_noise() -> None:
    # a - b is 0.01 on every seed, up to float rounding: no t-test or d_z (sd 0), but Wilcoxon works:
    # three positive differences, exact two-sided p = 2 * (1/8).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_comparison([0.71, 0.73, 0.70], [0.70, 0.72, 0.69])
    assert result["note"] == f"{NOTE_CONSTANT_DIFFERENCE}; Wilcoxon with 3 pairs cannot give p below 0.25"
    assert result["t_p"] is None and result["effect_size"] is None
    assert result["wilcoxon_p"] == pytest.approx(0.25)
    assert result["mean_diff"] == pytest.approx(0.01) and result["diff_ci_low"] is None
    assert not contains_nan(result)


def test_paired_comparison_reports_dropped_zero_differences_and_missing_pairs() -> None:
    result = paired_comparison([0.7, 0.8, 0.75, 0.9, None], [0.7, 0.7, 0.7, 0.8, 0.5])
    assert result["n"] == 4
    assert (
        result["note"]
        == "Wilcoxon dropped 1 zero difference(s); Wilcoxon with 3 pairs cannot give p below 0.25"
    )
    assert result["wilcoxon_p"] == pytest.approx(scipy_stats.wilcoxon([0.1, 0.05, 0.1]).pvalue)
    with pytest.raises(ValueError) as unequal:
        paired_comparison([0.1, 0.2], [0.1])
    assert str(unequal.value) == "paired values need equal lengths, got 2 and 1"


def test_holm_worked_example() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06.
    assert holm_correction([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_is_monotone_and_passes_none_through() -> None:
    assert holm_correction([0.5, 0.6]) == [1.0, 1.0]
    assert holm_correction([0.01, None, 0.04, float("nan")]) == pytest.approx([0.02, None, 0.04, None])
    assert holm_correction([]) == []
    raw = np.random.default_rng(0).uniform(0, 0.2, size=12)
    adjusted = np.array(holm_correction(list(raw)))
    order = np.argsort(raw)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.all(adjusted >= raw) and np.all(adjusted <= 1)
    with pytest.raises(ValueError) as refused:
        holm_correction([1.5])
    assert str(refused.value) == "p-values must lie in [0, 1], got 1.5"
    assert holm_correction([0.6, 0.7]) == [1.0, 1.0]  # 2 x 0.6 is capped at 1
    assert holm_correction([0.0, 0.02, 1.0]) == pytest.approx([0.0, 0.04, 1.0])  # 0 and 1 are p-values


def test_pairwise_comparisons_pair_shared_seeds_and_apply_holm() -> None:
    scores = {
        "simple_cnn": {0: 0.68, 1: 0.66, 2: 0.70, 3: 0.64},
        "mobilenet": {0: 0.66, 1: 0.65, 2: 0.60, 3: 0.62, 4: 0.61},
        "resnet101": {1: 0.87, 2: 0.85, 3: 0.88, 4: 0.86, 5: 0.90},
    }
    rows = pairwise_comparisons(scores, "accuracy")
    assert [(row["model_a"], row["model_b"]) for row in rows] == [
        ("simple_cnn", "mobilenet"),
        ("simple_cnn", "resnet101"),
        ("mobilenet", "resnet101"),
    ]
    assert [row["n_pairs"] for row in rows] == [4, 3, 4]
    assert all(row["metric"] == "accuracy" for row in rows)
    expected = [
        paired_comparison([0.68, 0.66, 0.70, 0.64], [0.66, 0.65, 0.60, 0.62]),
        paired_comparison([0.66, 0.70, 0.64], [0.87, 0.85, 0.88]),
        paired_comparison([0.65, 0.60, 0.62, 0.61], [0.87, 0.85, 0.88, 0.86]),
    ]
    for row, comparison in zip(rows, expected, strict=True):
        assert {key: row[key] for key in comparison} == comparison
    t_holm = holm_correction([comparison["t_p"] for comparison in expected])
    assert [row["t_p_holm"] for row in rows] == pytest.approx(t_holm)
    # Holm by hand from the raw p-values: multipliers 3, 2, 1 in ascending order, running max.
    raw = [comparison["wilcoxon_p"] for comparison in expected]
    order = np.argsort(raw)
    by_hand = [0.0] * 3
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * raw[index]))
        by_hand[index] = running
    assert [row["wilcoxon_p_holm"] for row in rows] == pytest.approx(by_hand)


def test_pairwise_comparisons_leave_untestable_pairs_out_of_holm() -> None:
    scores = {
        "a": {0: 0.7, 1: 0.8, 2: 0.75, 3: None},
        "b": {0: 0.6, 1: 0.72, 2: 0.66, 3: 0.7, 4: float("nan")},
        "c": {0: 0.5, 4: 0.3, 7: 0.4},
    }
    rows = pairwise_comparisons(scores, "f1_macro")
    assert [row["n_pairs"] for row in rows] == [3, 1, 1]
    assert rows[0]["t_p_holm"] == pytest.approx(rows[0]["t_p"])  # the only tested pair: m = 1
    assert rows[1]["t_p_holm"] is None and rows[1]["note"] == NOTE_TOO_FEW


# Square roots: resample means that (almost) never tie, so one draw more or less moves the percentiles.
UNTIED_A = [0.6 + math.sqrt(k) / 50 for k in range(2, 12)]
UNTIED_B = [0.62 + math.sqrt(k) / 70 for k in range(20, 30)]


def written_out_bootstrap(differences: np.ndarray, n_boot: int, seed: int, confidence: float) -> tuple:
    """Percentile bootstrap of the mean: sums of the seeded draws, then numpy's percentiles."""
    draws = np.random.default_rng(seed).integers(0, differences.size, size=(n_boot, differences.size))
    means = np.add.reduce(differences[draws], axis=1) / differences.size
    alpha = 100 * (1 - confidence)
    return tuple(np.percentile(means, [alpha / 2, 100 - alpha / 2]))


def test_no_pairs_gives_every_key_and_no_number() -> None:
    keys = ("mean_a", "mean_b", "mean_diff", "diff_ci_low", "diff_ci_high", "diff_ci_boot_low")
    keys += (
        "diff_ci_boot_high",
        "t_stat",
        "t_p",
        "wilcoxon_stat",
        "wilcoxon_p",
        "effect_size",
        "prob_improvement",
    )
    expected = {"n": 0, **dict.fromkeys(keys), "note": "no paired seeds: no test"}
    result = paired_comparison([None, 0.7], [0.6, float("nan")])
    assert result == expected and list(result) == list(expected)


def test_probability_of_improvement_needs_a_value_on_each_side() -> None:
    for a, b in (([], [0.5]), ([0.5], [None])):
        with pytest.raises(ValueError) as refused:
            probability_of_improvement(a, b)
        assert str(refused.value) == "probability of improvement needs at least one value on each side"


def test_ten_pairs_get_the_default_bootstrap_of_the_differences() -> None:
    """From exactly 10 pairs on: 10 000 draws seeded 0 by default, at the given confidence."""
    differences = np.array(UNTIED_A) - np.array(UNTIED_B)
    for confidence in (0.95, 0.9):
        result = paired_comparison(UNTIED_A, UNTIED_B, confidence=confidence)
        expected = written_out_bootstrap(differences, 10_000, 0, confidence)
        assert (result["diff_ci_boot_low"], result["diff_ci_boot_high"]) == pytest.approx(expected, abs=1e-10)


def test_pairwise_comparisons_pass_confidence_seed_and_draws() -> None:
    scores = {"a": dict(enumerate(UNTIED_A)), "b": dict(enumerate(UNTIED_B))}
    differences = np.array(UNTIED_A) - np.array(UNTIED_B)
    (row,) = pairwise_comparisons(scores, "accuracy", confidence=0.9)
    boot = written_out_bootstrap(differences, 10_000, 0, 0.9)
    assert (row["diff_ci_boot_low"], row["diff_ci_boot_high"]) == pytest.approx(boot, abs=1e-10)
    scale = scipy_stats.sem(differences)
    low, high = scipy_stats.t.interval(0.9, 9, loc=differences.mean(), scale=scale)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((low, high), rel=1e-9)
    (chosen,) = pairwise_comparisons(scores, "accuracy", seed=3, n_boot=2000)
    boot = written_out_bootstrap(differences, 2000, 3, 0.95)
    assert (chosen["diff_ci_boot_low"], chosen["diff_ci_boot_high"]) == pytest.approx(boot, abs=1e-10)


@pytest.mark.parametrize(
    ("a", "b", "constant"),
    [
        # scores below 1: differences on a grid of 1e-12 (0.01 and 0.01 + 4e-13 are one step; + 9e-13 is not)
        ([0.21, 0.31 + 4e-13, 0.41], [0.2, 0.3, 0.4], True),
        ([0.21, 0.31 + 9e-13, 0.41], [0.2, 0.3, 0.4], False),
        # at about 100 (on either side) the grid is 1e-12 x the largest magnitude: 3e-11 is float noise
        ([100.5, 101.5 + 3e-11, 102.5], [0.5, 1.5, 2.5], True),
        ([0.5, 1.5, 2.5], [100.5, 101.5 + 3e-11, 102.5], True),
    ],
)
def test_differences_equal_within_1e_12_of_the_largest_score_are_a_constant_shift(a, b, constant) -> None:
    note = paired_comparison(a, b)["note"]
    assert note.startswith(NOTE_CONSTANT_DIFFERENCE) is constant


def test_a_constant_shift_is_its_first_difference_on_the_grid() -> None:
    # the float differences are 0.01 + 9e-18 on average; on the 1e-12 grid they are 1e10 steps = 0.01
    assert paired_comparison([0.71, 0.73, 0.70], [0.70, 0.72, 0.69])["mean_diff"] == 1e10 * 1e-12


@pytest.mark.parametrize(("used", "note"), [(5, "Wilcoxon with 5 pairs cannot give p below 0.0625"), (6, "")])
def test_the_wilcoxon_floor_is_named_up_to_five_pairs(used: int, note: str) -> None:
    a = [0.7, 0.72, 0.68, 0.75, 0.71, 0.69][:used]
    b = [0.66, 0.70, 0.69, 0.70, 0.65, 0.665][:used]
    assert paired_comparison(a, b)["note"] == note
