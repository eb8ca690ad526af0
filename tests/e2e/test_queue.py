"""The run queue with real processes on this CPU: several workers on one sweep folder, a worker killed
with SIGKILL, two copies of one command, a worker joining late, SIGTERM, several workers per device,
submitit's local executor and SLURM array scripts (through stand-in sbatch/srun commands)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bcbench.cli import main as cli_main
from bcbench.cli.submit import parse_minutes
from bcbench.errors import ConfigError
from bcbench.sweep import plan_runs, run_sweep
from bcbench.sweep.identity import HOST_ENV
from bcbench.sweep.queue import Claim
from tests.helpers import (
    json_records,
    live_claims,
    quiet_console,
    run_in_process,
    run_script,
    shard_files,
    start_script,
    tiny_config,
    tiny_sweep_args,
)

SEEDS = "seeds=[0,1,2,3,4,5,6,7]"
SHORT_LEASE = ("queue.lease_seconds=3", "queue.heartbeat_seconds=1", "queue.poll_seconds=0.5")
# 4 epochs (no early stop) so that a run lasts long enough to be killed in the middle of it
SWEEP = ("models=[simple_cnn]", SEEDS, "train.epochs=4", "train.min_epochs=4", *SHORT_LEASE)
TIMEOUT = 240


def queue_args(root: Path, out: Path, *extra: str) -> list[str]:
    return tiny_sweep_args(root, out, "q", *SWEEP, *extra)


def start_worker(root: Path, out: Path, *extra: str, host: str | None = None) -> subprocess.Popen:
    """``bench/run.py`` as one worker; ``host`` makes it claim as another machine would."""
    env = {"OMP_NUM_THREADS": "1"}  # the same thread count everywhere: the same numbers
    if host:
        env[HOST_ENV] = host
    return start_script("run.py", *queue_args(root, out, *extra), env=env)


def wait_until(condition: Callable[[], object], processes: list[subprocess.Popen], what: str) -> object:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if all(process.poll() is not None for process in processes):
            break
        time.sleep(0.05)
    outputs = [process.communicate(timeout=30)[0] if process.poll() is None else "" for process in processes]
    for process in processes:
        process.kill()
    pytest.fail(f"timed out waiting for {what}: {outputs}")


def finish(processes: list[subprocess.Popen]) -> list[str]:
    outputs = [process.communicate(timeout=TIMEOUT)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    return outputs


def shard_records(directory: Path) -> list[dict]:
    """Every line the workers wrote (not the merged runs.jsonl): a run done twice would show here."""
    return [record for shard in shard_files(directory) for record in json_records(shard)]


def assert_each_run_once_ok_with_baseline_numbers(directory: Path, baseline: dict[str, dict]) -> list[dict]:
    records = shard_records(directory)
    assert Counter(r["run_id"] for r in records) == Counter(set(baseline))  # every run, exactly once
    assert {r["status"] for r in records} == {"ok"}
    for record in records:
        assert record["test"] == baseline[record["run_id"]]["test"], record["run_id"]
    assert (directory / "report.md").is_file() and live_claims(directory) == []
    merged = {r["run_id"] for r in json_records(directory / "runs.jsonl")}
    assert merged == set(baseline)
    return records


def held_by(directory: Path, host: str) -> Claim | None:
    for path in live_claims(directory):
        claim = Claim.decode(path.read_bytes()) if path.exists() else None
        if claim is not None and claim.host == host:
            return claim
    return None


def victim_mid_run(directory: Path) -> Claim | None:
    """node-b's claim once the sweep has a record, if its run has none and began under a second ago: a
    claim read just after its record was written (not yet removed) would be a finished run, not mid-run."""
    recorded = {r["run_id"] for r in shard_records(directory)}
    claim = held_by(directory, "node-b") if recorded else None
    if claim is None or claim.run_id in recorded:
        return None
    return claim if time.time() - claim.started < 1.0 else None


@pytest.fixture(scope="module")
def baseline(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The same sweep run by one worker: run_id -> record."""
    out = tmp_path_factory.mktemp("one-worker")
    (output,) = finish([start_worker(synthetic_root, out)])
    records = {r["run_id"]: r for r in json_records(out / "q" / "runs.jsonl")}
    assert len(records) == 8, output
    return records


@pytest.mark.slow
def test_three_workers_one_killed_mid_run_finish_every_run_once_with_one_worker_numbers(
    synthetic_root, tmp_path, baseline
):
    directory = tmp_path / "q"
    # the victim claims as another machine would, so only its lease (3 s) frees its run
    victim = start_worker(synthetic_root, tmp_path, host="node-b")
    others = [start_worker(synthetic_root, tmp_path) for _ in range(2)]
    everyone = [victim, *others]
    claim = wait_until(lambda: victim_mid_run(directory), everyone, "the victim mid-way through a run")
    victim.kill()  # SIGKILL: no handler runs, its claim stays behind
    killed_at = time.time()
    victim.communicate(timeout=30)
    outputs = finish(others)
    records = assert_each_run_once_ok_with_baseline_numbers(directory, baseline)
    (retaken,) = [r for r in records if r["run_id"] == claim.run_id]
    assert "node-b" not in retaken["worker"]
    retaken_at = dt.datetime.fromisoformat(retaken["started_at"]).timestamp()
    assert retaken_at >= int(killed_at) + 3 - 1  # after the lease (timestamps are whole seconds)
    notes = "".join(outputs)
    assert f"took over {claim.run_id}.claim from worker {claim.worker}" in notes
    # the report comes from the worker that completed the sweep (two finishing in the same instant
    # may both write it: the same files, each written atomically)
    assert any("results:" in output for output in outputs)


@pytest.mark.slow
def test_the_same_command_started_twice_at_once_runs_each_run_once(synthetic_root, tmp_path, baseline):
    finish([start_worker(synthetic_root, tmp_path), start_worker(synthetic_root, tmp_path)])
    assert_each_run_once_ok_with_baseline_numbers(tmp_path / "q", baseline)


@pytest.mark.slow
def test_a_worker_started_halfway_joins_and_takes_runs(synthetic_root, tmp_path, baseline):
    directory = tmp_path / "q"
    first = start_worker(synthetic_root, tmp_path)
    wait_until(lambda: len(shard_records(directory)) >= 1, [first], "the first record")
    late = start_worker(synthetic_root, tmp_path)
    outputs = finish([first, late])
    records = assert_each_run_once_ok_with_baseline_numbers(directory, baseline)
    assert len({r["worker"] for r in records}) == 2, outputs  # the late worker took runs too
    assert "runs done, running" in outputs[1]


@pytest.mark.slow
def test_sigterm_gives_the_run_back_so_another_worker_takes_it_without_a_lease(synthetic_root, tmp_path):
    directory = tmp_path / "q"
    # another machine's claim would hold its run for the default lease (300 s) if it were not given back
    worker = start_worker(synthetic_root, tmp_path, "queue.lease_seconds=300", host="node-b")
    wait_until(lambda: held_by(directory, "node-b"), [worker], "a claim")
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=60)[0]
    assert worker.returncode == 130 and "Rerun the same command to resume" in output, output
    assert live_claims(directory) == []
    started = time.monotonic()
    finish([start_worker(synthetic_root, tmp_path, "queue.lease_seconds=300")])
    assert time.monotonic() - started < 120
    assert {r["status"] for r in json_records(directory / "runs.jsonl")} == {"ok"}


@pytest.mark.slow
def test_two_workers_per_device_share_the_cpu_and_the_parent_reports(synthetic_root, tmp_path):
    args = tiny_sweep_args(synthetic_root, tmp_path, "q", "models=[simple_cnn]", "seeds=[0,1,2,3]")
    result = run_script(
        "run.py", *args, "queue.workers_per_device=2", timeout=TIMEOUT, env={"OMP_NUM_THREADS": "2"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting 2 workers (cpu.0, cpu.1)" in result.stdout
    records = shard_records(tmp_path / "q")
    assert sorted(r["seed"] for r in records) == [0, 1, 2, 3]
    assert all("-cpu.0-" in r["worker"] or "-cpu.1-" in r["worker"] for r in records)
    assert {r["env"]["threads"] for r in records} == {1}  # the two cores split between two workers
    assert result.stdout.count("results:") == 1


@pytest.mark.slow
@pytest.mark.parametrize("planted", ["garbage", "future"])
def test_a_garbage_or_future_claim_costs_a_lease_not_a_run(synthetic_root, tmp_path, planted):
    config = tiny_config(synthetic_root, tmp_path, "models=[simple_cnn]", "seeds=[0,1]", *SHORT_LEASE)
    first = plan_runs(config)[0].run_id
    claims = tmp_path / "tiny" / "claims"
    claims.mkdir(parents=True)
    now = time.time() + 3600  # a clock an hour ahead
    future = Claim(first, "w", "node-b", "node-b", 1, None, now, now, "n")
    claims.joinpath(f"{first}.claim").write_bytes(b"\x00garbage" if planted == "garbage" else future.encode())
    console = quiet_console()
    assert run_sweep(config, console=console).exit_code == 0
    text = console.export_text()
    assert ("not a bcbench claim" if planted == "garbage" else "in the future") in text
    assert f"took over {first}.claim" in text
    records = shard_records(tmp_path / "tiny")
    assert sorted(r["seed"] for r in records) == [0, 1] and {r["status"] for r in records} == {"ok"}


@pytest.mark.slow
def test_submitit_local_executor_runs_a_tiny_sweep_to_its_report(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = tiny_sweep_args(synthetic_root, tmp_path, "q", "models=[simple_cnn]", "seeds=[0,1,2]")
    assert run_in_process(cli_main, ["submit", "--local", "--workers", "2", "--time", "10", *args]) == 0
    directory = tmp_path / "q"
    records = shard_records(directory)
    assert sorted(r["seed"] for r in records) == [0, 1, 2] and {r["status"] for r in records} == {"ok"}
    assert (directory / "report.md").is_file()
    assert len(list((directory / "submitit").glob("*_result.pkl"))) == 2  # two array tasks ran


def fake_slurm(folder: Path) -> dict[str, str]:
    """Stand-ins for srun (submitit looks for it) and sbatch (keeps each script, answers a job id)."""
    folder.mkdir()
    (folder / "srun").write_text("#!/bin/sh\nexit 0\n")
    (folder / "sbatch").write_text(
        '#!/bin/sh\nn=$((4242 + $(ls "$FAKE_SLURM_JOBS" | wc -l)))\n'
        'cp "$1" "$FAKE_SLURM_JOBS/$n.sh"\necho "Submitted batch job $n"\n'
    )
    for name in ("srun", "sbatch"):
        (folder / name).chmod(0o755)
    (folder / "jobs").mkdir()
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "FAKE_SLURM_JOBS": str(folder / "jobs")}


def test_submit_writes_a_slurm_array_and_a_dependent_report_job(
    synthetic_root, tmp_path, monkeypatch, capsys
):
    for key, value in fake_slurm(tmp_path / "slurm").items():
        monkeypatch.setenv(key, value)
    args = ["--workers", "3", "--partition", "gpu", "--account", "lab", "--gpus-per-task", "1"]
    args += ["--cpus-per-task", "8", "--time", "1:30:00"]
    sweep = tiny_sweep_args(synthetic_root, tmp_path / "out", "q", "models=[simple_cnn]")
    assert run_in_process(cli_main, ["submit", *args, *sweep]) == 0
    array, report = (tmp_path / "slurm" / "jobs" / f"{n}.sh" for n in (4242, 4243))
    array_text, report_text = array.read_text(), report.read_text()
    for flag in ("--array=0-2%3", "--partition=gpu", "--account=lab", "--gpus-per-node=1"):
        assert f"#SBATCH {flag}" in array_text, array_text
    assert "#SBATCH --cpus-per-task=8" in array_text and "#SBATCH --time=90" in array_text
    assert "#SBATCH --dependency=afterany:4242" in report_text
    assert "gpus" not in report_text and "--array" not in report_text
    out = capsys.readouterr().out
    assert "array job 4242 (3 tasks); report job 4243" in out
    assert (tmp_path / "out" / "q" / "config.yaml").is_file()


@pytest.mark.parametrize(
    ("text", "minutes"), [("90", 90), ("30:00", 30), ("1:30:00", 90), ("2-00:00:00", 2880), ("0-1", 60)]
)
def test_time_limits_read_as_slurm_reads_them(text, minutes):
    assert parse_minutes(text) == minutes


def test_a_bad_time_limit_is_one_line():
    with pytest.raises(ConfigError, match="--time 'soon' is not a time limit"):
        parse_minutes("soon")


def test_submit_without_slurm_says_to_use_local(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    code = run_in_process(
        cli_main, ["submit", f"output_dir={tmp_path}", "models=[simple_cnn]", "--workers", "2"]
    )
    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: cannot submit to SLURM here") and "--local" in line
