"""DeLong's test for two correlated AUROCs: two models scored on the same images (DeLong, DeLong and
Clarke-Pearson 1988), with the fast midrank computation of Sun and Xu (2014).

Each model's AUROC is the mean of its structural components: for positive image i,
V10_i = mean over negatives j of psi(x_i, y_j), and for negative j, V01_j = mean over positives i of
psi(x_i, y_j), with psi = 1 when the positive scores higher, 1/2 on a tie, else 0. The covariance of
the two AUROCs is S10 / m + S01 / n, where S10 and S01 are the 2 x 2 sample covariances of the
components over the m positives and n negatives. Hand-written because neither scipy nor scikit-learn
offers DeLong's test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats as scipy_stats


def structural_components(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V10 over positives, V01 over negatives) of one model, from midranks: O(N log N)."""
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = scores[positive], scores[~positive]
    m, n = pos.size, neg.size
    ranks = scipy_stats.rankdata(np.concatenate([pos, neg]))  # midranks, ties averaged
    v10 = (ranks[:m] - scipy_stats.rankdata(pos)) / n
    v01 = 1.0 - (ranks[m:] - scipy_stats.rankdata(neg)) / m
    return v10, v01


def delong_test(scores_a: Any, scores_b: Any, positive: Any, confidence: float = 0.95) -> dict[str, Any]:
    """Paired comparison of AUROC(A) and AUROC(B) on the same images; ``positive`` marks the positives.

    Returns auc_a, auc_b, auc_diff (A - B), se, diff_ci_low/high, z, p (two-sided) and a ``note`` when
    a statistic is undefined (one class only, or no variance: e.g. identical or constant scores).
    """
    positive = np.asarray(positive, dtype=bool)
    result: dict[str, Any] = dict.fromkeys(
        ("auc_a", "auc_b", "auc_diff", "se", "diff_ci_low", "diff_ci_high", "z", "p")
    )
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        return {
            **result,
            "n_positive": m,
            "n_negative": n,
            "note": "only one class among these images: AUROC undefined",
        }
    components = [
        structural_components(np.asarray(s, dtype=np.float64), positive) for s in (scores_a, scores_b)
    ]
    v10 = np.stack([c[0] for c in components])
    v01 = np.stack([c[1] for c in components])
    auc = v10.mean(axis=1)
    covariance = np.cov(v10) / m + np.cov(v01) / n if m > 1 and n > 1 else np.zeros((2, 2))
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    result.update(
        auc_a=float(auc[0]), auc_b=float(auc[1]), auc_diff=float(auc[0] - auc[1]), n_positive=m, n_negative=n
    )
    if variance <= 1e-15:
        return {**result, "note": "no variance of the difference (identical or constant scores): no test"}
    se = math.sqrt(variance)
    z = result["auc_diff"] / se
    half = float(scipy_stats.norm.ppf((1 + confidence) / 2)) * se
    low, high = result["auc_diff"] - half, result["auc_diff"] + half
    return {
        **result,
        "se": se,
        "diff_ci_low": low,
        "diff_ci_high": high,
        "z": z,
        "p": float(2 * scipy_stats.norm.sf(abs(z))),
        "note": "",
    }
