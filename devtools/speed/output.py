"""The speed tool's output: progress lines, the environment, a Rich table, target lines and speed.json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bcbench.atomic import write_atomic
from bcbench.env import capture_environment
from devtools.speed.settings import STUDY_IMAGE_SIZE, SpeedResult


def say(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)


def loadavg() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def environment_info(device: torch.device) -> dict[str, Any]:
    """bcbench's environment capture, with the CPU model under ``cpu`` as the speed table shows it."""
    info = capture_environment(device)
    info["cpu"] = capture_environment("cpu")["device_name"]
    return info


def format_speed_table(result: SpeedResult) -> Any:
    """A Rich table: pipeline, what, images, seconds, images/s, ratio (bcbench's speed-up)."""
    from rich.table import Table

    settings, env = result.settings, result.environment
    title = (
        f"{settings.model} at {settings.image_size} px, batch {settings.batch_size}, {env['device']}, "
        f"{env['threads']} torch thread(s), load {env.get('loadavg_start')}"
    )
    table = Table(title=title)
    for name, justify in (
        ("pipeline", "left"), ("what", "left"), ("images", "right"), ("seconds", "right"),
        ("images/s", "right"), ("ratio", "right"), ("includes", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)
    for timing in result.timings:
        ratio = f"{timing.ratio:.2f}x" if timing.ratio is not None else ""
        if timing.ratios:
            ratio += f" ({min(timing.ratios):.2f}-{max(timing.ratios):.2f})"
        spread = f" ({len(timing.seconds)} x {timing.passes} passes)" if len(timing.seconds) > 1 else ""
        table.add_row(
            timing.label, timing.what, str(timing.images), f"{timing.median_seconds:.3f}{spread}",
            f"{timing.images_per_second:,.0f}", ratio, timing.note,
        )  # fmt: skip
    table.caption = (
        "ratio: bcbench's speed-up over that reference line, median of interleaved repeats (their range); "
        "seconds: median per pass"
    )
    return table


def target_lines(result: SpeedResult) -> list[str]:
    """One line per target of this device type: measured, target, met or not."""
    lines = []
    if result.settings.image_size != STUDY_IMAGE_SIZE:
        lines.append(
            f"(the targets are set for {STUDY_IMAGE_SIZE} px; this run is at {result.settings.image_size} px)"
        )
    for name, check in result.summary()["targets"].items():
        unit = "images/s" if name.endswith("per_second") else "x"
        verdict = "met" if check["met"] else "NOT met"
        lines.append(
            f"{name}: {check['measured']:,.2f} {unit} (target >= {check['target']:,g} {unit}): {verdict}"
        )
    return lines


def write_speed_json(result: SpeedResult, out: str | Path) -> Path:
    """``speed.json`` in ``out`` (created), written atomically."""
    path = Path(out).expanduser() / "speed.json"
    return write_atomic(path, json.dumps(result.as_dict(), indent=2) + "\n")
