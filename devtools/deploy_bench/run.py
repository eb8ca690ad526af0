"""Running the deploy benchmark: synthetic ultrasound images, each model built at random initialisation,
``bcbench.deploy.evaluate_forms`` on it, and one row per (model, form, threads)."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bcbench.data import SYNTHETIC_CLASS_COUNTS as CLASS_COUNTS
from bcbench.data import render_image
from bcbench.deploy import DeployError, FormOutcome, evaluate_forms, has_vnni, import_optional
from bcbench.env import capture_environment
from bcbench.models import build_model
from devtools.deploy_bench.settings import BenchSettings

CALIBRATION_OFFSET = 10_000  # calibration images are numbered apart from the parity images


@dataclass
class BenchResult:
    settings: BenchSettings
    environment: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> form -> FormResult JSON
    seconds: float = 0.0


def synthetic_ultrasound(count: int, size: int, seed: int) -> torch.Tensor:
    """uint8 [count, 3, size, size]: bcbench's synthetic BUSI-like images (classes in turn), centre-cropped
    to a square and repeated over three channels, as bcbench's decoder feeds grayscale images."""
    rng = np.random.default_rng(seed)
    classes = list(CLASS_COUNTS)
    images = np.empty((count, 3, size, size), dtype=np.uint8)
    for index in range(count):
        pixels = render_image(classes[index % len(classes)], rng, size).pixels
        left = (pixels.shape[1] - size) // 2
        images[index] = pixels[:, left : left + size][None]
    return torch.from_numpy(images)


def run_bench(settings: BenchSettings, progress: Callable[[str], None] | None = None) -> BenchResult:
    """Every model of ``settings`` in every form, one model at a time (its forms alternate in timing)."""
    started = time.perf_counter()
    result = BenchResult(settings, bench_environment())
    parity_images = synthetic_ultrasound(settings.parity_images, settings.image_size, settings.seed)
    calibration = synthetic_ultrasound(settings.calibration_images, settings.image_size, settings.seed + 1)
    calibration_indices = range(CALIBRATION_OFFSET, CALIBRATION_OFFSET + len(calibration))
    for name in settings.models:
        _say(progress, f"{name}: export, quantise, compile, parity and {settings.repeats} timing rounds")
        torch.manual_seed(settings.seed)
        model = build_model(name, settings.num_classes, image_size=settings.image_size)
        outcomes = evaluate_forms(
            model, settings.deploy_settings(), {"synthetic": parity_images}, calibration,
            calibration_indices, held_out_indices=range(len(parity_images)),
        )  # fmt: skip
        result.rows.extend(model_rows(name, outcomes, settings.threads))
        result.forms[name] = {form: outcome.result.to_json() for form, outcome in outcomes.items()}
        del model, outcomes
        gc.collect()
    result.seconds = time.perf_counter() - started
    result.environment["loadavg_end"] = _loadavg()
    return result


def model_rows(name: str, outcomes: dict[str, FormOutcome], threads: tuple[int, ...]) -> list[dict[str, Any]]:
    """One row per (form, threads): median timings over rounds, speed-ups over eager at equal threads,
    how the form was made, its parity with eager, and eager's majority-class share (how informative an
    agreement figure is on an untrained model)."""
    eager_top1 = outcomes["eager"].probabilities["synthetic"].argmax(axis=1)
    majority = float(np.bincount(eager_top1).max() / len(eager_top1))
    eager = outcomes["eager"].result
    rows = []
    for count in threads:
        reference = eager.timing_summary(count)
        for form, outcome in outcomes.items():
            rows.append(_row(name, form, count, outcome, reference, majority))
    return rows


def _row(
    name: str, form: str, threads: int, outcome: FormOutcome, reference: dict | None, majority: float
) -> dict[str, Any]:
    result = outcome.result
    summary = result.timing_summary(threads) if result.ok else None
    parity = result.parity.get("synthetic")
    row: dict[str, Any] = {
        "model": name, "form": form, "threads": threads, "status": result.status, "reason": result.reason,
        "file_mb": result.file_mb, "export_s": result.export_seconds, "quantize_s": result.quantize_seconds,
        "compile_s": result.compile_seconds, "eager_majority_share": majority,
        "max_abs_logit_diff": parity.max_abs_logit_diff if parity else None,
        "top1_agreement": parity.top1_agreement if parity else None,
    }  # fmt: skip
    if summary and reference:
        latency, eager_latency = summary["latency_ms"], reference["latency_ms"]
        row.update({f"{key}_ms": latency[key] for key in ("p50", "p90", "p99")})
        row["images_per_s"], row["batch_size"] = summary["images_per_s"], summary["batch_size"]
        row["latency_speedup"] = eager_latency["p50"] / latency["p50"]
        row["throughput_speedup"] = summary["images_per_s"] / reference["images_per_s"]
        row["rounds"] = summary["rounds"]
    return row


def bench_environment() -> dict[str, Any]:
    info = capture_environment("cpu")
    try:
        ort, onnx, onnxscript = import_optional("onnxruntime", "onnx", "onnxscript")
        info.update(onnxruntime=ort.__version__, onnx=onnx.__version__, onnxscript=onnxscript.__version__)
    except DeployError:
        pass
    info.update(
        cpu_vnni=has_vnni(), loadavg_start=_loadavg(), omp_num_threads=os.environ.get("OMP_NUM_THREADS")
    )
    return info


def _loadavg() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _say(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)
