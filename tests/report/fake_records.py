"""Run records shaped like the sweep writes them, with test metrics from chosen confusion matrices."""

import io
import re

import numpy as np
from rich.console import Console

from bcbench.record import append_record

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
        "cost": None,
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
    record["cost"] = efficiency
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


def compare(argv):
    """``bcbench compare`` (what bench/compare.py runs), in this process."""
    from bcbench.cli import main

    return main(["compare", *map(str, argv)])
