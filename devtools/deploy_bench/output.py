"""The deploy benchmark's output: a Rich table, the same table in Markdown (for BENCHMARKS.md), the lines
comparing the figures with the issue's targets, and deploy_bench.json."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bcbench.atomic import write_atomic
from devtools.deploy_bench.run import BenchResult
from devtools.deploy_bench.settings import AGREEMENT_TARGET, INT8_SPEEDUP_TARGET, PARITY_TARGET, TARGET_MODEL

COLUMNS = (
    ("model", "model"), ("form", "form"), ("threads", "thr"), ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"),
    ("p99_ms", "p99 ms"), ("images_per_s", "img/s"), ("latency_speedup", "x eager p50"),
    ("throughput_speedup", "x eager img/s"), ("file_mb", "MiB"), ("export_s", "export s"),
    ("made_s", "quantise/compile s"), ("max_abs_logit_diff", "max abs logit diff"),
    ("top1_agreement", "top-1 agree"),
)  # fmt: skip


def cells(row: dict[str, Any]) -> list[str]:
    """A row's cells as text, in COLUMNS order; a failed form shows its reason."""
    if row["status"] != "ok":
        return [row["model"], row["form"], str(row["threads"]), f"failed: {row['reason']}"] + [""] * 10
    made = row["quantize_s"] if row["quantize_s"] is not None else row["compile_s"]
    return [
        row["model"], row["form"], str(row["threads"]), _number(row.get("p50_ms"), ".1f"),
        _number(row.get("p90_ms"), ".1f"), _number(row.get("p99_ms"), ".1f"),
        _number(row.get("images_per_s"), ".1f"),
        _number(row.get("latency_speedup"), ".2f", "x"), _number(row.get("throughput_speedup"), ".2f", "x"),
        _number(row["file_mb"], ".1f"), _number(row["export_s"], ".1f"), _number(made, ".1f"),
        _number(row["max_abs_logit_diff"], ".1e"), _number(row["top1_agreement"], ".3f"),
    ]  # fmt: skip


def _number(value: float | None, spec: str, suffix: str = "") -> str:
    return "" if value is None else f"{value:{spec}}{suffix}"


def title(result: BenchResult) -> str:
    settings, env = result.settings, result.environment
    return (
        f"{settings.image_size} px, batch 1 latency and batch {settings.batch_size} throughput, medians of "
        f"{settings.repeats} alternating rounds; {env['device_name']}, {env.get('cpu_count')} cores, "
        f"VNNI {env.get('cpu_vnni')}; load {env.get('loadavg_start')} -> {env.get('loadavg_end')}"
    )


def format_table(result: BenchResult) -> Any:
    from rich.table import Table

    table = Table(title=title(result))
    for index, (_, header) in enumerate(COLUMNS):
        table.add_column(header, justify="left" if index < 2 else "right")
    for row in result.rows:
        table.add_row(*cells(row))
    return table


def markdown_table(result: BenchResult) -> str:
    lines = [
        "| " + " | ".join(header for _, header in COLUMNS) + " |",
        "|" + "|".join("---" if index < 2 else "---:" for index in range(len(COLUMNS))) + "|",
    ]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in result.rows]
    return "\n".join(lines)


def target_lines(result: BenchResult) -> list[str]:
    """Each target of the issue against what was measured: met or missed, and by how much."""
    lines = []
    for row in result.rows:
        ok = row["status"] == "ok"
        if row["model"] == TARGET_MODEL and row["form"] == "onnx_int8" and ok:
            speedup = row["latency_speedup"]
            lines.append(
                f"INT8 batch-1 speed-up over eager, {TARGET_MODEL}, {row['threads']} thread(s): "
                f"{speedup:.2f}x "
                f"(target {INT8_SPEEDUP_TARGET:.0f}x: {_speedup_verdict(speedup)})"
            )
        if row["form"] == "onnx" and ok and row["threads"] == result.settings.threads[0]:
            diff = row["max_abs_logit_diff"]
            lines.append(
                f"ONNX fp32 parity, {row['model']}: max |logit diff| {diff:.1e} "
                f"(target {PARITY_TARGET:.0e}: {_parity_verdict(diff)})"
            )
        if row["form"] == "onnx_int8" and ok and row["threads"] == result.settings.threads[0]:
            agreement = row["top1_agreement"]
            lines.append(
                f"INT8 top-1 agreement, {row['model']}: {agreement:.3f} (target {AGREEMENT_TARGET}: "
                f"{'met' if agreement >= AGREEMENT_TARGET else 'missed'}; eager puts "
                f"{row['eager_majority_share']:.0%} of the images in one class)"
            )
    return lines


def _speedup_verdict(speedup: float) -> str:
    if speedup >= INT8_SPEEDUP_TARGET:
        return f"met, {speedup / INT8_SPEEDUP_TARGET:.2f}x the target"
    return f"missed by {(1 - speedup / INT8_SPEEDUP_TARGET) * 100:.0f}%"


def _parity_verdict(diff: float) -> str:
    if diff <= PARITY_TARGET:
        return "met, exactly" if diff == 0 else f"met, {PARITY_TARGET / diff:.0f}x below it"
    return f"missed, {diff / PARITY_TARGET:.1f}x above it"


def write_json(result: BenchResult, out: str | Path) -> Path:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "deploy_bench.json"
    payload = {
        "settings": asdict(result.settings), "environment": result.environment, "seconds": result.seconds,
        "rows": result.rows, "forms": result.forms, "targets": target_lines(result),
    }  # fmt: skip
    write_atomic(path, json.dumps(payload, indent=2, default=str) + "\n")
    return path
