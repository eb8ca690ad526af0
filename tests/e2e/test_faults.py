"""Faults during a sweep and bad configuration: clear errors before training, nothing lost."""

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console

import bcbench.sweep.execute
import bcbench.sweep.plan
import bcbench.sweep.runner
from bcbench.cli import main as cli_main
from bcbench.config import Config
from bcbench.errors import ConfigError, ModelError
from bcbench.sweep import describe_failure, run_sweep
from tests.helpers import (
    json_records,
    live_claims,
    quiet_console,
    read_record_file,
    run_in_process,
    run_script,
    shard_files,
    start_script,
    sweep_json_records,
    tiny_config,
)


def config_for(root: Path, out: Path, *overrides: str) -> Config:
    return tiny_config(root, out, "models=[simple_cnn]", "seeds=[0]", *overrides, name="faults")


def console() -> Console:
    return quiet_console()


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run_script("run.py", *args, timeout=120, **kwargs)


def start_sweep(root: Path, out: Path, ignore_sigint: bool = False) -> subprocess.Popen:
    args = ["name=faults", f"output_dir={out}", f"data.root={root}", "data.image_size=32"]
    args += ["models=[simple_cnn]", "seeds=[0,1,2,3,4,5]", "train.epochs=2", "train.min_epochs=1"]
    args += ["train.batch_size=64", "cost.enabled=false"]
    return start_script(
        "run.py",
        *args,
        env={"OMP_NUM_THREADS": "1"},
        # as a shell starts a background job (`cmd &`): SIGINT ignored until bcbench handles it
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
    )


def wait_for_records(directory: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the sweep folder holds ``count`` records (in the worker's shard while the sweep runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(sweep_json_records(directory)) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"sweep ended early: {process.stdout.read()}")
        time.sleep(0.2)
    process.kill()
    pytest.fail("sweep did not record a run in time")


def finish_and_check(root: Path, out: Path) -> None:
    """Rerunning the same command completes the sweep: six ok runs, none twice, no torn line kept."""
    result = run_cli(
        "name=faults", f"output_dir={out}", f"data.root={root}", "data.image_size=32", "models=[simple_cnn]",
        "seeds=[0,1,2,3,4,5]", "train.epochs=2", "train.min_epochs=1", "train.batch_size=64",
        "cost.enabled=false",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = read_record_file(out / "faults" / "runs.jsonl")
    ok_ids = [r.run_id for r in loaded.records if r.ok]
    assert len(ok_ids) == 6 and len(set(ok_ids)) == 6


@pytest.mark.slow
def test_nan_loss_fails_the_run_with_epoch_and_reason_and_the_sweep_goes_on(synthetic_root, tmp_path):
    config = config_for(
        synthetic_root,
        tmp_path,
        "models=[simple_cnn,resnet18]",
        "model_options.simple_cnn.lr=1e12",
        "train.epochs=1",
    )
    assert run_sweep(config, console=console()).exit_code == 1
    records = {r["model"]: r for r in json_records(tmp_path / "faults" / "runs.jsonl")}
    assert records["simple_cnn"]["status"] == "failed"
    assert "TrainingDiverged: training loss became" in records["simple_cnn"]["error"]
    assert "at epoch 1" in records["simple_cnn"]["error"]
    assert records["resnet18"]["status"] == "ok"


@pytest.mark.slow  # over 1 s: a sweep that trains until the planted out-of-memory
def test_out_of_memory_is_recorded_with_advice(synthetic_root, tmp_path, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(bcbench.sweep.execute, "train_run", out_of_memory)
    assert run_sweep(config_for(synthetic_root, tmp_path), console=console()).exit_code == 1
    (record,) = json_records(tmp_path / "faults" / "runs.jsonl")
    assert record["status"] == "failed"
    assert "lower train.batch_size" in record["error"]
    cpu = "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to"
    assert "lower train.batch_size" in describe_failure(RuntimeError(f"{cpu} allocate 1073741824 bytes."))
    assert "lower train.batch_size" in describe_failure(MemoryError())
    assert "lower train.batch_size" not in describe_failure(RuntimeError("shapes cannot be multiplied"))


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (["models=[resnet1O1]"], ModelError, "unknown model 'resnet1O1'; did you mean"),
        (["model_options.simple_cnn.weights=IMAGENET1K_V1"], ModelError, "has no pretrained weights"),
        (
            ["models=[resnet18]", "model_options.resnet18.weights=IMAGENET_V7"],
            ModelError,
            "valid: IMAGENET1K_V1",
        ),
    ],
)
def test_bad_models_fail_before_any_training(
    synthetic_root, tmp_path, overrides, error, message, monkeypatch
):
    trained = []
    monkeypatch.setattr(bcbench.sweep.execute, "train_run", lambda *a, **k: trained.append(1))
    with pytest.raises(error, match=message):
        run_sweep(config_for(synthetic_root, tmp_path, *overrides), console=console())
    assert not trained
    assert not (tmp_path / "faults" / "runs.jsonl").exists()


def test_bf16_on_a_gpu_without_it_fails_before_training(synthetic_root, tmp_path, monkeypatch):

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Old GPU")
    config = config_for(synthetic_root, tmp_path, "train.mixed_precision=bf16")
    with pytest.raises(ConfigError, match="bf16 is not supported on Old GPU"):
        bcbench.sweep.runner.preflight(
            config, bcbench.sweep.plan.plan_runs(config), torch.device("cuda"), tmp_path / "x"
        )


def test_unwritable_results_folder_is_detected_before_training(synthetic_root, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot be written.*set output_dir"):
        run_sweep(config_for(synthetic_root, blocker), console=console())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data.root=/nonexistent/busi"], "/nonexistent/busi"),
        (["models=[resnet1O1]"], "unknown model"),
        (["train.batch_size=0"], "'train.batch_size' must be positive"),
        (["--config", "/nonexistent.yaml"], "config file /nonexistent.yaml does not exist"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys, args, message):
    assert run_in_process(cli_main, ["run", f"output_dir={tmp_path}", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_debug_flag_shows_the_traceback(tmp_path):
    with pytest.raises(ModelError, match="unknown model"):
        run_in_process(cli_main, ["run", f"output_dir={tmp_path}", "models=[resnet1O1]", "--debug"])


@pytest.mark.slow
def test_the_real_entry_point_prints_one_line_and_exits_2(tmp_path):
    result = run_cli(f"output_dir={tmp_path}", "models=[resnet1O1]")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown model")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "background"), [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)]
)
def test_interrupt_keeps_finished_runs_and_says_how_to_resume(synthetic_root, tmp_path, signum, background):
    process = start_sweep(synthetic_root, tmp_path, ignore_sigint=background)
    directory = tmp_path / "faults"
    wait_for_records(directory, 1, process)
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "Rerun the same command to resume" in output
    assert "Traceback" not in output
    (shard,) = shard_files(directory)
    finished = read_record_file(shard)
    assert finished.bad_lines == [] and len(finished.records) >= 1
    assert live_claims(directory) == []  # the run in progress was given back
    finish_and_check(synthetic_root, tmp_path)


@pytest.mark.slow
def test_kill_9_mid_sweep_then_rerun_finishes_with_no_duplicate_and_no_loss(synthetic_root, tmp_path):
    process = start_sweep(synthetic_root, tmp_path)
    directory = tmp_path / "faults"
    wait_for_records(directory, 2, process)
    process.kill()  # SIGKILL: no handler runs, the claim of the run in progress stays
    process.communicate(timeout=30)
    (shard,) = shard_files(directory)
    with open(shard, "a") as handle:  # and, as if killed inside a write, a torn last line
        handle.write('{"run_id": "simple_cnn-s9-torn", "status": "o')
    before = [json.loads(line)["run_id"] for line in shard.read_text().splitlines()[:-1]]
    # same host, dead process: its claim is stale at once (the default lease of minutes is not waited for)
    finish_and_check(synthetic_root, tmp_path)
    assert read_record_file(shard).bad_lines == [len(before) + 1]  # the killed worker's file untouched
    after = read_record_file(directory / "runs.jsonl")
    assert [r.run_id for r in after.records[: len(before)]] == before  # finished records first, as they were
