"""A runs.jsonl written by main before the restructure (1c01d2a) still loads, summarises and reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bcbench.analysis import load_sweep, summary_frame
from bcbench.record import read_sweep
from bcbench.report import rebuild

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs.jsonl"


@pytest.fixture
def legacy_sweep(tmp_path: Path) -> Path:
    folder = tmp_path / "legacy"
    folder.mkdir()
    shutil.copy(LEGACY, folder / "runs.jsonl")
    return folder


def test_legacy_records_load(legacy_sweep):
    loaded = read_sweep(legacy_sweep)
    assert loaded.bad == {} and len(loaded.records) == 6
    assert {record.model for record in loaded.ok()} == {"simple_cnn", "study_mobilenet"}


def test_legacy_records_summarise_to_the_numbers_in_the_file(legacy_sweep):
    raw = [json.loads(line) for line in LEGACY.read_text().splitlines()]
    summary = summary_frame(load_sweep(legacy_sweep)).set_index(["model", "metric"])
    for model in ("simple_cnn", "study_mobilenet"):
        accuracy = [r["test"]["accuracy"] for r in raw if r["model"] == model]
        latency = [r["efficiency"]["latency_ms"]["p50"] for r in raw if r["model"] == model]
        assert summary.loc[(model, "accuracy"), "mean"] == pytest.approx(np.mean(accuracy))
        assert summary.loc[(model, "accuracy"), "std"] == pytest.approx(np.std(accuracy, ddof=1))
        assert summary.loc[(model, "latency_p50_ms"), "mean"] == pytest.approx(np.mean(latency))


@pytest.mark.slow  # over 1.5 s: a whole report with figures
def test_legacy_sweep_reports_every_file(legacy_sweep):
    written = rebuild([legacy_sweep])
    assert {"summary", "runs", "pairwise", "report", "confusion", "curves", "pareto"} <= set(written)
    report = (legacy_sweep / "report.md").read_text()
    assert "simple_cnn" in report and "study_mobilenet" in report and "## Pairwise comparisons" in report
    pairwise = pd.read_csv(legacy_sweep / "pairwise.csv")
    assert set(pairwise["n_pairs"]) == {3}
