"""Several models side by side: the table, the files, the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bcbench.cli import main
from bcbench.cost import measure_cost, table
from tests.cost.helpers import CONTRACT_KEYS, tiny_cnn


def test_table_lists_ok_and_failed_models() -> None:
    from rich.console import Console

    ok = {"model": "tiny", "status": "ok", "error": None}
    block = measure_cost(tiny_cnn(), image_size=16, device="cpu", batch_sizes=(1,), warmup=0, iterations=2)
    ok.update(block.to_json())
    failed = {"model": "nope", "status": "failed", "error": "ModelError: unknown model 'nope' [x]"}
    console = Console(record=True, width=200)
    console.print(table.format_cost_table([ok, failed], batch_sizes=(1, 8)))
    text = console.export_text()
    assert "tiny" in text and "nope failed: ModelError: unknown model 'nope' [x]" in text
    assert "img/s b8" in text and "precision no" in text


@pytest.mark.slow  # over 1 s: measures real models through the CLI
def test_cli_measures_writes_files_and_reports_failures(tmp_path: Path) -> None:
    argv = ["--models", "simple_cnn", "no_such_model", "--batch-sizes", "1", "2", "--image-size", "32"]
    argv += [
        "--warmup",
        "0",
        "--iterations",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path),
        "--threads",
        "1",
    ]
    assert main(["cost", *argv]) == 1  # one model failed, the other was still measured
    with open(tmp_path / "cost.csv", newline="") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert rows["simple_cnn"]["status"] == "ok" and float(rows["simple_cnn"]["throughput_b2"]) > 0
    assert rows["no_such_model"]["status"] == "failed" and "no_such_model" in rows["no_such_model"]["error"]
    document = json.loads((tmp_path / "cost.json").read_text())
    assert document["settings"]["image_size"] == 32
    assert (document["settings"]["threads"], document["settings"]["thread_source"]) == (1, "config")
    measured = document["results"][0]
    assert set(measured) >= CONTRACT_KEYS and measured["image_size"] == 32 and measured["threads"] == 1
