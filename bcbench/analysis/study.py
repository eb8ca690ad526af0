"""The reference study's single-seed numbers beside this sweep's seed distribution."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bcbench.analysis.summary import CONFIDENCE
from bcbench.record import RunRecord, flatten, group_records, metric_value, ok_records
from bcbench.stats import describe
from bcbench.study import (
    STUDY_MANIFEST_SUFFIXES,
    STUDY_MODEL_LR,
    STUDY_MODEL_WEIGHTS,
    STUDY_PROTOCOL,
    STUDY_REFERENCE,
    STUDY_SPLIT_FILE,
)

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


def study_deviations(records: Records) -> list[str]:
    """Where the runs beside the study's numbers did not follow its protocol (empty without the study's
    split): each setting that differs, with the study's value, and the models it concerns."""
    ok = [r for r in ok_records(records) if uses_study_split(r) and str(r.model) in STUDY_REFERENCE]
    found: dict[str, list[str]] = {}
    for record in ok:
        for text in _record_deviations(record):
            found.setdefault(text, [])
            if str(record.model) not in found[text]:
                found[text].append(str(record.model))
    every = {str(r.model) for r in ok}
    return [
        text if set(models) == every else f"{text} ({', '.join(models)})" for text, models in found.items()
    ]


def _record_deviations(record: RunRecord) -> list[str]:
    config = flatten(record.config or {})
    expected = {**STUDY_PROTOCOL, "train.lr": STUDY_MODEL_LR.get(str(record.model))}
    texts = [
        f"{key} = {config.get(key)!r} (study: {value!r})"
        for key, value in expected.items()
        if value is not None and key in config and config[key] != value
    ]
    weights = STUDY_MODEL_WEIGHTS.get(str(record.model))
    used = config.get(f"model_options.{record.model}.weights")
    if weights is not None and used != weights:
        texts.append(f"{record.model} weights = {used!r} (study: {weights!r}, ImageNet-pretrained)")
    return texts
