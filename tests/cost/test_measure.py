"""measure_cost: the record's cost block, the model left as it was, compile, settings."""

from __future__ import annotations

import json

import pytest
import torch

from bcbench.cost import CostBlock, Workload, measure_cost, measure_latency
from bcbench.errors import BcbenchError
from tests.cost.helpers import CONTRACT_KEYS, tiny_cnn


@pytest.mark.parametrize("training", [True, False])
def test_measure_cost_returns_the_cost_block_and_restores_the_model(training: bool) -> None:
    model = tiny_cnn().train(training)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    block = measure_cost(
        model, image_size=16, device="cpu", batch_sizes=(1, 4), warmup=1, iterations=3, train_batch_size=4
    )
    assert isinstance(block, CostBlock)
    result = block.to_json()
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


def test_measure_cost_channels_last_without_training_or_flops() -> None:
    model = tiny_cnn()
    result = measure_cost(
        model,
        image_size=16,
        device="cpu",
        batch_sizes=(2,),
        warmup=0,
        iterations=2,
        flops=False,
        channels_last=True,
    ).to_json()
    assert result["flops"] is None and result["macs"] is None
    assert result["train_throughput"] is None and result["train_split_ms"] is None
    assert result["channels_last"] is True
    assert all(p.is_contiguous() for p in model.parameters())  # layout restored


def test_compile_wraps_the_model_and_is_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)
    result = measure_cost(tiny_cnn(), image_size=16, device="cpu", batch_sizes=(2,), warmup=1, iterations=2)
    assert not compiled and result.compiled is False
    result = measure_cost(
        tiny_cnn(), image_size=16, device="cpu", batch_sizes=(2,), warmup=1, iterations=2, compile=True
    )
    assert compiled and result.compiled is True
    monkeypatch.delattr(torch, "compile")
    with pytest.raises(BcbenchError, match="torch.compile is not available"):
        measure_cost(tiny_cnn(), image_size=16, device="cpu", batch_sizes=(2,), iterations=1, compile=True)


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(BcbenchError, match="iterations"):
        measure_cost(tiny_cnn(), image_size=16, device="cpu", iterations=0)
    with pytest.raises(BcbenchError, match="precision"):
        measure_latency(tiny_cnn(), Workload(16, "cpu", precision="fp32"))
