"""The clinical report of a real sweep: its operating points, Wilson intervals and DeLong tests equal values
worked out here from the stored predictions by definition (Youden's J over every threshold, Wilson's
formula, DeLong's O(mn) structural components); then bench/compare.py rebuilds every table exactly."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bcbench.record import read_sweep
from bcbench.report import rebuild
from bcbench.sweep import run_sweep
from tests.helpers import quiet_console, tiny_config

CLASSES = ("benign", "malignant", "normal")
Z95 = 1.959963984540054


def youden_threshold(scores: np.ndarray, positive: np.ndarray) -> float:
    """The highest score t maximising TPR - FPR when calling score >= t positive."""
    best, chosen = -np.inf, np.inf
    for threshold in sorted(set(scores.tolist()), reverse=True):
        called = scores >= threshold
        j = called[positive].mean() - called[~positive].mean()
        if j > best:
            best, chosen = j, threshold
    return chosen


def wilson(hits: int, trials: int) -> tuple[float, float]:
    """Wilson (1927) without continuity correction, as Newcombe (1998) writes it."""
    p, z = hits / trials, Z95
    centre = (2 * trials * p + z * z) / (2 * (trials + z * z))
    half = z * math.sqrt(z * z + 4 * trials * p * (1 - p)) / (2 * (trials + z * z))
    return centre - half, centre + half


def delong_by_definition(
    a: np.ndarray, b: np.ndarray, positive: np.ndarray
) -> tuple[float, float, float | None]:
    """(AUROC A, AUROC B, two-sided p) from psi over every positive-negative pair (DeLong et al. 1988);
    p is None when the difference has no variance."""

    def components(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = scores[positive], scores[~positive]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (a10, a01), (b10, b01) = components(a), components(b)
    s = np.cov(np.stack([a10, b10])) / positive.sum() + np.cov(np.stack([a01, b01])) / (~positive).sum()
    variance = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    if variance <= 1e-15:
        return float(a10.mean()), float(b10.mean()), None
    z = (a10.mean() - b10.mean()) / math.sqrt(variance)
    return float(a10.mean()), float(b10.mean()), float(2 * scipy_stats.norm.sf(abs(z)))


def stored(sweep, record) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"val"/"test": (probabilities [N, 3], label indices)} read straight from the run's CSV."""
    frame = pd.read_csv(sweep / record.predictions)
    columns = [f"prob_{name}" for name in CLASSES]
    return {
        name: (rows[columns].to_numpy(), rows["label_index"].to_numpy())
        for name, rows in frame.groupby("set")
    }


def check_operating_points(sweep, runs) -> None:
    operating = pd.read_csv(sweep / "operating_points.csv")
    malignant = CLASSES.index("malignant")
    for record in runs:
        sets = stored(sweep, record)
        (val_probs, val_labels), (probs, labels) = sets["val"], sets["test"]
        threshold = youden_threshold(val_probs[:, malignant], val_labels == malignant)
        called, positive = probs[:, malignant] >= threshold, labels == malignant
        tp, fn = int((called & positive).sum()), int((~called & positive).sum())
        fp, tn = int((called & ~positive).sum()), int((~called & ~positive).sum())
        (row,) = operating[(operating["model"] == record.model) & (operating["seed"] == record.seed)].to_dict(
            "records"
        )
        assert row["threshold"] == pytest.approx(threshold, rel=1e-12)
        assert (row["tp"], row["fn"], row["fp"], row["tn"]) == (tp, fn, fp, tn)
        for name, hits, trials in (("sensitivity", tp, tp + fn), ("specificity", tn, tn + fp)):
            assert row[name] == pytest.approx(hits / trials, rel=1e-12)
            assert (row[f"{name}_low"], row[f"{name}_high"]) == pytest.approx(wilson(hits, trials), abs=1e-12)


def check_delong(sweep, runs) -> int:
    """Every DeLong row against the definition; returns how many had a test (a p-value)."""
    delong, tested = pd.read_csv(sweep / "delong.csv"), 0
    for seed in sorted({record.seed for record in runs}):
        a, b = sorted((r for r in runs if r.seed == seed), key=lambda r: r.model)
        (probs_a, labels), (probs_b, _) = stored(sweep, a)["test"], stored(sweep, b)["test"]
        for column, name in enumerate(CLASSES):
            rows = delong[(delong["seed"] == seed) & (delong["class"] == name)]
            (row,) = rows.to_dict("records")
            first, second = (probs_a, probs_b) if row["model_a"] == a.model else (probs_b, probs_a)
            auc_a, auc_b, p = delong_by_definition(first[:, column], second[:, column], labels == column)
            assert (row["auc_a"], row["auc_b"]) == pytest.approx((auc_a, auc_b), rel=1e-9)
            if p is None:
                assert np.isnan(row["p"]) and np.isnan(row["p_holm"])
                continue
            assert row["p"] == pytest.approx(p, rel=1e-6) and row["p_holm"] == row["p"]  # one pair
            tested += 1
    return tested


def check_summary(summary: pd.DataFrame, runs) -> None:
    """Accuracy per model over its 3 seeds: the mean, and mean +- t_{0.975, 2} s / sqrt(3) clipped to
    [0, 1] (no interval when the seeds agree)."""
    for model in {record.model for record in runs}:
        values = np.array([record.test.accuracy for record in runs if record.model == model])
        (row,) = summary[(summary["model"] == model) & (summary["metric"] == "accuracy")].to_dict("records")
        assert row["n"] == 3 and row["mean"] == pytest.approx(values.mean(), rel=1e-12)
        if np.ptp(values) == 0:
            assert np.isnan(row["ci_t_low"]) and row["ci_note"] == "all equal (n = 3)"
            continue
        half = scipy_stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
        low, high = max(0.0, values.mean() - half), min(1.0, values.mean() + half)
        assert (row["ci_t_low"], row["ci_t_high"]) == pytest.approx((low, high), rel=1e-12)


REBUILT = ("summary.csv", "pairwise.csv", "operating_points.csv", "calibration.csv", "delong.csv")


@pytest.mark.slow
def test_compare_rebuilds_the_clinical_view_from_stored_predictions(synthetic_root, tmp_path):
    overrides = ("models=[simple_cnn,study_mobilenet]", "seeds=[0,1,2]", "data.image_size=24")
    assert (
        run_sweep(tiny_config(synthetic_root, tmp_path, *overrides), console=quiet_console()).exit_code == 0
    )
    sweep = tmp_path / "tiny"
    report = (sweep / "report.md").read_text()
    for section in ("## How the intervals were made", "## Clinical view", "### AUROC: DeLong's test"):
        assert section in report
    assert "positive class: **malignant**" in report and "Wilson" in report
    runs = read_sweep(sweep).ok()
    assert len(runs) == 6
    check_operating_points(sweep, runs)
    assert check_delong(sweep, runs) > 0
    first = {name: pd.read_csv(sweep / name) for name in REBUILT}
    assert (
        first["calibration.csv"]["val_nll_after"] <= first["calibration.csv"]["val_nll_before"] + 1e-12
    ).all()
    check_summary(first["summary.csv"], runs)
    for name in (*REBUILT, "report.md", "roc_pr.png", "reliability.png"):
        (sweep / name).unlink()
    shutil.rmtree(sweep / "claims", ignore_errors=True)
    rebuild([sweep])
    for name, frame in first.items():
        pd.testing.assert_frame_equal(pd.read_csv(sweep / name), frame, check_exact=False, rtol=1e-12)
    assert (sweep / "roc_pr.png").stat().st_size > 0 and (sweep / "reliability.png").stat().st_size > 0
    assert "every test metric of all 6 runs recomputed" in (sweep / "report.md").read_text().lower()
