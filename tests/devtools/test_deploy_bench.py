"""devtools.deploy_bench and bench/deploy.py: the synthetic images, the table's arithmetic (medians over
rounds, speed-ups at equal threads), the target lines, the command end to end on a tiny setting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bcbench.data.synthetic import render_image
from bcbench.deploy import FormOutcome, FormResult, FormTiming, ParityBlock
from devtools.deploy_bench import (
    BenchResult,
    BenchSettings,
    markdown_table,
    synthetic_ultrasound,
    target_lines,
)
from devtools.deploy_bench.run import model_rows


def test_synthetic_ultrasound_is_the_rendered_images_centre_cropped():
    images = synthetic_ultrasound(4, 32, seed=7)
    assert images.shape == (4, 3, 32, 32) and images.dtype.is_floating_point is False
    assert all(np.array_equal(images[i, 0], images[i, 2]) for i in range(4))  # grayscale in 3 channels
    rng = np.random.default_rng(7)
    first = render_image("benign", rng, 32).pixels
    left = (first.shape[1] - 32) // 2
    assert np.array_equal(images[0, 0].numpy(), first[:, left : left + 32])
    assert np.array_equal(images, synthetic_ultrasound(4, 32, seed=7))
    assert not np.array_equal(images, synthetic_ultrasound(4, 32, seed=8))


def timed(form: str, p50s: list[float], speeds: list[float], **fields) -> FormResult:
    rounds = [
        FormTiming(threads=1, round=index, latency_ms={"p50": p50, "p90": p50 + 1, "p99": p50 + 2},
                   throughput={"images_per_s": speed, "batch_size_run": 32})
        for index, (p50, speed) in enumerate(zip(p50s, speeds, strict=True))
    ]  # fmt: skip
    return FormResult(form=form, timing=rounds, **fields)


def fabricated_outcomes() -> dict[str, FormOutcome]:
    eager_probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])  # 3 of 4 in class 0
    eager = timed("eager", [10.0, 12.0, 11.0], [100.0, 80.0, 90.0])
    int8 = timed(
        "onnx_int8", [4.0, 6.0, 5.0], [300.0, 330.0, 270.0], file_mb=10.5, quantize_seconds=3.0,
        parity={"synthetic": ParityBlock(images=4, max_abs_logit_diff=0.03, top1_agreement=0.75)},
    )  # fmt: skip
    onnx = timed(
        "onnx", [8.0, 8.0, 8.0], [120.0, 120.0, 120.0],
        parity={"synthetic": ParityBlock(images=4, max_abs_logit_diff=5e-7, top1_agreement=1.0)},
    )  # fmt: skip
    failed = FormResult(form="compile").fail("compile: no C++ compiler")
    return {
        "eager": FormOutcome(eager, {"synthetic": eager_probabilities}),
        "onnx": FormOutcome(onnx), "onnx_int8": FormOutcome(int8), "compile": FormOutcome(failed),
    }  # fmt: skip


def test_rows_are_medians_over_rounds_and_speed_ups_at_equal_threads():
    rows = {row["form"]: row for row in model_rows("resnet18", fabricated_outcomes(), (1,))}
    int8 = rows["onnx_int8"]
    assert (int8["p50_ms"], int8["p90_ms"], int8["p99_ms"]) == (5.0, 6.0, 7.0)
    assert int8["images_per_s"] == 300.0 and int8["rounds"] == 3
    assert int8["latency_speedup"] == pytest.approx(11.0 / 5.0)
    assert int8["throughput_speedup"] == pytest.approx(300.0 / 90.0)
    assert int8["eager_majority_share"] == 0.75 and int8["top1_agreement"] == 0.75
    assert rows["compile"]["status"] == "failed" and "p50_ms" not in rows["compile"]


def test_target_lines_say_met_or_missed_and_by_how_much():
    rows = model_rows("resnet18", fabricated_outcomes(), (1,))
    lines = target_lines(BenchResult(BenchSettings(threads=(1,)), {}, rows))
    assert any("2.20x (target 2x: met, 1.10x the target)" in line for line in lines)
    assert any("max |logit diff| 5.0e-07 (target 1e-04: met, 200x below it)" in line for line in lines)
    assert any(
        "0.750 (target 0.98: missed; eager puts 75% of the images in one class)" in line for line in lines
    )
    rows[2]["latency_speedup"] = 1.5
    assert any(
        "1.50x (target 2x: missed by 25%)" in line
        for line in target_lines(BenchResult(BenchSettings(), {}, rows))
    )


def test_markdown_rows_have_as_many_cells_as_the_header():
    rows = model_rows("resnet18", fabricated_outcomes(), (1,))
    lines = markdown_table(BenchResult(BenchSettings(), {}, rows)).splitlines()
    assert len(lines) == 2 + 4
    assert len({line.count("|") for line in lines}) == 1


@pytest.mark.slow  # builds, exports, quantises and times two small models: about 10 s
def test_the_command_end_to_end(tmp_path):
    from devtools.deploy_bench.cli import main

    markdown = tmp_path / "table.md"
    code = main([
        "--models", "simple_cnn", "--forms", "onnx", "onnx_int8", "--image-size", "32", "--threads", "1",
        "--repeats", "2", "--iterations", "2", "--throughput-iterations", "1", "--batch-size", "4",
        "--parity-images", "8", "--calibration-images", "4", "--exporter", "torchscript",
        "--out", str(tmp_path), "--markdown", str(markdown),
    ])  # fmt: skip
    assert code == 0
    payload = json.loads((tmp_path / "deploy_bench.json").read_text())
    assert [row["form"] for row in payload["rows"]] == ["eager", "onnx", "onnx_int8"]
    assert all(row["status"] == "ok" and row["rounds"] == 2 for row in payload["rows"])
    assert payload["forms"]["simple_cnn"]["onnx_int8"]["calibration_indices"] == [10000, 10001, 10002, 10003]
    assert "| simple_cnn | onnx_int8 | 1 |" in markdown.read_text()
