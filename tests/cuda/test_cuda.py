"""CUDA-only checks (``pytest -m cuda``; run on a GPU by scripts/device_check.sh, skipped elsewhere): a bf16
sweep trains on the GPU and says so in its record, the cost is timed with CUDA events and allocator
peaks, GPU and CPU predictions agree, and memory windows reset."""

from __future__ import annotations

import math

import pytest
import torch

from bcbench.config import load_config
from bcbench.cost import measure_cost
from bcbench.cost.memory import peak_memory_mb, reset_peak_memory
from bcbench.models import build_model
from bcbench.record import read_sweep
from bcbench.sweep import run_sweep
from bcbench.train import predict_probs, resolve_run_config
from tests.helpers import quiet_console, tiny_config

pytestmark = pytest.mark.cuda


def test_a_bf16_sweep_trains_on_the_gpu_and_records_it(synthetic_root, tmp_path):
    overrides = (
        "models=[simple_cnn,resnet18]",
        "seeds=[0]",
        "train.mixed_precision=bf16",
        "cost.enabled=true",
    )
    config = tiny_config(synthetic_root, tmp_path, *overrides, "cost.iterations=5", "cost.warmup=2")
    assert run_sweep(config, console=quiet_console()).exit_code == 0
    for record in read_sweep(tmp_path / "tiny").ok():
        assert record.env.device.startswith("cuda") and record.env.device_name == torch.cuda.get_device_name(
            0
        )
        assert record.env.mixed_precision == "bf16" and record.cost.precision == "bf16"
        assert all(math.isfinite(entry["train_loss"]) for entry in record.history)
        assert record.cost.memory["kind"] == "cuda_allocated"
        assert record.cost.peak_memory_mb == record.cost.memory["peak_mb"] > 0
        latency = record.cost.latency_ms
        assert latency["iterations"] == 5  # cost.iterations
        assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
        assert latency["min"] <= latency["mean"] <= latency["max"]


def test_cost_on_the_gpu_uses_events_and_allocator_peaks():
    model = build_model("resnet18", 3, image_size=64)
    cost = measure_cost(
        model, image_size=64, device="cuda", precision="bf16", batch_sizes=(1, 64), iterations=10
    )
    assert cost.device.startswith("cuda") and cost.memory["kind"] == "cuda_allocated"
    assert cost.throughput_by_batch["64"] > cost.throughput_by_batch["1"]
    assert next(model.parameters()).device.type == "cpu"  # put back where it was


def test_gpu_predictions_match_the_cpu_within_float_tolerance():
    model = build_model("resnet18", 3, image_size=32).eval()
    config = resolve_run_config(load_config(None, ["data.image_size=32"]), "resnet18", 0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    on_cpu = predict_probs(model, images, config, torch.device("cpu"))
    on_gpu = predict_probs(model.cuda(), images.cuda(), config, torch.device("cuda"))
    assert torch.allclose(on_cpu, on_gpu, atol=1e-4)


def test_peak_memory_windows_reset_on_the_gpu():
    assert reset_peak_memory("cuda")
    block = torch.empty(64 * 2**20, dtype=torch.uint8, device="cuda")
    assert peak_memory_mb("cuda")["allocated"] >= 64
    del block
    reset_peak_memory("cuda")
    assert peak_memory_mb("cuda")["allocated"] < 64
