"""The deployed forms' analysis from hand-made records: scores over seeds with their t intervals (scipy),
paired differences to eager (scipy's paired t-test), agreement, medians of latency, speed-up and size by
hand, failures and notes, the Pareto points, cross-validation (fold means, Nadeau-Bengio by hand); and
the recompute check of each form's test block from its stored rows."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scipy import stats

from bcbench.analysis import analyse
from bcbench.analysis.deploy import analyse_deploy
from bcbench.analysis.stored import check_stored_predictions, differing_form_keys
from bcbench.data import DataSummary
from bcbench.deploy import DeployBlock, FormResult
from bcbench.metrics import TestMetrics, evaluate
from bcbench.record import RunRecord, prediction_rows, read_predictions, with_calibrated, write_predictions
from tests.analysis.fake_deploy import (
    EAGER_ACC,
    EAGER_F1,
    INT8_ACC,
    INT8_F1,
    form,
    holdout_records,
)


def table_row(analysis, model: str, form_name: str) -> dict:
    return next(row for row in analysis.table if row["model"] == model and row["form"] == form_name)


def test_scores_over_seeds_with_t_intervals():
    analysis = analyse_deploy(holdout_records())
    int8 = table_row(analysis, "cnn", "onnx_int8")
    mean, sd = np.mean(INT8_ACC), np.std(INT8_ACC, ddof=1)
    low, high = stats.t.interval(0.95, 2, loc=mean, scale=sd / math.sqrt(3))
    assert int8["accuracy_n"] == 3 and int8["accuracy_mean"] == pytest.approx(mean)
    assert (int8["accuracy_ci_t_low"], int8["accuracy_ci_t_high"]) == pytest.approx((low, high))
    assert int8["runs"] == 3 and int8["failed"] == 1 and int8["reason"].startswith("INT8 quantisation failed")
    eager = table_row(analysis, "cnn", "eager")
    assert (
        eager["f1_macro_mean"] == pytest.approx(np.mean(EAGER_F1)) and "f1_macro_diff_mean_diff" not in eager
    )


def test_paired_differences_to_eager_match_scipy():
    analysis = analyse_deploy(holdout_records())
    int8 = table_row(analysis, "cnn", "onnx_int8")
    diffs = np.subtract(INT8_ACC, EAGER_ACC[:3])
    half = stats.t.ppf(0.975, 2) * np.std(diffs, ddof=1) / math.sqrt(3)
    assert int8["accuracy_diff_n"] == 3 and int8["accuracy_diff_mean_diff"] == pytest.approx(diffs.mean())
    assert int8["accuracy_diff_diff_ci_low"] == pytest.approx(diffs.mean() - half)
    assert int8["accuracy_diff_t_p"] == pytest.approx(stats.ttest_rel(INT8_ACC, EAGER_ACC[:3]).pvalue)
    onnx = table_row(analysis, "cnn", "onnx")
    assert onnx["f1_macro_diff_mean_diff"] == 0.0 and onnx["f1_macro_diff_t_p"] is None  # identical: no test


def test_agreement_latency_speed_up_and_size_by_hand():
    analysis = analyse_deploy(holdout_records())
    int8 = table_row(analysis, "cnn", "onnx_int8")
    assert int8["top1_agreement_mean"] == pytest.approx(0.99) and int8["top1_agreement_min"] == 0.98
    assert int8["p50_ms"] == 2.2  # median of 2.0, 3.0, 2.2
    assert int8["speedup"] == pytest.approx(np.median([10 / 2.0, 12 / 3.0, 11 / 2.2]))
    assert int8["file_mb"] == 10.2 and int8["threads"] == 1
    onnx = table_row(analysis, "cnn", "onnx")
    assert onnx["speedup"] == pytest.approx(2.0) and onnx["throughput_speedup"] == pytest.approx(2.0)
    assert onnx["max_abs_logit_diff"] == pytest.approx(1e-6)


def test_failures_notes_and_pareto_points():
    analysis = analyse_deploy(holdout_records())
    assert analysis.failures == [
        {"model": "cnn", "form": "onnx_int8", "reason": "INT8 quantisation failed: Unsupported op", "runs": 1,
         "run_ids": ["cnn-s3"]}
    ]  # fmt: skip
    assert analysis.notes == ["a note"] and len(analysis.runs) == 12
    points = {point.form: point for point in analysis.points}
    assert list(points) == ["eager", "onnx", "onnx_int8"]
    assert points["onnx_int8"].latency_ms == 2.2 and points["onnx_int8"].f1_macro == pytest.approx(
        np.mean(INT8_F1)
    )
    assert points["onnx"].f1_std == pytest.approx(np.std(EAGER_F1, ddof=1)) and points["eager"].threads == 1
    assert analyse_deploy([RunRecord(run_id="plain", status="ok")]) is None
    assert analyse(holdout_records()).deploy.table == analysis.table  # the sweep's analysis holds it


def test_cross_validation_pairs_fold_means_with_the_nadeau_bengio_correction():
    eager = {
        (0, 0): 0.80,
        (0, 1): 0.70,
        (0, 2): 0.90,
        (1, 0): 0.60,
        (1, 1): 0.80,
        (1, 2): 0.70,
    }  # (seed, fold)
    int8 = {(0, 0): 0.78, (0, 1): 0.71, (0, 2): 0.85, (1, 0): 0.60, (1, 1): 0.77, (1, 2): 0.70}
    records = []
    for (seed, fold), accuracy in eager.items():
        forms = {
            "eager": form("eager", accuracy, 0.5, 10.0),
            "onnx_int8": form("onnx_int8", int8[seed, fold], 0.5, 2.0),
        }
        records.append(
            RunRecord(run_id=f"s{seed}f{fold}", model="cnn", seed=seed, repeat=0, fold=fold, status="ok",
                      data=DataSummary(n_train=80, n_test=20), deploy=DeployBlock(forms=forms, threads=[1]))
        )  # fmt: skip
    row = table_row(analyse_deploy(records), "cnn", "onnx_int8")
    diffs = np.array([np.mean([int8[s, f] - eager[s, f] for s in (0, 1)]) for f in (0, 1, 2)])
    se = np.std(diffs, ddof=1) * math.sqrt(1 / 3 + 20 / 80)
    assert row["accuracy_diff_mean_diff"] == pytest.approx(diffs.mean())
    assert row["accuracy_diff_diff_ci_high"] == pytest.approx(diffs.mean() + stats.t.ppf(0.975, 2) * se)
    folds = [np.mean([int8[s, f] for s in (0, 1)]) for f in (0, 1, 2)]
    assert row["accuracy_n"] == 3 and row["accuracy_mean"] == pytest.approx(np.mean(folds))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """val, test and form rows of random probabilities; each form's recorded test block by evaluate()."""
    directory = tmp_path_factory.mktemp("stored")
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    val_probs, val_y, test_y = rng.dirichlet([1, 1, 1], 30), rng.integers(0, 3, 30), rng.integers(0, 3, 40)
    rows = [prediction_rows("val", [f"v{i}" for i in range(30)], range(30), val_y, val_probs, classes)]
    blocks = {}
    for set_name in ("test", "form:onnx_int8"):
        probs = rng.dirichlet([1, 1, 1], 40)
        rows.append(
            prediction_rows(set_name, [f"t{i}" for i in range(40)], range(30, 70), test_y, probs, classes)
        )
        blocks[set_name] = evaluate(probs, test_y, val_probs, val_y, classes)
    relative = write_predictions(directory, "run", [with_calibrated(f, classes, 1.0) for f in rows])
    int8 = FormResult(form="onnx_int8", test=blocks["form:onnx_int8"])
    record = RunRecord(
        run_id="run", status="ok", predictions=relative, data=DataSummary(classes=classes),
        test=blocks["test"], deploy=DeployBlock(forms={"onnx_int8": int8}),
    )  # fmt: skip
    return directory, record


def test_the_recompute_check_rebuilds_every_form_from_its_rows(stored):
    directory, record = stored
    assert check_stored_predictions([record], directory) == {"run": []}
    frame = read_predictions(directory, record)
    tampered = copy.deepcopy(record)
    tampered.deploy.forms["onnx_int8"].test.accuracy += 0.01
    assert differing_form_keys(frame, tampered) == ["deploy.onnx_int8.accuracy"]
    tampered.deploy.forms = {"onnx": FormResult(form="onnx", test=TestMetrics(accuracy=0.5))}
    tampered.deploy.forms["compile"] = FormResult(form="compile").fail("no compiler")
    assert differing_form_keys(frame, tampered) == ["deploy.onnx"]  # scored, but its rows are missing
