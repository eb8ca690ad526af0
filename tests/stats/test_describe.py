"""Summaries over seeds against numpy, scipy and hand values."""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bcbench.stats import (
    DESCRIBE_KEYS,
    describe,
    summarise_runs,
)
from bcbench.stats.describe import all_equal, bootstrap_mean_interval, t_interval

SEED_SCORES = [0.61, 0.64, 0.66, 0.70, 0.68]


def contains_nan(mapping: dict) -> bool:
    return any(isinstance(value, float) and math.isnan(value) for value in mapping.values())


def test_describe_matches_numpy_and_scipy() -> None:
    values = np.array(SEED_SCORES)
    result = describe(SEED_SCORES)
    assert result["n"] == 5
    assert result["mean"] == pytest.approx(values.mean(), abs=1e-12)
    assert result["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    assert result["median"] == pytest.approx(0.66)
    assert (result["min"], result["max"]) == (0.61, 0.70)
    low, high = scipy_stats.t.interval(0.95, df=4, loc=values.mean(), scale=scipy_stats.sem(values))
    assert (result["ci_t_low"], result["ci_t_high"]) == pytest.approx((low, high), abs=1e-12)
    assert list(result) == list(DESCRIBE_KEYS)


def test_describe_t_interval_worked_by_hand() -> None:
    # [1, 2, 3]: mean 2, sd 1, sem 1/sqrt(3). For 2 degrees of freedom the t CDF is
    # 1/2 + t / (2 sqrt(2 + t^2)); setting it to 0.975 gives t = 0.95 * sqrt(2 / 0.0975) = 4.3027.
    t_quantile = 0.95 * math.sqrt(2 / 0.0975)
    half_width = t_quantile / math.sqrt(3)
    result = describe([1.0, 2.0, 3.0])
    assert result["ci_t_low"] == pytest.approx(2 - half_width, abs=1e-9)
    assert result["ci_t_high"] == pytest.approx(2 + half_width, abs=1e-9)
    assert result["ci_t_high"] == pytest.approx(4.4841, abs=1e-4)


TEN_SEEDS = [0.61, 0.64, 0.66, 0.70, 0.68, 0.63, 0.69, 0.65, 0.72, 0.60]


def test_describe_bootstrap_interval_seeded_and_close_to_scipy() -> None:
    result = describe(TEN_SEEDS, seed=7)
    assert result["ci_boot_low"] < result["mean"] < result["ci_boot_high"]
    assert describe(TEN_SEEDS, seed=7) == result
    reference = scipy_stats.bootstrap(
        (np.array(TEN_SEEDS),),
        np.mean,
        n_resamples=10_000,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    # Both are Monte Carlo estimates of the same percentiles.
    assert result["ci_boot_low"] == pytest.approx(reference.low, abs=0.005)
    assert result["ci_boot_high"] == pytest.approx(reference.high, abs=0.005)


def test_describe_identical_values_say_so_instead_of_a_zero_width_interval() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = describe([0.1] * 4)
    assert result["std"] == 0.0
    assert result["mean"] == 0.1
    assert result["ci_t_low"] is None and result["ci_boot_low"] is None
    assert result["ci_note"] == "all equal (n = 4)"


def test_describe_small_and_missing_inputs() -> None:
    single = describe([0.7])
    assert single["n"] == 1 and single["mean"] == 0.7 and single["median"] == 0.7
    assert single["std"] is None and single["ci_t_low"] is None and single["ci_boot_high"] is None
    empty = describe([])
    assert empty["n"] == 0 and all(empty[key] is None for key in DESCRIBE_KEYS if key not in ("n", "ci_note"))
    assert empty["ci_note"] == "no values"
    with_missing = describe([0.6, None, float("nan"), 0.8])
    assert with_missing["n"] == 2 and with_missing["mean"] == pytest.approx(0.7)
    assert (
        with_missing["std"] == pytest.approx(np.std([0.6, 0.8], ddof=1)) and with_missing["ci_t_low"] is None
    )
    with pytest.raises(ValueError, match="inf"):
        describe([0.5, float("inf")])


def test_summarise_runs_one_row_per_model_and_metric() -> None:
    df = pd.DataFrame(
        {
            "model": ["cnn", "cnn", "cnn", "resnet", "resnet", "resnet"],
            "seed": [0, 1, 2, 0, 1, 2],
            "accuracy": [0.68, 0.66, 0.70, 0.87, 0.85, 0.88],
            "f1_macro": [0.61, 0.60, None, 0.85, 0.84, 0.86],
            "auroc_macro": [None] * 6,
        }
    )
    table = summarise_runs(df, ["accuracy", "f1_macro", "auroc_macro", "not_a_column"])
    assert list(table.columns) == ["model", "metric", *DESCRIBE_KEYS]
    assert list(zip(table["model"], table["metric"], strict=True)) == [
        ("cnn", "accuracy"),
        ("cnn", "f1_macro"),
        ("resnet", "accuracy"),
        ("resnet", "f1_macro"),
    ]
    cnn_f1 = table[(table["model"] == "cnn") & (table["metric"] == "f1_macro")].iloc[0]
    assert cnn_f1["n"] == 2 and cnn_f1["mean"] == pytest.approx(0.605)
    resnet_acc = table[(table["model"] == "resnet") & (table["metric"] == "accuracy")].iloc[0]
    assert resnet_acc["std"] == pytest.approx(np.std([0.87, 0.85, 0.88], ddof=1))
    assert resnet_acc["ci_t_high"] == pytest.approx(describe([0.87, 0.85, 0.88])["ci_t_high"])
    nothing = summarise_runs(df, ["missing"])
    assert nothing.empty and list(nothing.columns) == ["model", "metric", *DESCRIBE_KEYS]


def test_the_bootstrap_interval_is_the_percentiles_of_the_seeded_resample_means() -> None:
    """The same draws written out one resample at a time: means of values[indices], then the 2.5th and
    97.5th percentiles (linear interpolation, numpy's default)."""
    values = np.array(TEN_SEEDS)
    draws = np.random.default_rng(7).integers(0, values.size, size=(2000, values.size))
    means = sorted(sum(values[i] for i in row) / values.size for row in draws)

    def percentile(q: float) -> float:
        position = q * (len(means) - 1)
        below = int(position)
        return means[below] + (position - below) * (means[below + 1] - means[below])

    low, high = bootstrap_mean_interval(values, 0.95, 2000, seed=7)
    assert (low, high) == pytest.approx((percentile(0.025), percentile(0.975)), abs=1e-12)


def test_the_bootstrap_interval_of_equal_values_is_the_first_value() -> None:
    values = np.array([0.7, 0.7 + 1e-13, 0.7 - 1e-13])  # equal within the tolerance
    assert bootstrap_mean_interval(values, 0.95, 100, seed=0) == (0.7, 0.7)


# Square roots: resample means that (almost) never tie, so one draw more or less moves the percentiles.
UNTIED_SEEDS = [0.6 + math.sqrt(k) / 50 for k in range(2, 12)]


def written_out_bootstrap(values: list[float], n_boot: int, seed: int) -> tuple[float, float]:
    """The 95% percentile bootstrap of the mean: sums of the seeded draws, then numpy's percentiles."""
    array = np.array(values)
    draws = np.random.default_rng(seed).integers(0, array.size, size=(n_boot, array.size))
    means = np.add.reduce(array[draws], axis=1) / array.size
    return tuple(np.percentile(means, [2.5, 97.5]))


def test_the_default_bootstrap_is_ten_thousand_draws_seeded_zero() -> None:
    expected = written_out_bootstrap(UNTIED_SEEDS, 10_000, 0)
    result = describe(UNTIED_SEEDS)
    assert (result["ci_boot_low"], result["ci_boot_high"]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.2])
def test_a_confidence_outside_0_1_is_refused_with_its_value(confidence: float) -> None:
    with pytest.raises(ValueError) as refused:
        describe(SEED_SCORES, confidence=confidence)
    assert str(refused.value) == f"confidence must lie in (0, 1), got {confidence}"


def test_bad_values_are_refused_with_exact_messages() -> None:
    with pytest.raises(ValueError) as two_d:
        describe([[0.1, 0.2], [0.3, 0.4]])
    assert str(two_d.value) == "expected a 1-D sequence of numbers, got shape (2, 2)"
    with pytest.raises(ValueError) as infinite:
        describe([0.5, float("-inf")])
    assert str(infinite.value) == "values contain inf: a statistic over them would be meaningless"


def test_float32_scores_are_summarised_in_float64() -> None:
    values = np.array([0.1, 0.2, 0.4], dtype=np.float32)  # e.g. scores from float32 tensors
    exact = [float(value) for value in values]
    result = describe(values)
    assert result["mean"] == pytest.approx(sum(exact) / 3, rel=1e-15)
    assert result["std"] == pytest.approx(statistics.stdev(exact), rel=1e-15)


@pytest.mark.parametrize(
    ("values", "equal"),
    [
        ([0.0, 1e-12, 0.0], True),  # a spread of exactly 1e-12 at a scale of 1 is equal
        ([0.0, 1.5e-12, 0.0], False),  # the scale is never below 1
        ([1000.0, 1000.0 + 1e-10], True),  # at 1000 the tolerance is 1e-9
        ([1000.0, 1000.0 + 2e-9], False),
    ],
)
def test_values_are_equal_within_1e_12_of_their_largest_magnitude(values: list[float], equal: bool) -> None:
    assert all_equal(np.array(values)) is equal


def test_values_equal_within_the_tolerance_have_the_first_value_as_mean_and_no_spread() -> None:
    # a float sum of three 0.1 over 3 is 0.10000000000000002, and their sample sd is 1.7e-17
    result = describe([0.1, 0.1, 0.1])
    assert (result["mean"], result["std"], result["ci_note"]) == (0.1, 0.0, "all equal (n = 3)")


def test_the_t_interval_of_a_mean_by_hand() -> None:
    # 2 degrees of freedom: the 0.975 quantile is 0.95 sqrt(2 / 0.0975) (see the test above)
    half_width = 0.95 * math.sqrt(2 / 0.0975) * 1.0 / math.sqrt(3)
    assert t_interval(2.0, 1.0, 3, 0.95) == pytest.approx((2 - half_width, 2 + half_width), rel=1e-12)
    assert t_interval(2.0, 0.0, 3, 0.95) == (2.0, 2.0)


def test_summarise_runs_keeps_first_appearance_and_passes_bounds_correction_and_defaults() -> None:
    """Groups in order of appearance (vit before cnn); bounds clip the t interval, the correction widens it;
    the bootstrap uses describe's defaults (10 000 draws, seed 0)."""
    vit = [1.0, 1.0, 0.9]
    df = pd.DataFrame({"model": ["vit"] * 3 + ["cnn"] * 10, "accuracy": vit + UNTIED_SEEDS})
    table = summarise_runs(df, ["accuracy"], bounds={"accuracy": (0.0, 1.0)}).set_index("model", drop=False)
    assert list(table["model"]) == ["vit", "cnn"]
    low, high = scipy_stats.t.interval(0.95, 2, loc=np.mean(vit), scale=np.std(vit, ddof=1) / math.sqrt(3))
    assert (table.loc["vit", "ci_t_low"], table.loc["vit", "ci_t_high"]) == pytest.approx((low, 1.0))
    boot = written_out_bootstrap(UNTIED_SEEDS, 10_000, 0)
    assert (table.loc["cnn", "ci_boot_low"], table.loc["cnn", "ci_boot_high"]) == pytest.approx(
        boot, abs=1e-12
    )
    corrected = summarise_runs(df, ["accuracy"], correction=0.25).set_index("model")
    scale = np.std(vit, ddof=1) * math.sqrt(1 / 3 + 0.25)
    expected = scipy_stats.t.interval(0.95, 2, loc=np.mean(vit), scale=scale)
    assert (corrected.loc["vit", "ci_t_low"], corrected.loc["vit", "ci_t_high"]) == pytest.approx(expected)


def test_summarise_runs_reads_text_and_nullable_columns_as_numbers_or_missing() -> None:
    """A failed run may leave text in a metric column (coerced to missing); a nullable boolean column
    with a missing value counts True as 1; a column of text only is skipped."""
    df = pd.DataFrame(
        {
            "model": ["cnn"] * 4,
            "accuracy": [0.6, "failed", 0.8, 0.7],
            "correct": pd.array([True, pd.NA, False, True], dtype="boolean"),
            "comment": ["a", "b", "c", "d"],
        }
    )
    table = summarise_runs(df, ["accuracy", "correct", "comment"]).set_index("metric")
    assert list(table.index) == ["accuracy", "correct"]
    assert (table.loc["accuracy", "n"], table.loc["accuracy", "mean"]) == (3, pytest.approx(0.7))
    assert (table.loc["correct", "n"], table.loc["correct", "mean"]) == (3, pytest.approx(2 / 3))
