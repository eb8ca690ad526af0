"""device_check.md: the steps, the study runs, the cost table and the targets, readable at a glance."""

from __future__ import annotations

from typing import Any


def markdown(document: dict[str, Any]) -> str:
    lines = [f"# bcbench device check{' (smoke, CPU)' if document['smoke'] else ''}", ""]
    lines += [f"- machine: {document['machine']}", f"- data: {document['busi'] or 'embedded synthetic set'}"]
    lines += [
        f"- total: {document['seconds']:.0f} s",
        "",
        "## Steps",
        "",
        "| step | status | seconds | log |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['log']} |" for s in document["steps"]]
    precision = "fp32" if document["smoke"] else "bf16"
    lines += ["", f"## Study sweep ({precision})", "", document["study"]["note"], ""]
    lines += [
        "| model | seed | status | wall s | train s | epochs | accuracy | majority | device |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in document["study"]["runs"]:
        cells = [
            run.get(k)
            for k in (
                "model",
                "seed",
                "status",
                "wall_s",
                "train_s",
                "epochs",
                "accuracy",
                "majority",
                "device",
            )
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += ["", "Problems: " + ("; ".join(document["study"]["problems"]) or "none"), ""]
    lines += _cost(document)
    lines += [
        "## Queue",
        "",
        *(f"- {name}: {seconds:.1f} s" for name, seconds in document["queue"].items()),
        "",
    ]
    lines += ["## Speed", "", *_flat(document["speed"]), "", "## Timer", "", *_flat(document["timer"]), ""]
    if document["targets"]:
        lines += [
            "## Targets (measured, not asserted)",
            "",
            "| target | measured | goal | met |",
            "|---|---:|---|---|",
        ]
        lines += [
            f"| {name} | {_cell(c['measured'])} | {c['target']} | {c['met']} |"
            for name, c in document["targets"].items()
        ]
    return "\n".join(lines) + "\n"


def _cost(document: dict[str, Any]) -> list[str]:
    lines = [
        f"## Cost ({'fp32' if document['smoke'] else 'bf16'}, channels_last)",
        "",
        "| model | img/s by batch | latency p50/p90/p99 ms | train img/s | peak MiB | J/image | compiled |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for name in ("cost", "cost_compiled"):
        for row in (document.get(name) or {}).get("results", []):
            if row.get("status") != "ok":
                lines.append(f"| {row['model']} | failed: {row.get('error')} | | | | | |")
                continue
            latency = "/".join(f"{row['latency_ms'][k]:.2f}" for k in ("p50", "p90", "p99"))
            energy = (row.get("energy") or {}).get("joules_per_image")
            cells = [
                row["model"],
                ", ".join(f"b{b}: {v:,.0f}" for b, v in row["throughput_by_batch"].items()),
                latency,
                row.get("train_throughput"),
                row.get("peak_memory_mb"),
                energy,
                row.get("compiled"),
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]


def _flat(value: Any, prefix: str = "") -> list[str]:
    """A nested JSON block as one bullet per leaf (``- speed.targets.data_path_speedup.met: True``)."""
    if isinstance(value, dict):
        return [line for key, item in value.items() for line in _flat(item, f"{prefix}{key}.")]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [line for index, item in enumerate(value) for line in _flat(item, f"{prefix}{index}.")]
    if value is None and not prefix:
        return ["- not measured (the step did not run or failed)"]
    return [f"- {prefix.rstrip('.')}: {_cell(value)}"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "-" if value is None else str(value)
