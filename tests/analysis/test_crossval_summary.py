"""The summary and the model comparisons of a cross-validation sweep, from fold records built by hand
(models x repeats x folds x seeds): one value per fold (the mean over seeds), Nadeau-Bengio's corrected
variance s^2 (1/J + n_test/n_train) and the corrected resampled t, every number worked out here with numpy
and scipy's t quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bcbench.analysis import pairwise_frame, summary_frame
from bcbench.analysis import summary as summaries
from bcbench.analysis.summary import fold_comparisons, fold_frame, runs_metrics_frame
from bcbench.data import DataSummary
from bcbench.metrics import TestMetrics
from bcbench.metrics.block import ClassScores
from bcbench.record import RunRecord

MODELS, REPEATS, FOLDS, SEEDS = ("a", "b", "c"), 2, 3, (0, 1)
N_TEST = {0: 20, 1: 20, 2: 21}  # fold 2 is one image larger; n_train is the rest of 100 less 15 val
SKILL = {"a": 0.80, "b": 0.74, "c": 0.70}


def accuracy_of(model: str, repeat: int, fold: int, seed: int) -> float:
    """A value per run: a fold effect shared by the models (what makes the pairs correlated), one of the
    model's own, and the seed's."""
    index = MODELS.index(model)
    own = 0.015 * math.cos(2.1 * fold * (index + 1) + 0.9 * repeat * (index + 2))
    return SKILL[model] + 0.03 * math.sin(1.7 * fold + 2.3 * repeat) + own + 0.011 * seed * (1 + index)


def recall_of(model: str, repeat: int, fold: int, seed: int) -> float:
    """Close to 1, so the upper end of its interval is clipped to the metric's range."""
    return 1.0 - 0.02 * ((fold + 2 * repeat) % 3) - 0.001 * seed * MODELS.index(model)


def fold_record(model: str, repeat: int, fold: int, seed: int, status: str = "ok") -> RunRecord:
    n_test = N_TEST[fold]
    accuracy = accuracy_of(model, repeat, fold, seed)
    test = TestMetrics(
        accuracy=accuracy,
        balanced_accuracy=accuracy - 0.02,
        f1_macro=accuracy - 0.05,
        per_class={"benign": ClassScores(recall=recall_of(model, repeat, fold, seed))},
    )
    return RunRecord(
        run_id=f"{model}-r{repeat}f{fold}s{seed}",
        model=model,
        seed=seed,
        repeat=repeat,
        fold=fold,
        status=status,
        data=DataSummary(n_train=100 - 15 - n_test, n_val=15, n_test=n_test, classes=["benign", "malignant"]),
        test=test if status == "ok" else None,
    )


def fold_records(missing: tuple[str, int, int] | None = None) -> list[RunRecord]:
    """Every run ok, except both seeds of ``missing`` (model, repeat, fold), which failed."""
    records = []
    for model in MODELS:
        for repeat in range(REPEATS):
            for fold in range(FOLDS):
                for seed in SEEDS:
                    failed = missing == (model, repeat, fold)
                    records.append(fold_record(model, repeat, fold, seed, "failed" if failed else "ok"))
    return records


RATIO = float(np.mean([N_TEST[f] / (85 - N_TEST[f]) for f in range(FOLDS)]))  # each fold as often


def per_fold(value_of, model: str, skip: tuple[int, int] | None = None) -> dict[tuple[int, int], float]:
    """{(repeat, fold): mean over seeds} worked out from the generating formula."""
    return {
        (r, f): float(np.mean([value_of(model, r, f, s) for s in SEEDS]))
        for r in range(REPEATS)
        for f in range(FOLDS)
        if (r, f) != skip
    }


def corrected_interval(values: list[float], ratio: float, bounds=(0.0, 1.0)) -> tuple[float, float]:
    """mean +- t_{0.975, J-1} s sqrt(1/J + ratio), clipped to ``bounds``."""
    values = np.asarray(values)
    j = values.size
    half = scipy_stats.t.ppf(0.975, j - 1) * values.std(ddof=1) * math.sqrt(1 / j + ratio)
    low, high = values.mean() - half, values.mean() + half
    return max(bounds[0], min(bounds[1], low)), max(bounds[0], min(bounds[1], high))


def test_the_test_train_ratio_is_the_mean_over_the_records_of_n_test_over_n_train():
    assert summaries.test_train_ratio(fold_records()) == pytest.approx(RATIO, rel=1e-12)
    assert summaries.test_train_ratio([fold_record("a", 0, 2, 0)]) == pytest.approx(21 / 64, rel=1e-12)
    assert summaries.test_train_ratio([RunRecord(run_id="x", fold=0)]) == 0.0  # no split sizes: no correction


def test_fold_frame_has_one_value_per_fold_the_mean_over_seeds():
    folds = fold_frame(runs_metrics_frame(fold_records(), ["accuracy"]))
    assert len(folds) == len(MODELS) * REPEATS * FOLDS
    for row in folds.to_dict("records"):
        expected = per_fold(accuracy_of, row["model"])[(row["repeat"], row["fold"])]
        assert row["accuracy"] == pytest.approx(expected, rel=1e-12)


def test_the_cv_summary_interval_is_the_corrected_t_over_folds():
    summary = summary_frame(fold_records()).set_index(["model", "metric"])
    for model in MODELS:
        values = list(per_fold(accuracy_of, model).values())
        row = summary.loc[(model, "accuracy")]
        assert row["n"] == REPEATS * FOLDS  # folds x repeats, not runs
        assert row["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert row["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        low, high = corrected_interval(values, RATIO)
        assert low > 0 and high < 1  # not clipped: the correction decides the width
        assert (row["ci_t_low"], row["ci_t_high"]) == pytest.approx((low, high), rel=1e-12)
        assert row["ci_boot_low"] is None or np.isnan(row["ci_boot_low"])  # no bootstrap over folds
    assert f"n_test/n_train = {RATIO:.3f}" in summary["interval"].iloc[0]


def test_the_cv_summary_interval_is_clipped_to_the_metric_range():
    summary = summary_frame(fold_records()).set_index(["model", "metric"])
    values = list(per_fold(recall_of, "a").values())
    row = summary.loc[("a", "recall_benign")]
    low, high = corrected_interval(values, RATIO)
    assert high == 1.0 and row["ci_t_high"] == 1.0  # the raw upper end is above 1
    assert row["ci_t_low"] == pytest.approx(low, rel=1e-12)


def test_the_corrected_resampled_t_of_every_pair_over_the_folds_both_have():
    records = fold_records(missing=("c", 1, 2))  # c has 5 folds: its comparisons use those
    rows = {(r["model_a"], r["model_b"]): r for r in fold_comparisons(records, "accuracy", 0.95)}
    assert set(rows) == {("a", "b"), ("a", "c"), ("b", "c")}
    expected_p = {}
    for (a, b), row in rows.items():
        skip = (1, 2) if "c" in (a, b) else None
        fa, fb = per_fold(accuracy_of, a, skip), per_fold(accuracy_of, b, skip)
        diffs = np.array([fa[key] - fb[key] for key in fa])
        se = diffs.std(ddof=1) * math.sqrt(1 / diffs.size + RATIO)
        t = diffs.mean() / se
        half = scipy_stats.t.ppf(0.975, diffs.size - 1) * se
        assert row["n_pairs"] == diffs.size == (5 if skip else 6)
        assert row["mean_a"] == pytest.approx(np.mean(list(fa.values())), rel=1e-12)
        assert row["mean_b"] == pytest.approx(np.mean(list(fb.values())), rel=1e-12)
        assert row["mean_diff"] == pytest.approx(diffs.mean(), rel=1e-12)
        assert row["t_stat"] == pytest.approx(t, rel=1e-9)
        assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
            (diffs.mean() - half, diffs.mean() + half), rel=1e-9
        )
        expected_p[(a, b)] = 2 * scipy_stats.t.sf(abs(t), diffs.size - 1)
        assert row["t_p"] == pytest.approx(expected_p[(a, b)], rel=1e-9)
        assert row["method"] == f"corrected resampled t over folds (Nadeau-Bengio, ratio {RATIO:.3f})"
    ordered = sorted(expected_p, key=expected_p.get)
    running = 0.0
    for rank, pair in enumerate(ordered):  # Holm: (m - rank) p, running maximum, capped at 1
        running = max(running, min(1.0, (3 - rank) * expected_p[pair]))
        assert rows[pair]["t_p_holm"] == pytest.approx(running, rel=1e-9)


def test_pairwise_frame_of_a_cv_sweep_compares_over_folds_never_over_seeds():
    frame = pairwise_frame(fold_records(), metrics=("accuracy", "f1_macro"))
    assert len(frame) == 2 * 3 and set(frame["n_pairs"]) == {REPEATS * FOLDS}
    assert frame["method"].str.startswith("corrected resampled t over folds").all()
    accuracy = frame[frame["metric"] == "accuracy"].set_index(["model_a", "model_b"])
    f1 = frame[frame["metric"] == "f1_macro"].set_index(["model_a", "model_b"])
    # f1 is accuracy - 0.05 in every run: the same differences, the same test
    assert np.allclose(accuracy["t_stat"], f1["t_stat"], rtol=1e-9)
