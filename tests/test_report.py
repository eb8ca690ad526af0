import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats as scipy_stats

from bcbench.figures import (
    confusion_figure,
    curves_figure,
    mean_curve,
    pareto_figure,
    pareto_front,
    summed_confusion,
)
from bcbench.report import (
    compare_sweeps,
    group_label,
    minority_class,
    pairwise_table,
    study_reference_rows,
    summary_frame,
    summary_table,
    write_report,
)
from bcbench.results import append_record

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("benign", "malignant", "normal")
# class_counts per split: normal is the smallest class overall, malignant the smallest in test
CLASS_COUNTS = {"train": [300, 150, 90], "val": [60, 30, 20], "test": [10, 5, 8]}


def _per_class(confusion):
    matrix = np.asarray(confusion, dtype=float)
    tp, support, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, support


def make_record(
    model,
    seed,
    confusion,
    history=None,
    efficiency=None,
    *,
    status="ok",
    error=None,
    axes=None,
    sweep="fake",
    manifest=None,
    bootstrap=None,
):
    """A run record shaped like the sweep writes it, with test metrics computed from `confusion`."""
    record = {
        "sweep": sweep,
        "run_id": f"{model}-{seed}-{axes}",
        "model": model,
        "seed": seed,
        "axes": axes or {},
        "status": status,
        "error": error,
        "config": {
            "name": sweep,
            "models": [model],
            "seeds": [seed],
            "data": {"image_size": 64, "root": "/data/busi", "manifest": manifest, "split_seed": 0},
            "train": {"epochs": 4, "lr": 0.001},
        },
        "data": {
            "n_train": 540,
            "n_val": 110,
            "n_test": 23,
            "classes": list(CLASSES),
            "split_sha256": "0123456789abcdef",
            "root": "/data/busi",
            "class_counts": CLASS_COUNTS,
        },
        "history": [],
        "best_epoch": None,
        "epochs_run": 0,
        "test": None,
        "efficiency": None,
        "env": {"python": "3.12", "torch": "2.5", "device": "cpu", "num_processes": 1, "git_sha": "abc"},
        "wall_seconds": 1.0,
    }
    if status != "ok":
        return record
    precision, recall, f1, support = _per_class(confusion)
    matrix = np.asarray(confusion)
    weights = support / support.sum()
    record["test"] = {
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "balanced_accuracy": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "f1_weighted": float(np.sum(weights * f1)),
        "auroc_macro": None,
        "ece": 0.05,
        "n": int(matrix.sum()),
        "per_class": {
            name: {"precision": p, "recall": r, "f1": f, "support": int(s)}
            for name, p, r, f, s in zip(CLASSES, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": [list(map(int, row)) for row in matrix],
    }
    if bootstrap:
        record["test"]["bootstrap"] = bootstrap
    record["history"] = history or []
    record["epochs_run"] = len(record["history"])
    record["best_epoch"] = max(1, len(record["history"]) - 1)
    record["efficiency"] = efficiency
    return record


def _history(epochs, start_loss):
    return [
        {
            "epoch": e,
            "train_loss": start_loss / e,
            "train_acc": 0.5 + 0.1 * e,
            "val_loss": start_loss / e + 0.1,
            "val_acc": 0.45 + 0.1 * e,
            "lr": 1e-3,
            "seconds": 1.0,
        }
        for e in range(1, epochs + 1)
    ]


def _efficiency(params, latency, throughput):
    return {
        "params": params,
        "trainable_params": params,
        "flops": params * 20,
        "infer_throughput": throughput,
        "latency_ms": {"p50": latency, "p90": latency * 1.2, "p99": latency * 1.5},
        "train_throughput": 100.0,
        "peak_memory_mb": 10.0,
        "train_seconds": 5.0,
    }


# Three models x three seeds; `resnet` is the best scorer, `tiny` the cheapest.
CONFUSIONS = {
    "tiny": [
        [[6, 2, 2], [2, 2, 1], [1, 1, 6]],
        [[7, 2, 1], [2, 2, 1], [2, 1, 5]],
        [[5, 3, 2], [1, 3, 1], [2, 2, 4]],
    ],
    "mid": [
        [[8, 1, 1], [1, 3, 1], [1, 0, 7]],
        [[8, 2, 0], [1, 4, 0], [1, 1, 6]],
        [[7, 2, 1], [1, 3, 1], [0, 1, 7]],
    ],
    "resnet": [
        [[9, 1, 0], [0, 5, 0], [0, 0, 8]],
        [[10, 0, 0], [1, 4, 0], [0, 1, 7]],
        [[9, 0, 1], [0, 5, 0], [1, 0, 7]],
    ],
}
COSTS = {"tiny": (1e5, 0.5, 3000.0), "mid": (2e6, 2.0, 900.0), "resnet": (4e7, 9.0, 120.0)}


def sweep_records(seeds=(0, 1, 2), epochs=(4, 3, 5)):
    records = []
    for model, confusions in CONFUSIONS.items():
        params, latency, throughput = COSTS[model]
        for seed in seeds:
            records.append(
                make_record(
                    model,
                    seed,
                    confusions[seed],
                    _history(epochs[seed], 2.0),
                    _efficiency(params, latency + 0.1 * seed, throughput),
                )
            )
    return records


def _render(table):
    """The table as plain text and as text with ANSI styles."""
    console = Console(record=True, width=250, file=io.StringIO())
    console.print(table)
    return console.export_text(clear=False), console.export_text(styles=True)


def _bold_green(styled, cell_text):
    return re.search(r"\x1b\[1;32m *" + re.escape(cell_text), styled) is not None


def _write(directory, records):
    for record in records:
        append_record(directory / "runs.jsonl", record)
    return directory


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
            half = scipy_stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
            assert row["ci_t_low"] == pytest.approx(values.mean() - half)
            assert row["ci_t_high"] == pytest.approx(values.mean() + half)
    assert "auroc_macro" not in set(summary["metric"])  # never measured: left out
    assert {"f1_macro", "f1_weighted", "params", "flops", "epochs_run"} <= set(summary["metric"])
    epochs = summary[(summary["model"] == "tiny") & (summary["metric"] == "epochs_run")].iloc[0]
    assert epochs["mean"] == pytest.approx(4.0)


def test_summed_confusion_sums_then_normalises_rows():
    counts, fractions = summed_confusion([[[5, 1], [2, 2]], [[4, 2], [0, 4]]])
    np.testing.assert_array_equal(counts, [[9, 3], [2, 6]])
    np.testing.assert_allclose(fractions, [[0.75, 0.25], [0.25, 0.75]])
    _, empty_row = summed_confusion([[[1, 1], [0, 0]]])
    np.testing.assert_allclose(empty_row, [[0.5, 0.5], [0.0, 0.0]])
    with pytest.raises(ValueError):
        summed_confusion([[[1, 0], [0, 1]], [[1]]])


def test_pareto_front_is_exactly_the_non_dominated_set():
    costs = [1.0, 2.0, 3.0, 4.0, 2.0, 5.0, 0.5]
    scores = [0.5, 0.7, 0.6, 0.9, 0.7, 0.9, 0.3]
    # (3, .6) is beaten by (2, .7); (5, .9) by (4, .9); the two (2, .7) tie and both stay
    assert pareto_front(costs, scores) == [6, 0, 1, 4, 3]
    assert pareto_front([1.0], [0.1]) == [0]


def test_mean_curve_averages_over_seeds_that_reached_each_epoch():
    histories = [
        [{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.6}, {"epoch": 3, "val_loss": 0.4}],
        [{"epoch": 1, "val_loss": 0.8}, {"epoch": 2, "val_loss": 0.4}],
        [{"epoch": 1, "val_loss": 0.6}],
    ]
    curve = mean_curve(histories, "val_loss")
    np.testing.assert_array_equal(curve["epoch"], [1, 2, 3])
    np.testing.assert_allclose(curve["mean"], [0.8, 0.5, 0.4])
    np.testing.assert_array_equal(curve["n"], [3, 2, 1])
    np.testing.assert_allclose(curve["min"], [0.6, 0.4, 0.4])
    np.testing.assert_allclose(curve["max"], [1.0, 0.6, 0.4])
    np.testing.assert_allclose(curve["std"], [0.2, np.std([0.6, 0.4], ddof=1), 0.0])


def test_summary_table_names_the_minority_class_and_highlights_the_best():
    records = sweep_records()
    assert minority_class(records) == "normal"  # smallest over all splits, not just the test split
    text, styled = _render(summary_table(records))
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
    text, _ = _render(summary_table([*records, failed]))
    assert "boom" not in text and "3 seeds per model" in text


def test_summary_table_without_efficiency_and_with_axes():
    records = [
        make_record("resnet18", seed, CONFUSIONS["mid"][seed], axes={"train.lr": lr})
        for lr in (0.001, 0.01)
        for seed in (0, 1)
    ]
    assert group_label(records[0]) == "resnet18 lr=0.001"
    text, _ = _render(summary_table(records))
    assert "resnet18 lr=0.001" in text and "resnet18 lr=0.01" in text
    assert "GFLOPs" not in text and "img/s" not in text
    assert pareto_figure(records, Path("/nonexistent/never.png")) is None
    assert curves_figure(records, Path("/nonexistent/never.png")) is None


def test_pairwise_table_with_two_seeds_says_no_test():
    records = [r for r in sweep_records() if r["seed"] < 2]
    text, _ = _render(pairwise_table(records, "f1_macro"))
    assert "n/a" in text
    assert "fewer than 3 paired seeds" in text
    rows = [line for line in text.splitlines() if "tiny" in line and "mid" in line]
    assert rows and all("n/a" in line for line in rows)


def test_torn_line_is_a_warning_and_the_report_is_still_written(tmp_path):
    _write(tmp_path, sweep_records())
    with open(tmp_path / "runs.jsonl", "a") as handle:
        handle.write('{"run_id": "torn", "sta')
    with pytest.warns(RuntimeWarning, match="unreadable lines"):
        written = write_report(tmp_path)
    assert written["report"].is_file()
    assert "torn" in written["report"].read_text()


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


def _load_compare_script():
    spec = importlib.util.spec_from_file_location("bench_compare", REPO / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_two_sweeps_writes_comparison_csv(tmp_path, capsys):
    first = _write(tmp_path / "a", sweep_records())
    second = _write(tmp_path / "b", [r for r in sweep_records() if r["model"] != "mid"])
    assert _load_compare_script().main([str(first), str(second)]) == 0
    frame = pd.read_csv(first / "comparison.csv")
    assert list(frame["model"]) == ["tiny", "tiny", "mid", "mid", "resnet", "resnet"]
    assert list(frame["n"]) == [3, 3, 3, 0, 3, 3]
    accuracy = np.mean([np.trace(np.asarray(m)) / np.sum(m) for m in CONFUSIONS["tiny"]])
    assert frame.loc[0, "accuracy_mean"] == pytest.approx(accuracy)
    assert "macro F1" in capsys.readouterr().out
    table, same = compare_sweeps([first, second])
    assert same.shape == frame.shape


def test_compare_on_a_missing_folder_exits_2_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "compare.py"), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error:") and "missing" in result.stderr


def test_compare_errors_on_folder_without_runs_or_without_ok_runs(tmp_path, capsys):
    script = _load_compare_script()
    (tmp_path / "empty").mkdir()
    assert script.main([str(tmp_path / "empty")]) == 2
    assert "runs.jsonl" in capsys.readouterr().err
    _write(tmp_path / "failed", [make_record("tiny", 0, None, status="failed", error="boom")])
    assert script.main([str(tmp_path / "failed")]) == 2
    assert "no successful runs" in capsys.readouterr().err


def test_figures_skip_without_data(tmp_path):
    records = sweep_records()
    for record in records:
        record["test"]["confusion_matrix"] = None
        record["history"] = []
    assert confusion_figure(records, tmp_path / "c.png") is None
    assert curves_figure(records, tmp_path / "h.png") is None
    assert pareto_figure(records, tmp_path / "p.png", cost="params") == tmp_path / "p.png"


def test_summary_frame_of_nothing_is_empty():
    assert summary_frame([]).empty


def test_one_seed_shows_the_value_without_spread():
    text, _ = _render(summary_table([r for r in sweep_records() if r["seed"] == 0]))
    assert "1 seed per model" in text and "nan" not in text
    rows = [line for line in text.splitlines() if line.startswith("│ ")]
    assert len(rows) == 3 and not any("±" in row or "[" in row for row in rows)


def test_report_lists_the_data_audit():
    from bcbench.report import data_audit_markdown

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
    text = "\n".join(data_audit_markdown([record]))
    assert "images found: 5, used: 4" in text
    assert "`a/bad.png`: the file is empty (0 bytes)" in text
    assert "identical files filed under different classes: 1" in text
    assert "`a/x.png` = `b/y.png`" in text
    assert "(leakage): 0" in text
    assert data_audit_markdown([{"status": "ok", "data": {}}]) == []
