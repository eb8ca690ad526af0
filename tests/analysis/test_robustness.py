"""Corruption curves from hand-made stored predictions: every score against scikit-learn, the mean over
corruptions, ImageNet-C's corruption error and the ranks worked out by hand."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

from bcbench.analysis import analyse
from bcbench.analysis.pooled import read_frames, seed_units
from bcbench.analysis.robustness import corruption_analysis
from bcbench.record import read_sweep
from bcbench.robustness import corrupted_set
from tests.analysis.fake_robust import TEST_LABELS, known_probs, robust_run

CORRUPTIONS = ("speckle_noise", "pixelate")
SEVERITIES = (1, 2)
MODELS = ("a", "b")
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    directory = tmp_path_factory.mktemp("robust")
    for model in MODELS:
        for seed in SEEDS:
            robust_run(directory, model, seed, CORRUPTIONS, SEVERITIES, reference="b")
    return corruption_of(directory)


def corruption_of(directory):
    records = read_sweep(directory).records
    return corruption_analysis(records, seed_units(records, read_frames(records, directory)))


@functools.cache
def sklearn_scores(model: str, seed: int, set_name: str) -> dict[str, float]:
    key = "test100" if set_name == "test" else f"{set_name}100"
    probs = known_probs(model, seed, key, len(TEST_LABELS))
    return {
        "accuracy": accuracy_score(TEST_LABELS, probs.argmax(axis=1)),
        "balanced_accuracy": balanced_accuracy_score(TEST_LABELS, probs.argmax(axis=1)),
        "auroc_macro": roc_auc_score(TEST_LABELS, probs, multi_class="ovr", average="macro"),
    }


def expected(model: str, corruption: str, severity: int, metric: str) -> list[float]:
    """The metric per seed (severity 0: the clean test rows)."""
    name = "test" if severity == 0 else corrupted_set(corruption, severity)
    return [sklearn_scores(model, seed, name)[metric] for seed in SEEDS]


def point(corruption_analysis, model, corruption, severity, metric="accuracy"):
    curves = corruption_analysis.curves
    chosen = curves[
        (curves["model"] == model)
        & (curves["corruption"] == corruption)
        & (curves["severity"] == severity)
        & (curves["metric"] == metric)
    ]
    assert len(chosen) == 1
    return chosen.iloc[0]


@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "auroc_macro"])
def test_each_point_of_each_curve_is_the_mean_over_seeds_of_the_sklearn_score(sweep, metric):
    for model in MODELS:
        for corruption in CORRUPTIONS:
            for severity in (0, *SEVERITIES):
                values = expected(model, corruption, severity, metric)
                row = point(sweep, model, corruption, severity, metric)
                assert row["n"] == 2
                assert row["mean"] == pytest.approx(np.mean(values), abs=1e-12)
                assert row["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
                assert (row["min"], row["max"]) == pytest.approx((min(values), max(values)), abs=1e-12)


def test_the_mean_curve_averages_the_corruptions_per_seed(sweep):
    for model in MODELS:
        assert point(sweep, model, "mean", 0)["mean"] == pytest.approx(
            np.mean(expected(model, "", 0, "accuracy"))
        )
        for severity in SEVERITIES:
            per_seed = np.mean([expected(model, c, severity, "accuracy") for c in CORRUPTIONS], axis=0)
            row = point(sweep, model, "mean", severity)
            assert row["mean"] == pytest.approx(per_seed.mean(), abs=1e-12)
            assert row["std"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)


def test_corruption_error_is_imagenet_c_s_ratio_of_summed_errors_to_the_reference(sweep):
    assert sweep.reference == "b"
    by_key = {(row["model"], row["corruption"]): row["ce"] for row in sweep.table}
    mce = {row["model"]: row["mce"] for row in sweep.errors}
    for model in MODELS:
        ces = []
        for corruption in CORRUPTIONS:
            errors = sum(1 - np.mean(expected(model, corruption, s, "accuracy")) for s in SEVERITIES)
            reference = sum(1 - np.mean(expected("b", corruption, s, "accuracy")) for s in SEVERITIES)
            ces.append(errors / reference)
            assert by_key[(model, corruption)] == pytest.approx(ces[-1], rel=1e-12)
        assert mce[model] == pytest.approx(np.mean(ces), rel=1e-12)
    assert mce["b"] == pytest.approx(1.0)


def test_the_table_gives_drop_and_pixel_change_per_corruption(sweep):
    row = next(r for r in sweep.table if r["model"] == "a" and r["corruption"] == "pixelate")
    clean = np.mean(expected("a", "pixelate", 0, "accuracy"))
    corrupted = np.mean([np.mean(expected("a", "pixelate", s, "accuracy")) for s in SEVERITIES])
    assert row["accuracy_0"] == pytest.approx(clean) and row["accuracy_corrupted"] == pytest.approx(corrupted)
    assert row["accuracy_drop"] == pytest.approx(clean - corrupted)
    assert row["distance"] == pytest.approx([1.5, 2.5])  # seeds 0 and 1 stored s + seed


def test_models_are_ranked_at_each_severity_by_mean_accuracy_over_corruptions(sweep):
    for severity in (0, *SEVERITIES):
        means = {}
        for model in MODELS:
            per_seed = [expected(model, c, severity, "accuracy") for c in CORRUPTIONS]
            means[model] = float(np.mean(per_seed))
        ranks = {row["model"]: row["rank"] for row in sweep.ranks if row["severity"] == severity}
        best = max(means, key=means.get)
        if means["a"] != means["b"]:
            assert ranks[best] == 1.0 and ranks[next(m for m in MODELS if m != best)] == 2.0
    clean = {row["model"]: row["rank"] for row in sweep.ranks if row["severity"] == 0}
    for row in sweep.ranks:
        same = clean == {r["model"]: r["rank"] for r in sweep.ranks if r["severity"] == row["severity"]}
        assert row["as_clean"] is same


def test_timing_is_summarised_per_model_from_the_record_blocks(sweep):
    row = next(r for r in sweep.timing if r["model"] == "a")
    assert (row["runs"], row["images"], row["copies"], row["device"]) == (2, len(TEST_LABELS), 4, "cpu")
    assert row["seconds"] == pytest.approx(2.5) and (row["seconds_min"], row["seconds_max"]) == (2.0, 3.0)


def test_a_sweep_without_corruptions_has_no_corruption_analysis(tmp_path):
    robust_run(tmp_path, "a", 0)
    assert analyse(read_sweep(tmp_path).records, tmp_path).robustness.corruption is None
    assert corruption_of(tmp_path) is None


def test_the_reference_defaults_to_the_first_model(tmp_path):
    for model in MODELS:
        robust_run(tmp_path, model, 0, CORRUPTIONS[:1], (3,))
    corruption = corruption_of(tmp_path)
    assert corruption.reference == "a" and corruption.severities == [3]
    assert {row["model"]: row["mce"] for row in corruption.errors}["a"] == pytest.approx(1.0)
