"""Timing a form by bcbench's timer rules: warm-up calls untimed, the timed count, ordered percentiles, the
throughput arithmetic, threads set for the measurement and restored, out-of-memory halving the batch."""

from __future__ import annotations

import time

import pytest
import torch

from bcbench.deploy import DeploySettings, time_form
from bcbench.deploy.forms import Form
from bcbench.deploy.timing import LATENCY_KEYS, timing_inputs, torch_threads


class CountingForm(Form):
    """Records each timed call's batch and torch thread count; can sleep or run out of memory."""

    def __init__(self, sleep_s: float = 0.0, memory_limit: int | None = None) -> None:
        super().__init__("counting", "fp32", torch.device("cpu"), "imagenet", 8)
        self.calls: list[tuple[int, int]] = []
        self.sleep_s, self.memory_limit = sleep_s, memory_limit

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(inputs), 2)

    def timed_call(self, inputs: torch.Tensor, threads: int | None):
        batch = len(inputs)

        def call() -> None:
            if self.memory_limit is not None and batch > self.memory_limit:
                raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")
            self.calls.append((batch, torch.get_num_threads()))
            if self.sleep_s:
                time.sleep(self.sleep_s)

        return call


def settings(**changes) -> DeploySettings:
    values = {
        "warmup": 2,
        "iterations": 5,
        "throughput_warmup": 1,
        "throughput_iterations": 3,
        "batch_size": 6,
    }
    return DeploySettings(**{**values, **changes})


def test_warm_up_and_timed_calls_are_counted_at_both_batches():
    form = CountingForm()
    time_form(form, 8, None, settings())
    assert [batch for batch, _ in form.calls] == [1] * (2 + 5) + [6] * (1 + 3)


def test_latency_block_is_ordered_and_throughput_is_the_arithmetic():
    timing = time_form(CountingForm(sleep_s=0.002), 8, None, settings())
    latency = timing.latency_ms
    assert set(latency) == set(LATENCY_KEYS) and latency["iterations"] == 5
    assert 2.0 <= latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    throughput = timing.throughput
    assert throughput["images_per_s"] == pytest.approx(6 * 3 / throughput["total_s"])
    assert throughput["images_per_s"] <= 6 / 0.002  # every call sleeps 2 ms
    assert throughput["batch_size"] == throughput["batch_size_run"] == 6 and throughput["iterations"] == 3


def test_threads_are_set_for_the_measurement_and_restored():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    form = CountingForm()
    timing = time_form(form, 8, other, settings())
    assert timing.threads == other
    assert {threads for _, threads in form.calls} == {other}
    assert torch.get_num_threads() == before
    with pytest.raises(KeyError), torch_threads(other):
        raise KeyError("restored on error too")
    assert torch.get_num_threads() == before


def test_out_of_memory_halves_the_throughput_batch(monkeypatch):
    monkeypatch.setattr("bcbench.cost.timing.free_cached_memory", lambda: None)  # a full gc takes 0.5 s
    timing = time_form(CountingForm(memory_limit=4), 8, None, settings(batch_size=8))
    assert timing.throughput["batch_size"] == 8 and timing.throughput["batch_size_run"] == 4


def test_timing_inputs_are_seeded_and_leave_the_global_generator_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = timing_inputs(2, 8, seed=5)
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(first, timing_inputs(2, 8, seed=5)) and first.shape == (2, 3, 8, 8)
    assert 0.5 < first.std().item() < 1.5


def test_onnx_runtime_sessions_use_the_requested_threads(tmp_path):
    pytest.importorskip("onnxruntime")
    from bcbench.deploy import export_onnx
    from bcbench.deploy.forms import OrtForm
    from tests.deploy.helpers import SIZE, tiny_cnn

    exported = export_onnx(tiny_cnn(), tmp_path / "tiny.onnx", SIZE, exporter="torchscript")
    form = OrtForm("onnx", str(exported.path), "fp32", "CPUExecutionProvider", "imagenet", 8, threads=1)
    timing = time_form(form, SIZE, 2, settings(iterations=2, throughput_iterations=1))
    assert timing.threads == 2
    assert form.sessions[2].get_session_options().intra_op_num_threads == 2
    assert form.sessions[1].get_session_options().intra_op_num_threads == 1
