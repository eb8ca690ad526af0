"""Which runs a rerun takes up, from records seeded in shards: ``RunExecutor.pending`` (the resume rule of
the ``ddp`` strategy) and the queue worker's retry-once rule. Every expectation is listed by hand per run:
ok (done), failed (retried), failed after ok (retried: the newest record decides), no record (run), and
failed again by another worker after this one started (done for this worker). Also how the executor keeps
records: its own shard, failed runs recorded and the sweep going on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from bcbench.config import QueueConfig, load_config
from bcbench.record import RunRecord, append_record, read_sweep, shard_path
from bcbench.sweep import plan_runs
from bcbench.sweep.execute import RunExecutor
from bcbench.sweep.progress import SilentObserver
from bcbench.sweep.queue import Claim, ClaimBoard
from bcbench.sweep.worker import QueueWorker, RunLost

QUEUE = QueueConfig(lease_seconds=5.0, heartbeat_seconds=0.2, poll_seconds=0.01)
_PLAN: list = []


def planned_runs() -> list:
    """Six planned runs (2 models x 3 seeds), planned once per session: planning resolves configs."""
    if not _PLAN:
        _PLAN.extend(plan_runs(load_config(None, ["models=[simple_cnn,resnet18]", "seeds=[0,1,2]"])))
    return list(_PLAN)


def seed(directory: Path, shard: str, run_id: str, status: str, minute: int) -> None:
    """One record of ``run_id`` in ``shard``, finished at 00:<minute>."""
    finished = f"2025-01-01T00:{minute:02d}:00+00:00"
    append_record(shard_path(directory, shard), {"run_id": run_id, "status": status, "finished_at": finished})


def seeded_sweep(directory: Path) -> dict[str, str]:
    """Records for runs 0-4 of the plan (run 5 has none), spread over shards out of time order: the
    newest record of each run is in the first shard read, or in a later one."""
    ids = [item.run_id for item in planned_runs()]
    seed(directory, "w1", ids[0], "ok", 1)
    seed(directory, "w1", ids[1], "failed", 2)
    seed(directory, "w2", ids[2], "ok", 3)
    seed(directory, "w1", ids[2], "failed", 4)  # failed after ok: a rerun that failed
    seed(directory, "w2", ids[3], "ok", 6)
    seed(directory, "w1", ids[3], "failed", 5)  # ok after failed, in an earlier shard
    seed(directory, "w2", ids[4], "failed", 7)
    return {
        "ok": ids[0],
        "failed": ids[1],
        "failed_after_ok": ids[2],
        "ok_after_failed": ids[3],
        "failed_again_elsewhere": ids[4],
        "no_record": ids[5],
    }


def test_pending_retries_failed_runs_and_skips_ok_ones(tmp_path):
    runs = seeded_sweep(tmp_path)
    accelerator = SimpleNamespace(is_main_process=True)
    executor = RunExecutor(load_config(None, []), accelerator, tmp_path, worker_id="resume")
    pending = [item.run_id for item in executor.pending(planned_runs())]
    expected = ["failed", "failed_after_ok", "failed_again_elsewhere", "no_record"]
    assert pending == [runs[name] for name in expected]  # in plan order


def test_pending_of_an_empty_folder_is_the_whole_plan_and_of_a_finished_one_nothing(tmp_path):
    accelerator = SimpleNamespace(is_main_process=True)
    executor = RunExecutor(load_config(None, []), accelerator, tmp_path, worker_id="resume")
    assert executor.pending(planned_runs()) == planned_runs()
    for minute, item in enumerate(planned_runs()):
        seed(tmp_path, "w", item.run_id, "ok", minute)
    assert executor.pending(planned_runs()) == []


def test_each_executor_keeps_its_records_in_its_own_shard_and_under_ddp_only_the_main_process(tmp_path):
    """keep() stamps the worker and appends to runs/<worker>.jsonl; without a worker id an executor gets a
    new one (two never share a shard); the default strategy (grid: every process a worker of its own)
    writes from any process, ddp only from the main one."""
    config = load_config(None, [])

    def kept(worker_id: str | None, main: bool, **strategy: str) -> RunExecutor:
        accelerator = SimpleNamespace(is_main_process=main)
        executor = RunExecutor(config, accelerator, tmp_path, worker_id=worker_id, **strategy)
        executor.keep(RunRecord(run_id=f"run-{worker_id}-{main}", status="ok"))
        return executor

    kept("grid-side", main=False)
    kept("ddp-side", main=False, strategy="ddp")
    kept("ddp-main", main=True, strategy="ddp")
    fresh, other = kept(None, main=True), kept(None, main=True)
    assert fresh.worker_id != other.worker_id and fresh.runs_path == shard_path(tmp_path, fresh.worker_id)
    shards = {path.stem: path for path in (tmp_path / "runs").glob("*.jsonl")}
    assert sorted(shards) == sorted(["grid-side", "ddp-main", fresh.worker_id, other.worker_id])
    for worker, path in shards.items():
        (line,) = path.read_text().splitlines()
        stored = RunRecord.from_json(json.loads(line))
        assert stored.worker == worker and stored.status == "ok"


def test_runs_that_fail_become_failed_records_with_one_line_errors_and_the_sweep_goes_on(tmp_path):
    """run() over two runs whose data root does not exist: each becomes a failed record (the one-line
    error, the sweep's name, strategy and device) kept in the worker's shard, announced to the observer in
    order; with no observer the executor runs silently."""
    missing = tmp_path / "nowhere"
    config = load_config(None, [f"data.root={missing}", "models=[simple_cnn]", "seeds=[0,1]"])
    planned = plan_runs(config)
    accelerator = SimpleNamespace(is_main_process=True, device="cpu", num_processes=1, process_index=0)
    calls: list[tuple] = []
    observer = SimpleNamespace(
        data_loading=None,
        sweep_started=lambda *counts: calls.append(("sweep", *counts)),
        run_started=lambda item, position, todo: calls.append(("start", item.run_id, position, todo)),
        run_finished=lambda item, record: calls.append(("end", item.run_id, record.status)),
    )
    error = f"DataError: data root {missing} does not exist or is not a folder; set data.root to your images"
    for name, watcher in (("quiet", None), ("watched", observer)):
        executor = RunExecutor(config, accelerator, tmp_path / name, observer=watcher, worker_id="w")
        written = executor.run(planned, total=5, done=3)
        assert [(r.run_id, r.status, r.error) for r in written] == [
            (p.run_id, "failed", error) for p in planned
        ]
        for record in written:
            assert (record.sweep, record.strategy, record.env.device) == (config.name, "grid", "cpu")
        stored = read_sweep(tmp_path / name).records
        assert [(r.run_id, r.status, r.worker) for r in stored] == [
            (r.run_id, "failed", "w") for r in written
        ]
    first, second = (p.run_id for p in planned)
    assert calls == [
        ("sweep", 5, 3, 2),
        ("start", first, 0, 2),
        ("end", first, "failed"),
        ("start", second, 1, 2),
        ("end", second, "failed"),
    ]


class ScriptedExecutor:
    """What QueueWorker needs of a RunExecutor: every run it runs fails; ``during`` maps a run id to what
    happens elsewhere while it runs; running a run twice is an error (the retry-once rule)."""

    def __init__(
        self, directory: Path, worker_id: str, during: dict[str, Callable[[], None]] | None = None
    ) -> None:
        self.config = SimpleNamespace(queue=QUEUE)
        self.directory, self.observer, self.worker_id = directory, SilentObserver(), worker_id
        self.ran: list[str] = []
        self._during = during or {}

    def run_one(self, item) -> RunRecord:
        if item.run_id in self.ran:
            raise AssertionError(f"{item.run_id} was run twice by one worker")
        self.ran.append(item.run_id)
        self._during.get(item.run_id, lambda: None)()
        finished = f"2025-01-01T01:{len(self.ran):02d}:00+00:00"
        return RunRecord(run_id=item.run_id, status="failed", worker=self.worker_id, finished_at=finished)

    def keep(self, record: RunRecord) -> None:
        append_record(shard_path(self.directory, self.worker_id), record)


def worker_over(executor: ScriptedExecutor) -> QueueWorker:
    board = ClaimBoard(executor.directory, executor.worker_id, QUEUE)
    return QueueWorker(executor, planned_runs(), board, {}, warn=lambda message: None)


def run_with_deadline(worker: QueueWorker, seconds: float = 20.0):
    """The worker's loop in a thread: a worker that retries for ever fails the test instead of hanging it."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(worker.run()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the worker was still running after {seconds} s: ran {worker.executor.ran}")
    return outcome[0]


def test_a_worker_retries_each_failed_run_once_and_leaves_when_all_are_recorded(tmp_path):
    runs = seeded_sweep(tmp_path)
    elsewhere = runs["failed_again_elsewhere"]

    def another_worker_fails_it() -> None:  # after this worker started, before it reached the run
        seed(tmp_path, "other", elsewhere, "failed", 30)

    executor = ScriptedExecutor(tmp_path, "me", {runs["failed"]: another_worker_fails_it})
    worker = worker_over(executor)
    assert [item.run_id for item in worker.todo] == [
        runs[name] for name in ("failed", "failed_after_ok", "failed_again_elsewhere", "no_record")
    ]
    outcome = run_with_deadline(worker)
    assert executor.ran == [runs[name] for name in ("failed", "failed_after_ok", "no_record")]
    assert [record.run_id for record in outcome.written] == executor.ran and outcome.failed
    assert outcome.last  # every planned run has a record: this worker reports


def test_a_second_start_of_the_worker_retries_the_failed_runs_once_more(tmp_path):
    runs = seeded_sweep(tmp_path)
    first = ScriptedExecutor(tmp_path, "first")
    run_with_deadline(worker_over(first))
    second = ScriptedExecutor(tmp_path, "second")
    run_with_deadline(worker_over(second))
    retried = [runs[name] for name in ("failed", "failed_after_ok", "failed_again_elsewhere", "no_record")]
    assert first.ran == retried and second.ran == retried


class Announcements:
    """An observer that keeps what a queue worker announces, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def sweep_started(self, total: int, done: int, todo: int) -> None:
        self.calls.append(("sweep", total, done, todo))

    def sweep_progress(self, done: int, total: int, mine: int) -> None:
        self.calls.append(("progress", done, total, mine))

    def run_started(self, planned, position: int, todo: int) -> None:
        self.calls.append(("start", planned.run_id, position, todo))

    def run_finished(self, planned, record: RunRecord) -> None:
        self.calls.append(("end", planned.run_id, record.status))

    def epoch_finished(self, planned, entry: dict) -> None:
        self.calls.append(("epoch", planned.run_id, entry))


def test_a_worker_announces_the_sweeps_counts_and_its_progress_before_each_claim(tmp_path):
    runs = seeded_sweep(tmp_path)  # 6 planned: 2 done (ok, ok after failed), 4 to do
    executor = ScriptedExecutor(tmp_path, "me")
    executor.observer = Announcements()
    run_with_deadline(worker_over(executor))
    expected: list[tuple] = [("sweep", 6, 2, 4)]
    for position, name in enumerate(("failed", "failed_after_ok", "failed_again_elsewhere", "no_record")):
        expected.append(("progress", 2 + position, 6, position))  # done by anyone, planned, written here
        expected += [("start", runs[name], position, 4), ("end", runs[name], "failed")]
    expected.append(("progress", 6, 6, 4))
    assert executor.observer.calls == expected


@pytest.mark.parametrize("resnet_cost", [1.5, 0.5])
def test_runs_are_taken_longest_expected_first_and_a_model_without_a_cost_counts_one(tmp_path, resnet_cost):
    executor = ScriptedExecutor(tmp_path, "me")
    board = ClaimBoard(tmp_path, "me", QUEUE)
    cost = {"resnet18": resnet_cost}  # simple_cnn has no entry: 1.0
    run_with_deadline(QueueWorker(executor, planned_runs(), board, cost, warn=lambda message: None))
    by_model = {
        model: [p.run_id for p in planned_runs() if p.spec.model == model]
        for model in cost | {"simple_cnn": 1}
    }
    first, second = ("resnet18", "simple_cnn") if resnet_cost > 1.0 else ("simple_cnn", "resnet18")
    assert executor.ran == by_model[first] + by_model[second]  # plan order within a model


def test_a_worker_started_on_a_finished_sweep_reports_unless_another_still_holds_a_claim(tmp_path):
    for minute, item in enumerate(planned_runs()):
        seed(tmp_path, "w", item.run_id, "ok", minute)
    executor = ScriptedExecutor(tmp_path, "me")
    alone = run_with_deadline(worker_over(executor))
    assert (executor.ran, alone.written, alone.last) == ([], [], True)

    ClaimBoard(tmp_path, "other", QUEUE).try_claim(planned_runs()[0].run_id)  # live: still refreshing
    notes: list[str] = []
    board = ClaimBoard(tmp_path, "late", QUEUE)
    joined = QueueWorker(ScriptedExecutor(tmp_path, "late"), planned_runs(), board, {}, warn=notes.append)
    outcome = run_with_deadline(joined)
    assert (outcome.written, outcome.last) == ([], False)
    assert notes == ["joining 1 run(s) in progress by other workers on this sweep"]


def test_the_worker_heartbeat_keeps_a_run_longer_than_the_lease_and_notes_a_failed_refresh(tmp_path):
    """A run outlasts the lease: another worker must still find its claim live, since the heartbeat
    refreshes it; the first refresh fails and the worker is told, the next ones go through."""
    quick = QueueConfig(lease_seconds=0.5, heartbeat_seconds=0.05, poll_seconds=0.01)
    planned = planned_runs()[:1]
    run_id = planned[0].run_id
    other = ClaimBoard(tmp_path, "other", quick)
    taken: list[bool] = []

    def outlast_the_lease() -> None:
        time.sleep(0.7)
        taken.append(other.try_claim(run_id))

    executor = ScriptedExecutor(tmp_path, "me", {run_id: outlast_the_lease})
    executor.config = SimpleNamespace(queue=quick)
    board = ClaimBoard(tmp_path, "me", quick)
    refresh, failures = board.refresh, [OSError("disk hiccup")]

    def refresh_failing_once(name: str) -> bool:
        if failures:
            raise failures.pop()
        return refresh(name)

    board.refresh = refresh_failing_once
    notes: list[str] = []
    outcome = run_with_deadline(QueueWorker(executor, planned, board, {}, warn=notes.append))
    assert taken == [False]
    assert [record.run_id for record in outcome.written] == [run_id]
    assert notes == [f"could not refresh claim {board.path(run_id)} (disk hiccup); retrying"]


def test_a_run_recorded_elsewhere_just_before_this_worker_claims_it_is_given_back_and_the_next_taken(
    tmp_path,
):
    """Another worker records a run between this worker's read of the records and its claim: the claim
    is released at once and the next run is claimed in the same pass (no extra wait, no extra progress
    line); at the end no claim is left and nothing is held."""
    runs = seeded_sweep(tmp_path)
    raced = runs["failed"]
    executor = ScriptedExecutor(tmp_path, "me")
    executor.observer = Announcements()
    worker = worker_over(executor)
    try_claim = worker.board.try_claim

    def recorded_elsewhere_first(run_id: str) -> bool:
        if run_id == raced and not executor.ran:
            seed(tmp_path, "other", raced, "failed", 30)
        return try_claim(run_id)

    worker.board.try_claim = recorded_elsewhere_first
    outcome = run_with_deadline(worker)
    mine = [runs[name] for name in ("failed_after_ok", "failed_again_elsewhere", "no_record")]
    assert executor.ran == mine and [record.run_id for record in outcome.written] == mine
    expected: list[tuple] = [("sweep", 6, 2, 4), ("progress", 2, 6, 0)]
    for position, run_id in enumerate(mine):
        expected += [("start", run_id, position, 4), ("end", run_id, "failed")]
        expected.append(("progress", 4 + position, 6, position + 1))  # the raced run counts as done
    assert executor.observer.calls == expected
    assert list((tmp_path / "claims").glob("*.claim")) == [] and worker.board.held() == []


def test_a_run_whose_claim_is_taken_over_is_stopped_at_its_next_epoch_and_its_result_dropped(tmp_path):
    """While the run trains, another worker replaces its claim: the heartbeat notices, the run's next
    epoch raises RunLost naming the run (the observer never sees that epoch, nor the run's end), and the
    worker drops its result with a note."""
    quick = QueueConfig(lease_seconds=5.0, heartbeat_seconds=0.02, poll_seconds=0.01)
    planned = planned_runs()[:1]
    run_id = planned[0].run_id
    board = ClaimBoard(tmp_path, "me", quick)
    stopped: list[str] = []
    notes: list[str] = []
    guards: list = []

    def taken_over_while_training() -> None:
        now = time.time()
        board.path(run_id).write_bytes(
            Claim(run_id, "other", "node-b", "b", 1, None, now, now, "n9").encode()
        )
        deadline = time.monotonic() + 5.0
        while not notes and time.monotonic() < deadline:  # the heartbeat's note comes after it marks the loss
            time.sleep(0.01)
        guards.append(executor.observer)
        try:
            executor.observer.epoch_finished(planned[0], {"epoch": 1})
        except RunLost as lost:
            stopped.append(str(lost))
        seed(tmp_path, "other", run_id, "ok", 40)  # the other worker finishes it

    executor = ScriptedExecutor(tmp_path, "me", {run_id: taken_over_while_training})
    executor.config = SimpleNamespace(queue=quick)
    executor.observer = Announcements()
    outcome = run_with_deadline(QueueWorker(executor, planned, board, {}, warn=notes.append))
    assert stopped == [f"run {run_id} was taken over by another worker"]
    assert [call[0] for call in executor.observer.calls] == ["sweep", "progress", "start", "progress"]
    dropped = f"run {run_id} was taken over by another worker; this worker's result is dropped"
    taken = f"claim {run_id}.claim was taken over by another worker"
    assert outcome.written == [] and notes == [taken, dropped]
    assert guards[0]._heartbeat.lost == set()  # forgotten once dropped: a later claim of it must not stop


def test_a_result_is_dropped_when_its_claim_changed_before_any_heartbeat(tmp_path):
    """Replaced while the run trains, unseen by the heartbeat (60 s): the claim file decides, and drops it."""
    quick = QueueConfig(lease_seconds=5.0, heartbeat_seconds=60.0, poll_seconds=0.01)
    planned = planned_runs()[:1]
    run_id = planned[0].run_id
    board = ClaimBoard(tmp_path, "me", quick)
    release = board.release

    def replaced_while_training() -> None:
        now = time.time()
        board.path(run_id).write_bytes(
            Claim(run_id, "other", "node-b", "b", 1, None, now, now, "n9").encode()
        )

    def release_then_the_other_records(name: str) -> None:
        release(name)
        seed(tmp_path, "other", name, "ok", 40)

    board.release = release_then_the_other_records
    executor = ScriptedExecutor(tmp_path, "me", {run_id: replaced_while_training})
    executor.config = SimpleNamespace(queue=quick)
    notes: list[str] = []
    outcome = run_with_deadline(QueueWorker(executor, planned, board, {}, warn=notes.append))
    assert outcome.written == [] and not shard_path(tmp_path, "me").exists()
    assert notes == [f"run {run_id} was taken over by another worker; this worker's result is dropped"]
