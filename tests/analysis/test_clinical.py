"""The clinical view, DeLong rows and cross-validation pooling from hand-made stored predictions, every number
counted by hand or taken from scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import accuracy_score, roc_auc_score

from bcbench.analysis import analyse
from bcbench.record import read_sweep
from tests.analysis.fake_sweep import malignant_probs, stored_run

# validation: positives score 0.9 and 0.8, negatives at most 0.6 -> Youden's J is 1 at threshold 0.8
VAL = ([0.9, 0.8, 0.3, 0.2, 0.6, 0.1], [1, 1, 0, 0, 2, 0])
TEST_LABELS = [1, 1, 0, 0, 0, 1, 2, 2]
SCORES = {
    "a": [0.85, 0.7, 0.82, 0.4, 0.1, 0.9, 0.3, 0.2],  # at 0.8: tp 2, fn 1, fp 1, tn 4
    "b": [0.6, 0.75, 0.3, 0.5, 0.2, 0.95, 0.4, 0.1],
    "c": [0.5, 0.5, 0.5, 0.2, 0.3, 0.6, 0.5, 0.1],
}


def wilson(hits: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927) as Newcombe (1998) writes it, method 3."""
    p = hits / trials
    centre = (2 * trials * p + z * z) / (2 * (trials + z * z))
    half = z * math.sqrt(z * z + 4 * trials * p * (1 - p)) / (2 * (trials + z * z))
    return centre - half, centre + half


@pytest.fixture
def holdout(tmp_path):
    for model, scores in SCORES.items():
        stored_run(tmp_path, model, 0, VAL, (scores, TEST_LABELS), temperature=2.0)
    return tmp_path


def _analysis(directory):
    return analyse(read_sweep(directory).records, directory)


def test_the_operating_point_is_counted_at_the_validation_threshold(holdout):
    clinical = _analysis(holdout).clinical
    row = next(r for r in clinical.operating if r["model"] == "a")
    assert row["threshold"] == 0.8
    assert (row["tp"], row["fn"], row["fp"], row["tn"]) == (2, 1, 1, 4)
    assert row["sensitivity"] == pytest.approx(2 / 3) and row["specificity"] == pytest.approx(4 / 5)
    assert row["ppv"] == pytest.approx(2 / 3) and row["npv"] == pytest.approx(4 / 5)
    assert (row["sensitivity_low"], row["sensitivity_high"]) == pytest.approx(wilson(2, 3), abs=1e-12)
    assert (row["npv_low"], row["npv_high"]) == pytest.approx(wilson(4, 5), abs=1e-12)
    # no negative above 0.82 is allowed at 90% (or 95%) specificity: 0.85 and 0.9 are the positives called
    assert row["sensitivity_at_90_specificity"] == pytest.approx(2 / 3)


def test_calibration_reads_the_stored_temperature_and_probabilities(holdout):
    clinical = _analysis(holdout).clinical
    row = next(r for r in clinical.calibration if r["model"] == "a")
    assert row["temperature"] == 2.0  # as stored, never refitted
    probs = malignant_probs(SCORES["a"])
    scaled = np.sqrt(probs) / np.sqrt(probs).sum(axis=1, keepdims=True)  # softmax(log p / 2)
    labels = np.asarray(TEST_LABELS)
    expected_after = -np.mean(np.log(scaled[np.arange(8), labels]))
    assert row["nll_after"] == pytest.approx(expected_after, rel=1e-12)
    assert row["nll_before"] == pytest.approx(-np.mean(np.log(probs[np.arange(8), labels])), rel=1e-12)
    summary = next(r for r in clinical.calibration_summary if r["model"] == "a")
    assert summary["units"] == 1 and summary["nll_after"] == row["nll_after"]


def test_delong_rows_pair_the_models_on_the_same_images_with_holm_across_pairs(holdout):
    rows = [r for r in _analysis(holdout).clinical.delong if r["class"] == "malignant"]
    assert {(r["model_a"], r["model_b"]) for r in rows} == {("a", "b"), ("a", "c"), ("b", "c")}
    positive = np.asarray(TEST_LABELS) == 1
    for row in rows:
        assert row["n"] == 8
        assert row["auc_a"] == pytest.approx(roc_auc_score(positive, SCORES[row["model_a"]]))
        assert row["auc_b"] == pytest.approx(roc_auc_score(positive, SCORES[row["model_b"]]))
    tested = sorted((r for r in rows if r["p"] is not None), key=lambda r: r["p"])
    running = 0.0
    for rank, row in enumerate(tested):  # Holm: (m - rank) p, running maximum, capped at 1
        running = max(running, min(1.0, (len(tested) - rank) * row["p"]))
        assert row["p_holm"] == pytest.approx(running)


def test_cross_validation_pools_each_repeat_over_its_folds(tmp_path):
    evaluation = {"positive_class": "malignant", "folds": 2}
    for fold, offset in ((0, 100), (1, 104)):
        scores, labels = SCORES["a"][fold * 4 : fold * 4 + 4], TEST_LABELS[fold * 4 : fold * 4 + 4]
        stored_run(
            tmp_path,
            "a",
            0,
            VAL,
            (scores, labels),
            index_offset=offset,
            repeat=0,
            fold=fold,
            evaluation=evaluation,
        )
    analysis = _analysis(tmp_path)
    (pooled,) = analysis.pooled.to_dict("records")
    assert (pooled["folds"], pooled["n_images"], pooled["complete"]) == (2, 8, True)
    predicted = malignant_probs(SCORES["a"]).argmax(axis=1)
    assert pooled["accuracy"] == pytest.approx(accuracy_score(TEST_LABELS, predicted))
    assert [unit.fold for unit in analysis.clinical.units] == [0, 1]  # scores are read per fold model
    (row,) = analysis.clinical.operating  # counts at the threshold are pooled over the folds
    assert row["unit"] == "seed 0, repeat 0 (pooled over 2 folds)" and row["n"] == 8
    assert (row["tp"], row["fn"], row["fp"], row["tn"]) == (2, 1, 1, 4)  # each fold at its own threshold


def test_a_fold_without_stored_predictions_leaves_the_pooled_row_incomplete(tmp_path):
    stored_run(tmp_path, "a", 0, VAL, (SCORES["a"][:4], TEST_LABELS[:4]), repeat=0, fold=0)
    (pooled,) = _analysis(tmp_path).pooled.to_dict("records")
    assert pooled["complete"] is False and pooled["n_images"] == 4


def test_cross_validation_summarises_rates_over_folds_with_the_corrected_variance(tmp_path):
    """Two seeds x 3 folds of 6 test images (n_train 20, so n_test/n_train = 0.3): each fold's sensitivity
    is the mean over seeds; the interval is Student t over the 3 fold values with variance
    s^2 (1/3 + 0.3)."""
    evaluation = {"positive_class": "malignant", "folds": 3}
    hit, miss = 0.9, 0.5  # against the validation threshold 0.8
    called = {(0, 0): 2, (0, 1): 2, (0, 2): 2, (1, 0): 2, (1, 1): 2, (1, 2): 3}  # positives above 0.8, of 4
    for (seed, fold), hits in called.items():
        scores = [hit] * hits + [miss] * (4 - hits) + [0.1, 0.2]
        test = (scores, [1, 1, 1, 1, 0, 0])
        stored_run(
            tmp_path,
            "a",
            seed,
            VAL,
            test,
            index_offset=100 + 6 * fold,
            repeat=0,
            fold=fold,
            evaluation=evaluation,
        )
    clinical = _analysis(tmp_path).clinical
    per_fold = np.array([0.5, 0.5, 0.625])
    (summary,) = clinical.operating_summary
    sensitivity = summary["sensitivity"]
    assert sensitivity["n"] == 3 and sensitivity["mean"] == pytest.approx(per_fold.mean())
    scale = per_fold.std(ddof=1) * math.sqrt(1 / 3 + 0.3)
    expected = scipy_stats.t.interval(0.95, 2, loc=per_fold.mean(), scale=scale)
    assert expected[0] > 0 and expected[1] < 1  # not clipped: the correction decides the width
    assert (sensitivity["ci_t_low"], sensitivity["ci_t_high"]) == pytest.approx(expected)
    assert len(clinical.operating) == 2  # the per-run table: one row per seed, pooled over the folds


def test_cross_validation_tests_auroc_per_fold_and_combines_the_folds_with_the_corrected_t(tmp_path):
    evaluation = {"positive_class": "malignant", "folds": 3}
    labels = [1, 1, 1, 0, 0, 0]
    scores = {
        "a": [[0.9, 0.8, 0.3, 0.2, 0.4, 0.1], [0.9, 0.6, 0.7, 0.2, 0.5, 0.1], [0.8, 0.9, 0.2, 0.3, 0.1, 0.4]],
        "b": [[0.6, 0.8, 0.3, 0.7, 0.4, 0.1], [0.9, 0.3, 0.7, 0.2, 0.5, 0.6], [0.5, 0.9, 0.2, 0.3, 0.1, 0.4]],
    }
    for model, folds in scores.items():
        for fold, fold_scores in enumerate(folds):
            stored_run(
                tmp_path, model, 0, VAL, (fold_scores, labels), index_offset=100 + 6 * fold,
                repeat=0, fold=fold, evaluation=evaluation,
            )  # fmt: skip
    clinical = _analysis(tmp_path).clinical
    per_fold = [r for r in clinical.delong if r["class"] == "malignant"]
    assert sorted(r["fold"] for r in per_fold) == [0, 1, 2] and all(r["n"] == 6 for r in per_fold)
    positive = np.array(labels) == 1
    diffs = [
        roc_auc_score(positive, scores["a"][f]) - roc_auc_score(positive, scores["b"][f]) for f in range(3)
    ]
    (combined,) = [r for r in clinical.delong_over_folds if r["class"] == "malignant"]
    se = np.std(diffs, ddof=1) * math.sqrt(1 / 3 + 6 / 20)
    assert combined["folds"] == 3 and combined["mean_diff"] == pytest.approx(np.mean(diffs))
    assert combined["t_p"] == pytest.approx(2 * scipy_stats.t.sf(abs(np.mean(diffs) / se), 2))
