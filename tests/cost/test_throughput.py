"""Latency, throughput, out-of-memory back-off, training throughput, the end-to-end path."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bcbench.cost import (
    end_to_end_throughput,
    measure_latency,
    measure_throughput,
)
from bcbench.cost.throughput import measure_train_throughput
from bcbench.cost.timing import Workload
from bcbench.errors import BcbenchError
from tests.cost.helpers import tiny_cnn


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


def test_latency_percentiles_ordered_and_positive() -> None:
    model = tiny_cnn().train()
    latency = measure_latency(model, Workload(16, "cpu", warmup=1, iterations=7))
    assert latency["iterations"] == 7
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert latency["mean"] > 0 and 0 <= latency["std"] <= latency["max"] - latency["min"]
    assert latency["threads"] == torch.get_num_threads()
    assert model.training


@pytest.mark.parametrize("precision", ["no", "bf16"])
def test_throughput_is_positive_and_records_batch(precision: str) -> None:
    result = measure_throughput(
        tiny_cnn(), Workload(16, "cpu", precision, warmup=1, iterations=3), batch_size=4
    )
    assert math.isfinite(result["images_per_s"]) and result["images_per_s"] > 0
    assert result["batch_size"] == result["batch_size_run"] == 4
    assert result["iterations"] == 3 and result["median_ms"] > 0
    assert result["images_per_s"] == pytest.approx(4 * 3 / result["total_s"])


@pytest.mark.parametrize(
    ("error", "message"),
    [(torch.cuda.OutOfMemoryError, "CUDA out of memory"), (RuntimeError, "CUDA error: out of memory")],
)
@pytest.mark.slow  # over 1.5 s: times a real model at each batch
def test_out_of_memory_halves_the_batch_until_it_fits(error: type[Exception], message: str) -> None:
    model = OutOfMemoryAboveFour(error, message)
    result = measure_throughput(model, Workload(8, "cpu", warmup=1, iterations=2), batch_size=16)
    assert (result["batch_size"], result["batch_size_run"]) == (16, 4)
    trained = measure_train_throughput(
        model, Workload(8, "cpu", warmup=1, iterations=2), batch_size=32, num_classes=2
    )
    assert (trained["batch_size"], trained["batch_size_run"]) == (32, 4)


@pytest.mark.slow  # over 1 s: times a real model
def test_out_of_memory_at_batch_one_and_other_errors_are_reported() -> None:
    class AlwaysOutOfMemory(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(BcbenchError, match="even at batch size 1"):
        measure_throughput(AlwaysOutOfMemory(), Workload(8, "cpu", warmup=0, iterations=1), batch_size=4)
    broken = OutOfMemoryAboveFour(RuntimeError, "mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="shapes"):  # not an OOM: no halving, the error surfaces
        measure_throughput(broken, Workload(8, "cpu", warmup=0, iterations=1), batch_size=8)


def test_train_throughput_leaves_the_callers_model_untouched() -> None:
    model = tiny_cnn().eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    result = measure_train_throughput(
        model, Workload(16, "cpu", warmup=1, iterations=3), batch_size=4, num_classes=3
    )
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
