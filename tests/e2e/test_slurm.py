"""``bcbench submit`` and ``launch/slurm-array.sbatch`` on a real SLURM cluster: one node on this machine,
started by ``scripts/slurm-local.sh`` (which installs Debian's slurm-wlm and munge when they are missing).
Array tasks are cancelled, requeued and timed out in the middle of a run; the queue must still end with
every run recorded once, no claim left and a report.

The cluster needs root (its daemons run as root) and apt or the packages: without them these tests skip,
saying why. Under CI (``CI=true``) they fail instead: CI runs as root and must run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bcbench.cli import main as cli_main
from bcbench.cli.submit import keep_working_when_not_requeued, signal_delay_seconds
from bcbench.sweep.identity import process_gone
from bcbench.sweep.queue import Claim
from tests.helpers import REPO, json_records, live_claims, run_in_process, shard_files, tiny_sweep_args

SCRIPT = REPO / "scripts" / "slurm-local.sh"
QUEUE = ("queue.poll_seconds=0.5", "queue.heartbeat_seconds=1")
# 3 epochs (no early stop): a run lasts a few seconds, long enough to be interrupted in the middle
SWEEP = ("models=[simple_cnn]", "seeds=[0,1,2,3,4,5]", "train.epochs=3", "train.min_epochs=3", *QUEUE)
MANY_SEEDS = "seeds=[" + ",".join(str(seed) for seed in range(24)) + "]"  # more than a 1-minute task does
TIMEOUT = 420  # seconds for any one wait: a hang fails the test instead of blocking CI


@dataclass(frozen=True)
class Held:
    """A claim and the array task whose process holds it (``<array id>_<task id>``, as scancel names it)."""

    task: str
    claim: Claim


@dataclass(frozen=True)
class Submitted:
    directory: Path
    cancelled: Held
    requeued: Held


def cannot_run(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI runs as root and must run the SLURM tests, but: {reason}")
    pytest.skip(f"no SLURM cluster on this machine: {reason}")


def free_port_pair() -> int:
    """A port for slurmctld whose next one (slurmd's) is free too: a cluster already running here (a
    user's, started by the same script) keeps its ports."""
    for port in range(6817, 6917, 2):
        try:
            for candidate in (port, port + 1):
                with socket.socket() as probe:
                    probe.bind(("", candidate))
        except OSError:
            continue
        return port
    cannot_run("no free pair of ports in 6817-6916 for slurmctld and slurmd")
    return 0


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[Path]:
    """A private one-node cluster for this module (its own state folder and ports), stopped after it."""
    # not under pytest's folders (mode 0700): munged wants its socket's folder reachable by every user
    state = Path(tempfile.mkdtemp(prefix="bcbench-slurm-test-"))
    env = {**os.environ, "BCBENCH_SLURM_DIR": str(state), "BCBENCH_SLURM_PORT": str(free_port_pair())}
    started = subprocess.run(["bash", SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=900)
    try:
        if started.returncode != 0:
            cannot_run((started.stderr.strip().splitlines() or ["slurm-local.sh start failed"])[-1])
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(state / "slurm.conf"))
            patch.setenv("OMP_NUM_THREADS", "1")  # the same thread count in every task: the same numbers
            yield state
    finally:
        subprocess.run(["bash", SCRIPT, "stop"], env=env, capture_output=True, timeout=300)
        shutil.rmtree(state, ignore_errors=True)


def slurm(*command: str, **kwargs: Any) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
    return result.stdout


def jobs() -> list[dict[str, str]]:
    """Every job slurmctld remembers (ended ones too, for MinJobAge = 5 minutes), one dict each."""
    lines = slurm("scontrol", "--oneliner", "show", "jobs").splitlines()
    fields = [dict(item.split("=", 1) for item in line.split() if "=" in item) for line in lines]
    return [job for job in fields if "JobId" in job]


def job(task: str) -> dict[str, str]:
    """The job ``<id>`` or array task ``<array id>_<task id>``."""
    array, _, index = task.partition("_")
    if not index:
        (found,) = [j for j in jobs() if j["JobId"] == task]
    else:
        (found,) = [j for j in jobs() if j.get("ArrayJobId") == array and j.get("ArrayTaskId") == index]
    return found


def queue_empty() -> bool:
    return slurm("squeue", "--noheader").strip() == ""


def wait_for(condition: Callable[[], object], what: str, seconds: float = TIMEOUT) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}; queue: {slurm('squeue')}")


def shard_records(directory: Path) -> list[dict]:
    """Every line the workers wrote (not the merged runs.jsonl): a run done twice would show here."""
    return [record for shard in shard_files(directory) for record in json_records(shard)]


def task_of(pid: int) -> str | None:
    """The SLURM job a process of this machine belongs to, as scancel names it (an array's task:
    ``<array id>_<task id>``; submitit submits a single worker as a plain job), from its environment."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
    if "SLURM_ARRAY_JOB_ID" in env:
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID")


def claims_held(directory: Path) -> list[Held]:
    held = []
    for path in live_claims(directory):
        claim = Claim.decode(path.read_bytes()) if path.exists() else None
        task = task_of(claim.pid) if claim is not None else None
        if claim is not None and task is not None:
            held.append(Held(task, claim))
    return held


def task_mid_run(directory: Path, besides: str = "") -> Held | None:
    """A task (not ``besides``) holding a run that began under a second ago and has no record: it is in
    the middle of that run for a few seconds more."""
    held = claims_held(directory)
    recorded = {r["run_id"] for r in shard_records(directory)}
    for item in held:
        if (
            item.task != besides
            and item.claim.run_id not in recorded
            and time.time() - item.claim.started < 1
        ):
            return item
    return None


def submit(*args: str) -> None:
    assert run_in_process(cli_main, ["submit", "--cpus-per-task", "1", *args]) == 0


@pytest.fixture(scope="module")
def submitted(slurm_cluster, synthetic_root, tmp_path_factory) -> Submitted:
    """bcbench submit with 3 workers: one task cancelled and one requeued, each in the middle of a run;
    returns once every job (the report job too) has ended."""
    out = tmp_path_factory.mktemp("submit")
    submit("--workers", "3", "--time", "10", *tiny_sweep_args(synthetic_root, out, "q", *SWEEP))
    directory = out / "q"
    cancelled = wait_for(lambda: task_mid_run(directory), "a task in the middle of a run")
    slurm("scancel", cancelled.task)
    requeued = wait_for(
        lambda: task_mid_run(directory, cancelled.task), "another task in the middle of a run"
    )
    slurm("scontrol", "requeue", requeued.task)
    wait_for(queue_empty, "every job to end")
    return Submitted(directory, cancelled, requeued)


def assert_each_run_once_ok(directory: Path, seeds: list[int]) -> list[dict]:
    records = shard_records(directory)
    assert sorted(r["seed"] for r in records) == seeds, [r["run_id"] for r in records]
    assert set(Counter(r["run_id"] for r in records).values()) == {1}
    assert {r["status"] for r in records} == {"ok"}
    assert live_claims(directory) == []
    return records


@pytest.mark.slow
def test_submit_with_a_task_cancelled_and_one_requeued_mid_run_records_every_run_once(submitted):
    directory = submitted.directory
    records = {r["run_id"]: r for r in assert_each_run_once_ok(directory, [0, 1, 2, 3, 4, 5])}
    cancelled, requeued = job(submitted.cancelled.task), job(submitted.requeued.task)
    assert cancelled["JobState"] == "CANCELLED"
    assert requeued["Restarts"] == "1" and requeued["JobState"] == "COMPLETED"
    # each interrupted run was given back and finished by another worker (a requeued task is a new one)
    for held in (submitted.cancelled, submitted.requeued):
        assert records[held.claim.run_id]["worker"] != held.claim.worker
    log = directory / "submitit" / f"{submitted.requeued.task}_0_log.out"
    assert log.read_text().count("Starting with JobEnvironment") == 2  # it came back and worked again
    ours = [j for j in jobs() if j.get("StdOut", "").startswith(str(directory))]
    (report_job,) = [j for j in ours if j["JobName"] == "bcbench-report"]
    assert report_job["JobState"] == "COMPLETED"
    array_end = max(j["EndTime"] for j in ours if j["JobName"] == "bcbench")
    assert report_job["StartTime"] >= array_end  # afterany: once every task had ended (ISO times)
    report_log = (directory / "submitit" / f"{report_job['JobId']}_0_log.out").read_text()
    assert "report.md" in report_log and "6 ok, 0 failed" in report_log
    assert (directory / "report.md").is_file()


@pytest.mark.slow
def test_the_plain_sbatch_array_file_runs_the_same_sweep_to_the_same_records(
    submitted, synthetic_root, tmp_path
):
    args = tiny_sweep_args(synthetic_root, tmp_path, "q", *SWEEP)
    # a CPU-only node: no GPU, one core per task; the file's PYTHON picks this interpreter
    options = ["--array=0-1", "--gpus-per-task=0", "--cpus-per-task=1", f"--output={tmp_path}/%A_%a.out"]
    array = slurm(
        "sbatch", "--parsable", *options, "launch/slurm-array.sbatch", *args,
        cwd=REPO, env={**os.environ, "PYTHON": sys.executable},
    ).strip()  # fmt: skip
    wait_for(queue_empty, "the array to end")
    expected = {r["run_id"]: r for r in shard_records(submitted.directory)}
    records = assert_each_run_once_ok(tmp_path / "q", [0, 1, 2, 3, 4, 5])
    assert {r["run_id"] for r in records} == set(expected)
    for record in records:
        assert record["test"] == expected[record["run_id"]]["test"], record["run_id"]
    assert [job(f"{array}_{index}")["JobState"] for index in (0, 1)] == ["COMPLETED", "COMPLETED"]
    assert (tmp_path / "q" / "report.md").is_file()


def follow_life(directory: Path, first: Held) -> Held:
    """The last claim a task's process held before it ended (its process is the life of the task)."""
    last, deadline = first, time.monotonic() + TIMEOUT
    while not process_gone(first.claim.pid, first.claim.pid_start):
        if time.monotonic() > deadline:
            pytest.fail(f"the worker {first.claim.worker} of {first.task} did not end in {TIMEOUT} s")
        for held in claims_held(directory):
            if held.claim.pid == first.claim.pid:
                last = held
        time.sleep(0.02)
    return last


@pytest.mark.slow
def test_a_time_limit_reached_mid_run_gives_the_run_back_and_the_requeued_task_finishes_it(
    slurm_cluster, synthetic_root, tmp_path
):
    sweep = ("models=[simple_cnn]", MANY_SEEDS, "train.epochs=3", "train.min_epochs=3", *QUEUE)
    submit("--workers", "1", "--time", "1", *tiny_sweep_args(synthetic_root, tmp_path, "tl", *sweep))
    directory = tmp_path / "tl"
    for _life in range(3):  # a signal between two runs gives nothing back: follow the next life then
        first = wait_for(lambda: (claims_held(directory) or [None])[0], "a claim of the worker task")
        last = follow_life(directory, first)
        own = [r for r in shard_records(directory) if r["worker"] == last.claim.worker]
        if last.claim.run_id not in {r["run_id"] for r in own}:
            break
    else:
        pytest.fail("no life of the task was in the middle of a run when its time ran out")
    finished = wait_for(
        lambda: [r for r in shard_records(directory) if r["run_id"] == last.claim.run_id],
        f"the given-back run {last.claim.run_id} to be recorded",
    )
    # enough: finishing the sweep is what the other tests check; the pending report job goes too
    report = [j["JobId"] for j in jobs() if j["JobName"] == "bcbench-report" and j["JobState"] == "PENDING"]
    slurm("scancel", last.task, *report)
    wait_for(queue_empty, "the cancelled jobs to end")
    assert finished[0]["status"] == "ok" and finished[0]["worker"] != last.claim.worker
    assert job(last.task)["Restarts"] != "0"
    log = (directory / "submitit" / f"{last.task}_0_log.out").read_text()
    assert "Caught signal SIGUSR2" in log  # submitit's time-limit signal requeued the task
    records = shard_records(directory)
    assert set(Counter(r["run_id"] for r in records).values()) == {1}
    assert {r["status"] for r in records} == {"ok"} and live_claims(directory) == []


@pytest.mark.parametrize(("minutes", "seconds"), [(1, 6), (2, 12), (10, 60), (15, 90), (240, 90)])
def test_the_requeue_signal_comes_a_tenth_of_the_time_limit_before_it_at_most_90_s(minutes, seconds):
    assert signal_delay_seconds(minutes) == seconds


def test_the_cluster_script_answers_a_wrong_command_with_one_line():
    result = subprocess.run(["bash", SCRIPT, "restart"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == f"slurm-local: usage: bash {SCRIPT} start|stop|status"


class NotRequeued(Exception):
    """Stands for submitit's UncompletedJobError."""


def raise_from_the_time_limit_handler(error: BaseException) -> list[int]:
    """Install a stand-in for submitit's USR2 handler that raises ``error``, wrap it as a worker task does,
    then deliver USR2 to this process; the signals the stand-in saw."""
    saved, seen = signal.getsignal(signal.SIGUSR2), []

    def submitit_handler(signum: int, frame: Any) -> None:
        seen.append(signum)
        raise error

    try:
        signal.signal(signal.SIGUSR2, submitit_handler)
        keep_working_when_not_requeued()
        os.kill(os.getpid(), signal.SIGUSR2)  # the handler runs in this thread before the next line
        time.sleep(0.01)
    finally:
        signal.signal(signal.SIGUSR2, saved)
    return seen


def test_a_task_not_requeued_at_its_time_limit_works_on_instead_of_failing_its_run(capsys):
    seen = raise_from_the_time_limit_handler(NotRequeued("timed-out too many times"))
    assert seen == [signal.SIGUSR2]
    assert (
        "not requeued (timed-out too many times); working on until the time limit" in capsys.readouterr().out
    )


def test_a_requeued_task_still_exits_to_give_its_run_back():
    with pytest.raises(SystemExit):
        raise_from_the_time_limit_handler(SystemExit(-1))


def fake_bin(folder: Path, uid: int) -> dict[str, str]:
    """A PATH with no SLURM, an ``id`` that answers ``uid`` and an apt-get that cannot install anything."""
    folder.mkdir()
    for tool in ("mkdir", "cat", "tail"):
        (folder / tool).symlink_to(shutil.which(tool))
    (folder / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (folder / "apt-get").write_text("#!/bin/sh\necho 'E: Unable to locate package slurm-wlm'\nexit 100\n")
    for tool in ("id", "apt-get"):
        (folder / tool).chmod(0o755)
    return {"PATH": str(folder), "BCBENCH_SLURM_DIR": str(folder.parent / "state")}


@pytest.mark.parametrize(
    ("uid", "line"),
    [
        (1000, f"start needs root (the daemons run as root): sudo bash {SCRIPT} start"),
        (
            0,
            "apt-get could not install slurm-wlm and munge: see {state}/apt.log (E: Unable to locate package",
        ),
    ],
    ids=["not-root", "apt-fails"],
)
def test_the_cluster_script_says_in_one_line_why_it_cannot_start(tmp_path, uid, line):
    env = fake_bin(tmp_path / "bin", uid)
    result = subprocess.run(
        ["/bin/bash", SCRIPT, "start"], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 1
    (said,) = result.stderr.strip().splitlines()
    assert said.startswith("slurm-local: " + line.format(state=env["BCBENCH_SLURM_DIR"])), said
