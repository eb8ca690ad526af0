"""Cost of several models side by side (``bcbench cost``): rows, a Rich table, CSV and JSON files."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from bcbench.atomic import atomic_open, write_atomic
from bcbench.cost.measure import measure_cost
from bcbench.device import free_cached_memory
from bcbench.env import capture_environment


def measure_named_models(
    names: Sequence[str],
    build: Callable[[str], nn.Module],
    on_done: Callable[[dict[str, Any]], None] | None = None,
    **settings: Any,
) -> list[dict[str, Any]]:
    """One row per model: ``{"model", "status": "ok"|"failed", "error", **measure_cost(...).to_json()}``.

    A model that cannot be built or measured becomes a failed row with the reason; the rest go on.
    """
    rows = []
    for name in names:
        try:
            row = {
                "model": name,
                "status": "ok",
                "error": None,
                **measure_cost(build(name), **settings).to_json(),
            }
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # a failed model is reported; the others are still measured
            row = {
                "model": name,
                "status": "failed",
                "error": f"{type(error).__name__}: {error}".splitlines()[0],
            }
        free_cached_memory()
        rows.append(row)
        if on_done is not None:
            on_done(row)
    return rows


def format_cost_table(
    rows: Sequence[dict[str, Any]], batch_sizes: Sequence[int], title: str | None = None
) -> Any:
    """A ``rich.table.Table`` of cost rows; failed models are listed with their reasons below."""
    from rich.markup import escape
    from rich.table import Table

    failures = [
        f"[red]{escape(r['model'])} failed:[/] {escape(str(r['error']))}" for r in rows if r["status"] != "ok"
    ]
    table = Table(
        title=title or _table_title(rows), caption="\n".join(failures) or None, caption_justify="left"
    )
    table.add_column("model")
    for header in ("params (M)", "GFLOPs", "GMACs", "size MiB", *[f"img/s b{b}" for b in batch_sizes]):
        table.add_column(header, justify="right")
    table.add_column("latency ms p50/p90/p99", justify="right")
    table.add_column("peak MiB", justify="right")
    table.add_column("device / threads")
    table.add_column("status")
    for row in rows:
        table.add_row(*_table_cells(row, batch_sizes))
    return table


def _table_title(rows: Sequence[dict[str, Any]]) -> str:
    measured = next((row for row in rows if row["status"] == "ok"), None)
    setting = ""
    if measured is not None:
        flags = [f"{measured['image_size']}px", f"precision {measured['precision']}"]
        flags += ["channels-last"] * measured["channels_last"] + ["compiled"] * measured["compiled"]
        setting = ": " + ", ".join(flags)
    return f"bcbench cost{setting} (FLOPs = 2 x MACs; MiB = 2**20 bytes; throughput compute-only)"


def _table_cells(row: dict[str, Any], batch_sizes: Sequence[int]) -> list[str]:
    from rich.markup import escape

    if row["status"] != "ok":
        return [escape(row["model"]), *[""] * (4 + len(batch_sizes) + 3), "[red]failed[/]"]
    latency = row["latency_ms"]
    return [
        escape(row["model"]),
        f"{row['params'] / 1e6:.2f}",
        _giga(row["flops"]),
        _giga(row["macs"]),
        f"{row['model_mb']:.1f}",
        *[_throughput_cell(row, batch) for batch in batch_sizes],
        f"{latency['p50']:.2f} / {latency['p90']:.2f} / {latency['p99']:.2f}",
        f"{row['peak_memory_mb']:.0f}" + (" rss" if row["memory"]["kind"] == "process_rss" else ""),
        f"{row['device']} / {row['threads']}",
        "[green]ok[/]",
    ]


def _giga(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e9:.3f}"


def _throughput_cell(row: dict[str, Any], batch: int) -> str:
    ran = row["batch_size_fallbacks"].get(str(batch), batch)
    value = row["throughput_by_batch"].get(str(ran))
    if value is None:
        return "-"
    return f"{value:.1f}" if ran == batch else f"{value:.1f} (b{ran})"


CSV_COLUMNS = (
    "model", "status", "error", "params", "trainable_params", "flops", "macs", "model_mb",
    "infer_throughput", "infer_batch_size", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
    "latency_mean_ms", "latency_std_ms", "train_throughput", "peak_memory_mb", "memory_kind",
    "joules_per_image", "device", "device_name", "threads", "precision", "channels_last", "compiled",
    "image_size",
)  # fmt: skip


def csv_row(row: dict[str, Any], batch_sizes: Sequence[int]) -> dict[str, Any]:
    """Flat CSV fields of one row: the columns above plus ``throughput_b<N>`` per requested batch."""
    flat: dict[str, Any] = {column: row.get(column) for column in CSV_COLUMNS}
    if row.get("status") == "ok":
        for stat in ("p50", "p90", "p99", "mean", "std"):
            flat[f"latency_{stat}_ms"] = row["latency_ms"][stat]
        flat["memory_kind"] = row["memory"]["kind"]
        flat["joules_per_image"] = row["energy"]["joules_per_image"]
    for batch in batch_sizes:
        ran = row.get("batch_size_fallbacks", {}).get(str(batch), batch)
        flat[f"throughput_b{batch}"] = row.get("throughput_by_batch", {}).get(str(ran))
    return flat


def write_cost_results(
    rows: Sequence[dict[str, Any]], out_dir: str | Path, batch_sizes: Sequence[int], settings: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``cost.csv`` (flat) and ``cost.json`` (settings, env, full rows) atomically."""
    out = Path(out_dir)
    device = str(settings.get("device") or "cpu")
    document = {"settings": settings, "env": capture_environment(device), "results": list(rows)}
    json_path = write_atomic(out / "cost.json", json.dumps(document, indent=2, default=str) + "\n")
    columns = [*CSV_COLUMNS, *[f"throughput_b{b}" for b in batch_sizes]]
    with atomic_open(out / "cost.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(csv_row(row, batch_sizes) for row in rows)
    return out / "cost.csv", json_path
