"""bcbench.efficiency: exact counts, sane timings (never tight: the test machine is shared), restoration."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from bcbench import efficiency
from bcbench.efficiency import (
    count_flops,
    count_parameters,
    end_to_end_throughput,
    energy_per_image,
    measure_efficiency,
    measure_latency,
    measure_throughput,
    measure_train_throughput,
    model_size_mb,
    peak_memory_mb,
    reset_peak_memory,
)
from bcbench.errors import BcbenchError

REPO = Path(__file__).resolve().parents[1]
CONTRACT_KEYS = {
    "params", "trainable_params", "flops", "macs", "model_mb", "infer_throughput", "throughput_by_batch",
    "latency_ms", "train_throughput", "train_split_ms", "peak_memory_mb", "memory", "energy", "device",
    "threads", "precision", "channels_last", "compiled",
}  # fmt: skip


def tiny_cnn(num_classes: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )


class OutOfMemoryAboveFour(nn.Module):
    """Raises an out-of-memory error for batches larger than 4, like a GPU that is too small."""

    def __init__(self, error: type[Exception] | None = None, message: str = "CUDA out of memory") -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.error = error or torch.cuda.OutOfMemoryError
        self.message = message

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[0] > 4:
            raise self.error(f"{self.message}. Tried to allocate 2.00 GiB")
        return self.linear(images.mean(dim=(2, 3)))


# ----------------------------------------------------------------------------------------------
# Counts pinned to torchvision's published metadata and to hand computation
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "gmacs"), [("resnet101", 44_549_160, 7.801), ("mobilenet_v2", 3_504_872, 0.301)]
)
def test_counts_match_torchvision_metadata(name: str, params: int, gmacs: float) -> None:
    meta = get_model_weights(name).IMAGENET1K_V1.meta
    with torch.device("meta"):  # no weights allocated: FLOP counting works on shapes alone
        model = get_model(name, weights=None)
    counts = count_flops(model, image_size=224)
    assert count_parameters(model) == (params, params) == (meta["num_params"], meta["num_params"])
    assert counts["macs"] / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert counts["macs"] / 1e9 == pytest.approx(meta["_ops"], rel=0.01)  # torchvision's "GFLOPS" are MACs
    assert counts["flops"] == 2 * counts["macs"]


def test_flops_on_cpu_model_and_training_mode_restored() -> None:
    model = get_model("mobilenet_v2", weights=None).train()
    counts = count_flops(model, image_size=224)
    assert counts["macs"] / 1e9 == pytest.approx(0.301, rel=0.01)
    assert model.training


def test_flops_exact_for_hand_computable_layers() -> None:
    linear = nn.Sequential(nn.Flatten(), nn.Linear(1 * 4 * 4, 5, bias=False))
    assert count_flops(linear, image_size=4, channels=1) == {"flops": 2 * 16 * 5, "macs": 16 * 5}
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)  # 8x8 output, 8 filters of 3x3x3
    assert count_flops(conv, image_size=8) == {"flops": 2 * 8 * 8 * 8 * 27, "macs": 8 * 8 * 8 * 27}


def test_trainable_parameters_exclude_frozen() -> None:
    model = nn.Sequential(nn.Linear(10, 5), nn.Linear(5, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == (55 + 12, 12)


def test_model_size_halves_for_floats_and_keeps_integer_buffers() -> None:
    norm = nn.BatchNorm1d(4)  # 4 floats each: weight, bias, running mean, var; one int64 counter
    assert model_size_mb(norm, "no") * 2**20 == 16 * 4 + 8
    assert model_size_mb(norm, "bf16") * 2**20 == 16 * 2 + 8
    linear = nn.Linear(1000, 1000)
    assert model_size_mb(linear, "fp16") == pytest.approx(model_size_mb(linear, "no") / 2)
    with pytest.raises(BcbenchError, match="precision"):
        model_size_mb(linear, "fp8")


# ----------------------------------------------------------------------------------------------
# Timings: only sanity bounds
# ----------------------------------------------------------------------------------------------


def test_latency_percentiles_ordered_and_positive() -> None:
    model = tiny_cnn().train()
    latency = measure_latency(model, image_size=16, device="cpu", warmup=1, iterations=7)
    assert latency["iterations"] == 7
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert latency["mean"] > 0 and latency["std"] >= 0
    assert latency["threads"] == torch.get_num_threads()
    assert model.training


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_throughput_is_positive_and_records_batch(precision: str) -> None:
    result = measure_throughput(tiny_cnn(), 16, "cpu", precision, batch_size=4, warmup=1, iterations=3)
    assert math.isfinite(result["images_per_s"]) and result["images_per_s"] > 0
    assert result["batch_size"] == result["batch_size_run"] == 4
    assert result["iterations"] == 3 and result["median_ms"] > 0
    assert result["images_per_s"] == pytest.approx(4 * 3 / result["total_s"])


@pytest.mark.parametrize(
    ("error", "message"),
    [(torch.cuda.OutOfMemoryError, "CUDA out of memory"), (RuntimeError, "CUDA error: out of memory")],
)
def test_out_of_memory_halves_the_batch_until_it_fits(error: type[Exception], message: str) -> None:
    model = OutOfMemoryAboveFour(error, message)
    result = measure_throughput(model, 8, "cpu", batch_size=16, warmup=1, iterations=2)
    assert (result["batch_size"], result["batch_size_run"]) == (16, 4)
    trained = measure_train_throughput(model, 8, "cpu", batch_size=32, num_classes=2, warmup=1, iterations=2)
    assert (trained["batch_size"], trained["batch_size_run"]) == (32, 4)


def test_out_of_memory_at_batch_one_and_other_errors_are_reported() -> None:
    class AlwaysOutOfMemory(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(BcbenchError, match="even at batch size 1"):
        measure_throughput(AlwaysOutOfMemory(), 8, "cpu", batch_size=4, warmup=0, iterations=1)
    broken = OutOfMemoryAboveFour(RuntimeError, "mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="shapes"):  # not an OOM: no halving, the error surfaces
        measure_throughput(broken, 8, "cpu", batch_size=8, warmup=0, iterations=1)


def test_train_throughput_leaves_the_callers_model_untouched() -> None:
    model = tiny_cnn().eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    result = measure_train_throughput(model, 16, "cpu", batch_size=4, num_classes=3, warmup=1, iterations=3)
    after = model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert not model.training
    assert result["images_per_s"] > 0 and result["batch_size_run"] == 4
    assert set(result["split_ms"]) == {"forward", "backward", "step"}
    assert all(value > 0 for value in result["split_ms"].values())


def test_end_to_end_times_data_path_after_warmup() -> None:
    batches = [(torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8), torch.zeros(4)) for _ in range(3)]
    result = end_to_end_throughput(tiny_cnn(), batches, lambda x: x.float() / 255, "cpu")
    assert result["kind"] == "end_to_end"
    assert (result["images"], result["batches"]) == (8, 2)
    assert result["images_per_s"] > 0
    with pytest.raises(BcbenchError, match="warmup_batches"):
        end_to_end_throughput(tiny_cnn(), batches[:1], lambda x: x.float(), "cpu")


# ----------------------------------------------------------------------------------------------
# Memory, energy, devices
# ----------------------------------------------------------------------------------------------


def test_cpu_memory_is_process_rss() -> None:
    reset_peak_memory("cpu")
    memory = peak_memory_mb("cpu")
    assert set(memory) == {"rss"} and memory["rss"] > 0


def test_energy_on_cpu_is_none_with_a_reason() -> None:
    result = energy_per_image(tiny_cnn(), 16, "cpu")
    assert result["joules_per_image"] is None
    assert "CUDA" in result["reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is missing")
def test_cuda_requested_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(BcbenchError, match="CUDA is not available"):
        measure_latency(tiny_cnn(), 16, "cuda", iterations=1)


# ----------------------------------------------------------------------------------------------
# The record's efficiency block
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_measure_efficiency_returns_contract_and_restores_model(training: bool) -> None:
    model = tiny_cnn().train(training)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    result = measure_efficiency(
        model, image_size=16, device="cpu", batch_sizes=(1, 4), warmup=1, iterations=3, train_batch_size=4
    )
    assert set(result) >= CONTRACT_KEYS
    assert {"p50", "p90", "p99", "mean", "std", "iterations"} <= set(result["latency_ms"])
    assert set(result["throughput_by_batch"]) == {"1", "4"}
    assert result["infer_throughput"] == result["throughput_by_batch"]["4"]
    assert result["flops"] == 2 * result["macs"] > 0
    assert result["params"] == result["trainable_params"] == sum(p.numel() for p in model.parameters())
    assert result["train_throughput"] > 0 and set(result["train_split_ms"]) == {"forward", "backward", "step"}
    assert result["peak_memory_mb"] == result["memory"]["peak_mb"] > 0
    assert result["energy"]["joules_per_image"] is None
    assert (result["device"], result["precision"], result["compiled"]) == ("cpu", "no", False)
    assert model.training is training
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    json.dumps(result)  # the block goes into a JSON record as is


def test_measure_efficiency_channels_last_without_training_or_flops() -> None:
    model = tiny_cnn()
    result = measure_efficiency(
        model,
        image_size=16,
        device="cpu",
        batch_sizes=(2,),
        warmup=0,
        iterations=2,
        flops=False,
        channels_last=True,
    )
    assert result["flops"] is None and result["macs"] is None
    assert result["train_throughput"] is None and result["train_split_ms"] is None
    assert result["channels_last"] is True
    assert all(p.is_contiguous() for p in model.parameters())  # layout restored


def test_compile_wraps_the_model_and_is_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)
    result = measure_efficiency(
        tiny_cnn(), image_size=16, device="cpu", batch_sizes=(2,), warmup=1, iterations=2
    )
    assert not compiled and result["compiled"] is False
    result = measure_efficiency(
        tiny_cnn(), image_size=16, device="cpu", batch_sizes=(2,), warmup=1, iterations=2, compile=True
    )
    assert compiled and result["compiled"] is True
    monkeypatch.delattr(torch, "compile")
    with pytest.raises(BcbenchError, match="torch.compile is not available"):
        measure_efficiency(
            tiny_cnn(), image_size=16, device="cpu", batch_sizes=(2,), iterations=1, compile=True
        )


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(BcbenchError, match="iterations"):
        measure_efficiency(tiny_cnn(), image_size=16, device="cpu", iterations=0)
    with pytest.raises(BcbenchError, match="precision"):
        measure_latency(tiny_cnn(), 16, "cpu", precision="fp32")


# ----------------------------------------------------------------------------------------------
# Table, files and the command line
# ----------------------------------------------------------------------------------------------


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_lists_ok_and_failed_models() -> None:
    from rich.console import Console

    ok = {"model": "tiny", "status": "ok", "error": None}
    ok.update(
        measure_efficiency(tiny_cnn(), image_size=16, device="cpu", batch_sizes=(1,), warmup=0, iterations=2)
    )
    failed = {"model": "nope", "status": "failed", "error": "ModelError: unknown model 'nope' [x]"}
    console = Console(record=True, width=200)
    console.print(efficiency.format_efficiency_table([ok, failed], batch_sizes=(1, 8)))
    text = console.export_text()
    assert "tiny" in text and "nope failed: ModelError: unknown model 'nope' [x]" in text
    assert "img/s b8" in text and "precision no" in text


def test_cli_measures_writes_files_and_reports_failures(tmp_path: Path) -> None:
    script = load_script("efficiency")
    argv = ["--models", "simple_cnn", "no_such_model", "--batch-sizes", "1", "2", "--image-size", "32"]
    argv += ["--warmup", "0", "--iterations", "2", "--device", "cpu", "--out", str(tmp_path)]
    assert script.main(argv) == 1  # one model failed, the other was still measured
    with open(tmp_path / "efficiency.csv", newline="") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert rows["simple_cnn"]["status"] == "ok" and float(rows["simple_cnn"]["throughput_b2"]) > 0
    assert rows["no_such_model"]["status"] == "failed" and "no_such_model" in rows["no_such_model"]["error"]
    document = json.loads((tmp_path / "efficiency.json").read_text())
    assert document["settings"]["image_size"] == 32
    measured = document["results"][0]
    assert set(measured) >= CONTRACT_KEYS and measured["image_size"] == 32
