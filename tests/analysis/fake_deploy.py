"""Hand-made records with deploy blocks, whose every number the deploy tests work out independently: cnn over
seeds 0-3 in eager, onnx (eager's scores, twice as fast) and onnx_int8 (failed in seed 3)."""

from __future__ import annotations

from bcbench.deploy import DeployBlock, FormResult, FormTiming, ParityBlock
from bcbench.metrics import TestMetrics
from bcbench.record import RunRecord

EAGER_ACC, EAGER_F1, EAGER_P50 = [0.80, 0.70, 0.75, 0.85], [0.60, 0.50, 0.55, 0.65], [10.0, 12.0, 11.0, 9.0]
INT8_ACC, INT8_F1, INT8_P50 = [0.78, 0.71, 0.73], [0.58, 0.52, 0.50], [2.0, 3.0, 2.2]
INT8_AGREE = [0.99, 0.98, 1.0]


def form(name: str, accuracy: float, f1: float, p50: float, agreement: float = 1.0, mb: float = 40.0):
    return FormResult(
        form=name, file_mb=mb, test=TestMetrics(accuracy=accuracy, f1_macro=f1),
        parity={"test": ParityBlock(images=100, max_abs_logit_diff=1e-6 if agreement == 1 else 0.05,
                                    top1_agreement=agreement)},
        timing=[FormTiming(threads=1, latency_ms={"p50": p50, "p90": p50 + 1, "p99": p50 + 2},
                           throughput={"images_per_s": 1000 / p50, "batch_size_run": 32})],
    )  # fmt: skip


def holdout_records() -> list[RunRecord]:
    """cnn over seeds 0-3: eager, onnx (eager's scores, twice as fast), onnx_int8 (failed in seed 3)."""
    records = []
    for seed in range(4):
        forms = {
            "eager": form("eager", EAGER_ACC[seed], EAGER_F1[seed], EAGER_P50[seed]),
            "onnx": form("onnx", EAGER_ACC[seed], EAGER_F1[seed], EAGER_P50[seed] / 2, mb=40.1),
        }
        if seed < 3:
            forms["onnx_int8"] = form(
                "onnx_int8", INT8_ACC[seed], INT8_F1[seed], INT8_P50[seed], INT8_AGREE[seed], 10.2
            )
        else:
            forms["onnx_int8"] = FormResult(form="onnx_int8").fail("INT8 quantisation failed: Unsupported op")
        block = DeployBlock(forms=forms, threads=[1], note="a note" if seed == 0 else None)
        records.append(RunRecord(run_id=f"cnn-s{seed}", model="cnn", seed=seed, status="ok", deploy=block))
    return records
