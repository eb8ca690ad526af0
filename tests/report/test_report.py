"""Reports from records: files, the summary against numpy, tables, the study's numbers, the audit."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bcbench.analysis import analyse, summary_frame
from bcbench.analysis.study import study_reference_rows
from bcbench.record import group_label, minority_class
from bcbench.report import pairwise_grid, summary_table, write_report
from bcbench.report.format import clean_rows
from tests.report.fake_records import (
    CONFUSIONS,
    COSTS,
    _bold_green,
    _render,
    _write,
    make_record,
    sweep_records,
)


@pytest.mark.slow  # over 1.5 s: a whole report with figures
def test_write_report_creates_every_file_and_lists_failures(tmp_path):
    records = sweep_records()
    failed = make_record("mid", 7, None, status="failed", error="RuntimeError: CUDA out of memory | try less")
    _write(tmp_path, [*records, failed])
    written = write_report(tmp_path)
    expected = {"summary", "runs", "pairwise", "report", "confusion", "curves", "pareto"}
    assert set(written) == expected
    for path in written.values():
        assert path.is_file() and path.stat().st_size > 0
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    markdown = written["report"].read_text()
    assert "# bcbench report: fake" in markdown
    assert "- data: busi\n" in markdown  # data.root of the records
    assert "## Failed runs" in markdown
    assert "RuntimeError: CUDA out of memory \\| try less" in markdown
    assert "0123456" in markdown and "n_train/n_val/n_test = 540/110/23" in markdown
    for figure in ("confusion.png", "curves.png", "pareto.png"):
        assert f"]({figure})" in markdown
    assert "```yaml" in markdown and "image_size: 64" in markdown
    runs = pd.read_csv(written["runs"])
    assert len(runs) == 10 and set(runs["status"]) == {"ok", "failed"}
    pairwise = pd.read_csv(written["pairwise"])
    assert set(pairwise["metric"]) == {"accuracy", "f1_macro", "balanced_accuracy"}
    assert len(pairwise) == 9  # 3 pairs x 3 metrics


@pytest.mark.slow  # over 1.5 s: a whole report with figures
def test_summary_csv_matches_numpy(tmp_path):
    records = sweep_records()
    write_report(_write(tmp_path, records))
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary.columns[:3]) == ["model", "metric", "n"]
    for model, confusions in CONFUSIONS.items():
        matrices = np.asarray(confusions, dtype=float)
        accuracy = np.trace(matrices, axis1=1, axis2=2) / matrices.sum(axis=(1, 2))
        recall_normal = matrices[:, 2, 2] / matrices[:, 2].sum(axis=1)
        latency = COSTS[model][1] + 0.1 * np.arange(3)
        for metric, values in (
            ("accuracy", accuracy),
            ("recall_normal", recall_normal),
            ("latency_p50_ms", latency),
        ):
            row = summary[(summary["model"] == model) & (summary["metric"] == metric)].iloc[0]
            assert row["n"] == 3
            assert row["mean"] == pytest.approx(values.mean())
            assert row["std"] == pytest.approx(values.std(ddof=1))
            upper = 1.0 if metric != "latency_p50_ms" else np.inf  # scores lie in [0, 1], costs in [0, inf)
            low, high = scipy_stats.t.interval(0.95, 2, loc=values.mean(), scale=scipy_stats.sem(values))
            assert (row["ci_t_low"], row["ci_t_high"]) == pytest.approx((max(low, 0), min(high, upper)))
            assert row["ci_t_low"] <= row["mean"] <= row["ci_t_high"]
            assert row["interval"] == "Student t over seeds, clipped to the metric's range"
    assert "auroc_macro" not in set(summary["metric"])  # never measured: left out
    assert {"f1_macro", "f1_weighted", "params", "flops", "epochs_run"} <= set(summary["metric"])
    epochs = summary[(summary["model"] == "tiny") & (summary["metric"] == "epochs_run")].iloc[0]
    assert epochs["mean"] == pytest.approx(4.0)


def test_summary_table_names_the_minority_class_and_highlights_the_best():
    records = sweep_records()
    assert minority_class(records) == "normal"  # smallest over all splits, not just the test split
    text, styled = _render(summary_table(analyse(records)))
    assert "recall normal" in text
    assert "GFLOPs" in text and "params (M)" in text and "latency p50 ms" in text
    assert "3 seeds per model" in text and "n_train/n_val/n_test = 540/110/23" in text
    assert "split 01234567" in text
    resnet_accuracy = np.mean([np.trace(np.asarray(m)) / np.sum(m) for m in CONFUSIONS["resnet"]])
    assert _bold_green(styled, f"{resnet_accuracy:.3f} ±")  # best accuracy: highest
    assert not _bold_green(styled, "0.580 ±")  # tiny's accuracy is not the best
    assert _bold_green(styled, "0.10")  # fewest params (M): tiny
    assert _bold_green(styled, "0.600")  # lowest latency p50: tiny, mean of 0.5/0.6/0.7 ms
    assert _bold_green(styled, "3000")  # highest throughput: tiny
    # a failed record is ignored, not counted as a seed
    failed = make_record("tiny", 9, None, status="failed", error="boom")
    text, _ = _render(summary_table(analyse([*records, failed])))
    assert "boom" not in text and "3 seeds per model" in text


def test_summary_table_without_efficiency_and_with_axes():
    records = [
        make_record("resnet18", seed, CONFUSIONS["mid"][seed], axes={"train.lr": lr})
        for lr in (0.001, 0.01)
        for seed in (0, 1)
    ]
    assert group_label(records[0]) == "resnet18 lr=0.001"
    analysis = analyse(records)
    text, _ = _render(summary_table(analysis))
    assert "resnet18 lr=0.001" in text and "resnet18 lr=0.01" in text
    assert "GFLOPs" not in text and "img/s" not in text
    assert analysis.pareto is None and analysis.curves == {}


def test_pairwise_table_with_two_seeds_says_no_test():
    pairwise = analyse([r for r in sweep_records() if r["seed"] < 2]).pairwise
    rows = clean_rows(pairwise[pairwise["metric"] == "f1_macro"].to_dict("records"))
    text, _ = _render(pairwise_grid(rows, "f1_macro").rich())
    assert "n/a" in text
    assert "fewer than 3 paired seeds" in text
    rows = [line for line in text.splitlines() if "tiny" in line and "mid" in line]
    assert rows and all("n/a" in line for line in rows)


@pytest.mark.slow  # over 1.5 s: a whole report with figures
def test_a_torn_line_is_noted_and_the_report_is_still_written(tmp_path):
    _write(tmp_path, sweep_records())
    with open(tmp_path / "runs.jsonl", "a") as handle:
        handle.write('{"run_id": "torn", "sta')
    written = write_report(tmp_path)
    assert "- note: ignored unreadable lines [10] (torn or corrupt)" in written["report"].read_text()


def test_bootstrap_interval_of_one_run_is_shown_and_study_reference_when_paper_split():
    records = [
        make_record(
            "resnet101",
            seed,
            CONFUSIONS["resnet"][seed],
            manifest="/data/busi/paper_split.csv",
            bootstrap={"accuracy": [0.7, 0.95], "f1_macro": [0.6, 0.9]},
        )
        for seed in (0, 1, 2)
    ]
    rows = study_reference_rows(records)
    assert {(r["model"], r["metric"]) for r in rows} == {
        ("resnet101", "accuracy"),
        ("resnet101", "f1_weighted"),
        ("resnet101", "f1_macro"),
    }
    assert next(r for r in rows if r["metric"] == "f1_macro")["reported"] == 0.85
    assert study_reference_rows(sweep_records()) == []  # no paper split: no reference


def test_study_reference_and_bootstrap_in_markdown(tmp_path):
    records = [
        make_record(
            "resnet101",
            seed,
            CONFUSIONS["resnet"][seed],
            manifest="paper_split.csv",
            bootstrap={"accuracy": [0.7, 0.95], "f1_macro": [0.6, 0.9]},
        )
        for seed in (0, 1)
    ]
    markdown = write_report(tmp_path, records)["report"].read_text()
    assert "reported by the study (one seed)" in markdown
    assert "[0.700, 0.950]" in markdown  # the per-run bootstrap interval
    assert "paper_split.csv" in markdown
    assert "One model only" in markdown


def test_summary_frame_of_nothing_is_empty():
    assert summary_frame([]).empty


def test_one_seed_shows_the_value_without_spread():
    text, _ = _render(summary_table(analyse([r for r in sweep_records() if r["seed"] == 0])))
    assert "1 seed per model" in text and "nan" not in text
    rows = [line for line in text.splitlines() if line.startswith("│ ")]
    assert len(rows) == 3 and not any("±" in row or "[" in row for row in rows)


def test_report_lists_the_data_audit():
    from bcbench.record import RunRecord
    from bcbench.report.markdown import data_audit_markdown

    record = {
        "status": "ok",
        "data": {
            "audit": {
                "n_found": 5,
                "n_images": 4,
                "skipped": [{"path": "a/bad.png", "reason": "the file is empty (0 bytes)"}],
                "label_conflicts": [["a/x.png", "b/y.png"]],
                "cross_split_duplicates": [],
                "duplicate_groups": [["a/x.png", "b/y.png"]],
                "removed_duplicates": [],
            }
        },
    }
    text = "\n".join(data_audit_markdown([RunRecord.from_json(record)]))
    assert "images found: 5, used: 4" in text
    assert "`a/bad.png`: the file is empty (0 bytes)" in text
    assert "identical files filed under different classes: 1" in text
    assert "`a/x.png` = `b/y.png`" in text
    assert "(leakage): 0" in text
    assert data_audit_markdown([RunRecord.from_json({"status": "ok", "data": {}})]) == []
