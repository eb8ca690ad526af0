"""What is recorded per deployed form: a JSON block (status, reason, how it was made, parity, timings),
and, beside it, the form's probabilities for every scored image set (for the metrics and for compare).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcbench.deploy.parity import ParityBlock
from bcbench.metrics import TestMetrics
from bcbench.serial import JsonBlock

OK, FAILED = "ok", "failed"


@dataclass
class FormTiming(JsonBlock):
    """One timing of a form at ``threads`` intra-op threads: batch-1 latency percentiles (ms, each call
    synchronised) and throughput at the configured batch (images/s over the whole timed loop)."""

    threads: int | None = None
    round: int = 0  # which round of alternating timings (settings.repeats)
    latency_ms: dict[str, float] | None = None  # p50, p90, p99, mean, std, min, max, iterations
    throughput: dict[str, Any] | None = None  # images_per_s, batch_size, batch_size_run, iterations, ...
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FormResult(JsonBlock):
    """One form of one trained model. Sizes in MiB, times in seconds or ms as named.

    ``status`` is ``ok`` or ``failed`` (then ``reason`` is one line, and what was measured before the
    failure is kept). ``parity`` maps each scored image set to the form's agreement with eager.
    ``calibration_indices`` lists the dataset indices INT8 was calibrated on (INT8 only). ``test`` and
    ``external`` are the form's scores on the test and external sets, filled in by the sweep with the
    same builders as the run's own (``bcbench.metrics.evaluate``, ``evaluate_external``).
    """

    form: str = ""
    status: str = OK
    reason: str | None = None
    precision: str | None = None  # fp32, int8, bf16, fp16
    device: str | None = None
    provider: str | None = None  # ONNX Runtime execution provider
    exporter: str | None = None
    opset: int | None = None
    file_mb: float | None = None
    export_seconds: float | None = None
    quantize_seconds: float | None = None
    compile_seconds: float | None = None
    parity: dict[str, ParityBlock] = field(default_factory=dict)
    timing: list[FormTiming] = field(default_factory=list)
    calibration_images: int | None = None
    calibration_indices: list[int] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    test: TestMetrics | None = None
    external: dict[str, TestMetrics] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def fail(self, reason: str) -> FormResult:
        self.status, self.reason = FAILED, reason
        return self

    @property
    def ok(self) -> bool:
        return self.status == OK

    def timing_summary(self, threads: int | None) -> dict[str, Any] | None:
        """Medians over rounds at ``threads``: latency p50/p90/p99 (ms) and throughput (images/s)."""
        rounds = [timing for timing in self.timing if timing.threads == threads]
        if not rounds:
            return None
        latency = {key: _median([t.latency_ms[key] for t in rounds if t.latency_ms]) for key in SUMMARY_KEYS}
        images_per_s = _median([t.throughput["images_per_s"] for t in rounds if t.throughput])
        batch = rounds[0].throughput["batch_size_run"] if rounds[0].throughput else None
        return {
            "latency_ms": latency,
            "images_per_s": images_per_s,
            "batch_size": batch,
            "rounds": len(rounds),
        }


SUMMARY_KEYS = ("p50", "p90", "p99")


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


@dataclass
class FormOutcome:
    """A form's result and its float64 probabilities [N, classes] per scored image set (none if failed)."""

    result: FormResult
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)
