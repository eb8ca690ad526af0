"""The reference study's single-seed numbers beside this sweep's seed distribution."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bcbench.analysis.summary import CONFIDENCE
from bcbench.record import RunRecord, group_records, metric_value, ok_records
from bcbench.stats import describe
from bcbench.study import STUDY_MANIFEST_SUFFIXES, STUDY_REFERENCE, STUDY_SPLIT_FILE

Records = Iterable[RunRecord | dict[str, Any]]


def uses_study_split(record: RunRecord) -> bool:
    """Whether a run used the study's published split (its manifest file, by name)."""
    manifest = str(((record.config or {}).get("data") or {}).get("manifest") or "")
    return manifest.endswith((STUDY_SPLIT_FILE, *STUDY_MANIFEST_SUFFIXES))


def study_reference_rows(records: Records) -> list[dict[str, Any]]:
    """The study's single-seed results next to this sweep's seed distribution.

    Only when the records use the study's published split (``config.data.manifest`` ending in
    ``paper_split.csv``); one row per (group of a study model, metric): model, metric, reported,
    n, mean, ci_low, ci_high (t interval), min, max.
    """
    ok = ok_records(records)
    if not any(uses_study_split(r) for r in ok):
        return []
    rows = []
    for label, runs in group_records(ok).items():
        reference = STUDY_REFERENCE.get(str(runs[0].model))
        if reference is None:
            continue
        for metric, reported in reference.items():
            summary = describe(
                [metric_value(r, metric) for r in runs], CONFIDENCE, n_boot=1, bounds=(0.0, 1.0)
            )
            rows.append(
                {
                    "model": label,
                    "metric": metric,
                    "reported": reported,
                    "n": summary["n"],
                    "mean": summary["mean"],
                    "ci_low": summary["ci_t_low"],
                    "ci_high": summary["ci_t_high"],
                    "ci_note": summary["ci_note"],
                    "min": summary["min"],
                    "max": summary["max"],
                }
            )
    return rows
