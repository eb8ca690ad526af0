"""What the steps measured, read back from their files, checked for sanity and against the GPU targets."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from bcbench.record import read_sweep

TARGETS = {  # GPU targets of the issue (measured, not asserted)
    "study_sweep_3x5_seconds": ("<=", 120.0),
    "resnet101_train_img_s_eager_b128": (">=", 1500.0),
    "resnet101_train_img_s_compiled_b128": (">=", 2000.0),
    "resnet101_infer_img_s_b256": (">=", 5000.0),
    "resnet101_latency_p50_ms_b1": ("<=", 5.0),
    "data_path_img_s_b8": (">=", 20000.0),
    "timer_within_3_percent": ("<=", 0.03),
}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    if shutil.which("nvidia-smi"):
        query = [
            "nvidia-smi",
            "--query-gpu=name,driver_version,memory.total,power.limit",
            "--format=csv,noheader",
        ]
        info["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
    return info


def study_summary(folder: Path, expect_cuda: bool, precision: str = "bf16") -> dict[str, Any]:
    """Per run: wall and train seconds, accuracy; sanity: device, precision, finite losses, above majority."""
    records = read_sweep(folder).newest()
    runs, problems = [], []
    for record in records:
        row = {
            "model": record.model,
            "seed": record.seed,
            "status": record.status,
            "wall_s": record.wall_seconds,
        }
        if record.ok:
            row.update(_study_row(record))
            problems += _sanity(record, row, expect_cuda, precision)
        else:
            problems.append(f"{record.run_id} failed: {record.error}")
        runs.append(row)
    note = (
        "ResNet-101 is trained from scratch (no pretrained weights offline): same FLOPs, so the timing holds"
    )
    return {"runs": runs, "problems": problems, "note": note}


def _study_row(record: Any) -> dict[str, Any]:
    counts = record.data.class_counts.get("test") or [0]
    return {
        "train_s": record.cost.train_seconds if record.cost else None,
        "epochs": record.epochs_run,
        "accuracy": record.test.accuracy,
        "majority": max(counts) / max(sum(counts), 1),
        "device": record.env.device_name if record.env else None,
        "precision": record.env.mixed_precision if record.env else None,
    }


def _sanity(record: Any, row: dict[str, Any], expect_cuda: bool, precision: str) -> list[str]:
    problems = []
    if expect_cuda and not str(record.env.device if record.env else "").startswith("cuda"):
        problems.append(f"{record.run_id} ran on {record.env.device if record.env else '?'}, not CUDA")
    if row["precision"] != precision:
        problems.append(f"{record.run_id} precision {row['precision']}, not {precision}")
    losses = [entry.get(key) for entry in record.history for key in ("train_loss", "val_loss")]
    if any(value is None or not math.isfinite(value) for value in losses):
        problems.append(f"{record.run_id} has a NaN or infinite loss")
    if expect_cuda and row["accuracy"] <= row["majority"]:
        problems.append(
            f"{record.run_id} accuracy {row['accuracy']:.3f} is not above the majority class "
            f"({row['majority']:.3f})"
        )
    return problems


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cost_rows(document: Any) -> list[dict[str, Any]]:
    rows = []
    for result in (document or {}).get("results", []):
        if result.get("status") != "ok":
            rows.append({"model": result["model"], "status": "failed", "error": result.get("error")})
            continue
        latency = result["latency_ms"]
        rows.append(
            {
                "model": result["model"],
                "throughput_by_batch": result["throughput_by_batch"],
                "latency_p50_p90_p99_ms": [latency["p50"], latency["p90"], latency["p99"]],
                "train_img_s": result.get("train_throughput"),
                "peak_memory_mb": result.get("peak_memory_mb"),
                "joules_per_image": (result.get("energy") or {}).get("joules_per_image"),
                "compiled": result.get("compiled"),
            }
        )
    return rows


def target_values(out: Path, study_seconds: float | None) -> dict[str, float | None]:
    """The measured value of every target (None where its step did not produce it)."""
    eager = {row["model"]: row for row in cost_rows(read_json(out / "cost" / "cost.json"))}
    compiled = {row["model"]: row for row in cost_rows(read_json(out / "cost_compiled" / "cost.json"))}
    speed = read_json(out / "speed" / "speed.json") or {}
    timer = read_json(out / "timer" / "timer_check.json") or {}
    resnet = eager.get("resnet101", {})
    return {
        "study_sweep_3x5_seconds": None if study_seconds is None else study_seconds * 5 / 3,
        "resnet101_train_img_s_eager_b128": resnet.get("train_img_s"),
        "resnet101_train_img_s_compiled_b128": compiled.get("resnet101", {}).get("train_img_s"),
        "resnet101_infer_img_s_b256": (resnet.get("throughput_by_batch") or {}).get("256"),
        "resnet101_latency_p50_ms_b1": (resnet.get("latency_p50_p90_p99_ms") or [None])[0],
        "data_path_img_s_b8": (speed.get("summary") or {}).get("bcbench_data_path_images_per_second"),
        "timer_within_3_percent": None if "median_ratio" not in timer else abs(timer["median_ratio"] - 1),
    }


def target_checks(values: dict[str, float | None]) -> dict[str, dict[str, Any]]:
    checks = {}
    for name, (direction, target) in TARGETS.items():
        value = values.get(name)
        met = None if value is None else (value <= target if direction == "<=" else value >= target)
        checks[name] = {"measured": value, "target": f"{direction} {target:g}", "met": met}
    return checks
