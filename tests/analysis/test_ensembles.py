"""Ensembles after the fact from hand-made stored predictions: the ensemble is the mean of the members'
stored probabilities (read back here with pandas, averaged by hand, scored with scikit-learn), scored like a
run, beside its members, with paired differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from bcbench.analysis.ensembles import ensemble_rows
from bcbench.analysis.pooled import read_frames, seed_units
from bcbench.metrics import stratified_bootstrap
from bcbench.record import read_sweep
from tests.analysis.fake_robust import EXTERNAL_LABELS, TEST_LABELS, robust_run
from tests.analysis.fake_sweep import CLASSES

N_BOOT = 200


def rows_of(directory):
    records = read_sweep(directory).records
    return ensemble_rows(seed_units(records, read_frames(records, directory)), n_boot=N_BOOT)


def stored(directory, run_id: str, set_name: str) -> np.ndarray:
    """A run's stored raw probabilities of one set, read back with pandas alone, by image index."""
    frame = pd.read_csv(directory / "predictions" / f"{run_id}.csv")
    chosen = frame[frame["set"] == set_name].sort_values("index")
    return chosen[[f"prob_{name}" for name in CLASSES]].to_numpy()


def scores(probs: np.ndarray, labels) -> dict[str, float]:
    return {
        "accuracy": accuracy_score(labels, probs.argmax(axis=1)),
        "f1_macro": f1_score(labels, probs.argmax(axis=1), average="macro"),
        "auroc_macro": roc_auc_score(labels, probs, multi_class="ovr", average="macro"),
    }


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ensembles")
    for model in ("a", "b"):
        for seed in (0, 1, 2):
            robust_run(directory, model, seed)
    return directory, rows_of(directory)


def test_the_seed_ensemble_scores_the_mean_of_the_members_stored_probabilities(holdout):
    directory, rows = holdout
    row = next(r for r in rows if r["kind"] == "seeds" and r["model"] == "a")
    members = [stored(directory, f"a-s{seed}", "test") for seed in (0, 1, 2)]
    mean = (members[0] + members[1] + members[2]) / 3
    assert (row["members"], row["n"], row["set"]) == (3, len(TEST_LABELS), "test")
    for metric, value in scores(mean, TEST_LABELS).items():
        assert row[metric] == pytest.approx(value, abs=1e-12)
        singles = [scores(member, TEST_LABELS)[metric] for member in members]
        assert row[f"{metric}_single_mean"] == pytest.approx(np.mean(singles), abs=1e-12)
        assert row[f"{metric}_single_best"] == pytest.approx(max(singles), abs=1e-12)
        assert row[f"{metric}_vs_mean"] == pytest.approx(value - np.mean(singles), abs=1e-12)
        assert row[f"{metric}_vs_best"] == pytest.approx(value - max(singles), abs=1e-12)


def test_the_ensemble_s_interval_is_the_test_block_s_bootstrap_of_its_probabilities(holdout):
    directory, rows = holdout
    row = next(r for r in rows if r["kind"] == "seeds" and r["model"] == "b")
    mean = np.mean([stored(directory, f"b-s{seed}", "test") for seed in (0, 1, 2)], axis=0)
    intervals = stratified_bootstrap(mean, np.asarray(TEST_LABELS), CLASSES, n_boot=N_BOOT)
    for metric in ("accuracy", "balanced_accuracy", "f1_macro", "auroc_macro"):
        assert [row[f"{metric}_low"], row[f"{metric}_high"]] == pytest.approx(intervals[metric], abs=1e-12)


def test_the_all_model_ensemble_weighs_each_model_s_seed_ensemble_the_same(holdout):
    directory, rows = holdout
    row = next(r for r in rows if r["kind"] == "models")
    per_model = [np.mean([stored(directory, f"{m}-s{s}", "test") for s in (0, 1, 2)], axis=0) for m in "ab"]
    expected = scores((per_model[0] + per_model[1]) / 2, TEST_LABELS)
    assert (row["model"], row["models"], row["members"]) == ("all models", 2, 6)
    assert row["auroc_macro"] == pytest.approx(expected["auroc_macro"], abs=1e-12)
    assert row["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)


def test_identical_members_make_an_ensemble_equal_to_each_with_zero_difference(tmp_path):
    for seed in (0, 1):
        robust_run(tmp_path, "a", seed, probs_key="same")
    (row,) = [r for r in rows_of(tmp_path) if r["kind"] == "seeds"]
    assert row["accuracy"] == row["accuracy_single_mean"] == row["accuracy_single_best"]
    for metric in ("accuracy", "auroc_macro"):
        assert (row[f"{metric}_vs_mean_low"], row[f"{metric}_vs_mean_high"]) == (0.0, 0.0)


def test_cross_validation_pools_folds_and_ensembles_them_on_external_sets(tmp_path):
    for seed in (0, 1):
        for fold, start in ((0, 100), (1, 105)):
            labels = TEST_LABELS[fold * 5 : fold * 5 + 5]
            robust_run(
                tmp_path, "a", seed, repeat=0, fold=fold, test_labels=labels, start=start, external=True
            )
    rows = rows_of(tmp_path)
    test = next(r for r in rows if r["kind"] == "seeds")
    pooled = [
        np.concatenate([stored(tmp_path, f"a-s{seed}-r0f{fold}", "test") for fold in (0, 1)])
        for seed in (0, 1)
    ]
    assert test["n"] == 10 and test["repeat"] == 0
    assert test["auroc_macro"] == pytest.approx(scores(np.mean(pooled, axis=0), TEST_LABELS)["auroc_macro"])
    for seed in (0, 1):
        folds = next(r for r in rows if r["kind"] == "folds" and r["seed"] == seed)
        mean = np.mean([stored(tmp_path, f"a-s{seed}-r0f{fold}", "external:ext") for fold in (0, 1)], axis=0)
        assert (folds["set"], folds["members"], folds["n"]) == ("external:ext", 2, len(EXTERNAL_LABELS))
        # the external set holds benign and malignant only: accuracy over every image, F1 over those two
        predicted = mean.argmax(axis=1)
        assert folds["accuracy"] == pytest.approx(accuracy_score(EXTERNAL_LABELS, predicted))
        f1 = f1_score(EXTERNAL_LABELS, predicted, labels=[0, 1], average="macro", zero_division=0)
        assert folds["f1_macro"] == pytest.approx(f1)
        assert "accuracy_low" not in folds  # no intervals on external sets, as for single runs
    everything = next(r for r in rows if r["kind"] == "runs")
    assert everything["members"] == 4 and everything["set"] == "external:ext"
