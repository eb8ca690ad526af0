"""The GPU check cannot rot unnoticed: its CPU smoke runs every step at toy size and writes its files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from devtools.device_check.steps import Plan, plan_steps
from devtools.device_check.summary import target_checks
from tests.helpers import REPO

STEPS = ["cuda_tests", "study", "cost", "cost_compiled", "speed", "timer_check", "accelerate"]


def test_the_gpu_plan_runs_the_issues_checks_at_full_size(tmp_path):
    steps = {step.name: step for step in plan_steps(Plan(smoke=False, out=tmp_path, busi=tmp_path / "busi"))}
    assert list(steps) == [*STEPS, "queue_1", "queue_4", "deploy"]
    study = " ".join(steps["study"].command)
    assert (
        "configs/study.yaml" in study and "train.mixed_precision=bf16" in study and "seeds=[0,1,2]" in study
    )
    assert "data.image_size=32" not in study
    cost = steps["cost"].command
    assert {"resnet101", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "simple_cnn"} <= set(cost)
    assert {"1", "32", "256", "--channels-last", "bf16", "224"} <= set(cost)
    assert "--compile" in steps["cost_compiled"].command and not steps["cost_compiled"].env
    assert "queue.workers_per_device=4" in steps["queue_4"].command
    deploy = steps["deploy"].command
    assert {"bf16", "channels_last", "compile", "onnx_cuda", "cuda"} <= set(deploy) and not steps[
        "deploy"
    ].env


def test_targets_are_measured_never_assumed():
    checks = target_checks({"resnet101_infer_img_s_b256": 6000.0, "resnet101_latency_p50_ms_b1": 7.0})
    assert checks["resnet101_infer_img_s_b256"]["met"] is True
    assert checks["resnet101_latency_p50_ms_b1"]["met"] is False
    assert checks["data_path_img_s_b8"]["met"] is None  # not measured: neither met nor missed


@pytest.mark.slow
def test_the_cpu_smoke_runs_every_step_and_writes_json_and_markdown(tmp_path):
    out = tmp_path / "check"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        ["bash", str(REPO / "scripts" / "device_check.sh"), "--smoke", "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=1500,
    )  # fmt: skip
    document = json.loads((out / "device_check.json").read_text())
    statuses = {step["name"]: step["status"] for step in document["steps"]}
    assert statuses == dict.fromkeys([*STEPS, "queue_1", "queue_2", "deploy"], "ok"), completed.stdout[-3000:]
    assert completed.returncode == 0
    assert len(document["study"]["runs"]) == 3 and not document["study"]["problems"]
    assert document["timer"]["median_ratio"] > 0 and document["speed"]["data_path_speedup"]
    assert "## Targets" not in (out / "device_check.md").read_text()  # the smoke measures no GPU target
    forms = json.loads((out / "deploy" / "deploy_bench.json").read_text())["forms"]["simple_cnn"]
    assert {name: form["status"] for name, form in forms.items()} == dict.fromkeys(
        ["eager", "channels_last", "compile", "onnx"], "ok"
    )
