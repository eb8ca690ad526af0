"""Real multi-process runs on CPU (gloo, via torchrun): grid sharding, DDP, a failure in one process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bcbench.config import load_config
from bcbench.data import Normalizer, build_data
from bcbench.metrics import classification_metrics
from bcbench.models import build_model
from bcbench.train import MixedPrecision, ProcessShare, Trainer
from tests.helpers import REPO, json_records, tiny_sweep_args

TIMEOUT = 300  # seconds: a hang fails the test instead of blocking CI


def sweep_args(root: Path, out: Path, *extra: str) -> list[str]:
    return tiny_sweep_args(root, out, "dist", "train.batch_size=32", *extra)


def launch(processes: int, args: list[str]) -> subprocess.CompletedProcess:
    """bench/run.py in ``processes`` gloo processes (torchrun), or plainly for 1."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # same thread count in both layouts: same float sums
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    launcher += ["--master_port", str(29600 + os.getpid() % 200)]
    prefix = launcher if processes > 1 else [sys.executable]
    return subprocess.run(
        [*prefix, str(REPO / "bench" / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )


def ok_records(out: Path) -> list[dict]:
    return json_records(out / "dist" / "runs.jsonl")


@pytest.mark.slow
def test_two_process_grid_records_every_run_once_with_single_process_numbers(synthetic_root, tmp_path):
    args = ["models=[simple_cnn]", "seeds=[0,1,2]"]
    single = launch(1, sweep_args(synthetic_root, tmp_path / "one", *args))
    assert single.returncode == 0, single.stderr[-2000:]
    double = launch(2, sweep_args(synthetic_root, tmp_path / "two", *args))
    assert double.returncode == 0, double.stderr[-2000:]

    one, two = ok_records(tmp_path / "one"), ok_records(tmp_path / "two")
    assert sorted(r["run_id"] for r in two) == sorted(r["run_id"] for r in one)  # each exactly once
    assert {r["env"]["num_processes"] for r in two} == {2}
    assert {r["env"]["process_index"] for r in two} == {0, 1}  # both processes did work
    assert len({r["worker"] for r in two}) == 2  # as two workers of the sweep's queue, one shard each
    by_id = {r["run_id"]: r for r in one}
    for record in two:
        assert record["test"] == by_id[record["run_id"]]["test"]
        assert record["history"][-1]["train_loss"] == by_id[record["run_id"]]["history"][-1]["train_loss"]


@pytest.mark.slow
def test_two_process_ddp_metrics_equal_one_process_evaluation_of_the_same_weights(synthetic_root, tmp_path):
    extra = ["models=[simple_cnn]", "seeds=[0]", "strategy=ddp", "train.save_checkpoint=true"]
    result = launch(2, sweep_args(synthetic_root, tmp_path, *extra))
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = ok_records(tmp_path)
    assert record["strategy"] == "ddp" and record["env"]["num_processes"] == 2
    assert record["data"]["n_test"] % 2 == 1  # not divisible by the number of processes
    assert sum(map(sum, record["test"]["confusion_matrix"])) == record["data"]["n_test"]  # no duplicates

    config = load_config(None, sweep_args(synthetic_root, tmp_path, *extra))
    data = build_data(config.data)
    model = build_model("simple_cnn", 3, record["checkpoint"], 32)
    steps = Trainer(
        model=model,
        optimizer=None,
        criterion=None,
        precision=MixedPrecision("no", torch.device("cpu")),
        augment=None,
        normalize=Normalizer("imagenet", "cpu"),
        processes=ProcessShare(None, together=False),
        train_cfg=config.train,
        generators={},
    )
    images, labels = data.tensors("test")
    probs, _ = steps.evaluate(images, labels)
    single_process = classification_metrics(probs, labels, data.classes)
    # counts and everything computed from them are exact; the probability scores (AUROC, ECE, NLL) may
    # differ in the last bits, since each process runs the forward on half a batch (other kernel blocking)
    for key, value in single_process.items():
        close = key in ("auroc_macro", "ece", "nll") and isinstance(value, float)
        assert record["test"][key] == (pytest.approx(value, rel=1e-6) if close else value), key


@pytest.mark.slow
def test_a_run_failing_in_one_process_does_not_hang_the_other(synthetic_root, tmp_path):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a state dict")
    extra = ["models=[simple_cnn,resnet18]", "seeds=[0]", f"model_options.resnet18.weights={broken}"]
    result = launch(2, sweep_args(synthetic_root, tmp_path, *extra))
    assert result.returncode != 0  # the exit code says a run failed
    records = {r["model"]: r for r in ok_records(tmp_path)}
    assert records["simple_cnn"]["status"] == "ok"
    assert records["resnet18"]["status"] == "failed"
    assert "broken.pth" in records["resnet18"]["error"]
    assert records["simple_cnn"]["env"]["process_index"] != records["resnet18"]["env"]["process_index"]


@pytest.mark.slow
def test_accelerate_launch_with_the_cpu_config_runs_two_processes(synthetic_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("launch/cpu.yaml starts CPU processes only on a machine without GPUs")
    accelerate = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "launch" / "cpu.yaml"),
    ]
    accelerate += ["--main_process_port", str(29800 + os.getpid() % 100)]
    args = sweep_args(synthetic_root, tmp_path, "models=[simple_cnn]", "seeds=[0,1]", "train.epochs=1")
    result = subprocess.run(
        [*accelerate, str(REPO / "bench" / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = ok_records(tmp_path)
    assert len(records) == 2
    assert {r["env"]["process_index"] for r in records} == {0, 1}
    assert {r["env"]["num_processes"] for r in records} == {2}
