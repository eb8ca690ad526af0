"""Claims, the worker loop and sharded records, without training: exclusive claims, leases, dead holders,
takeovers raced by threads and processes, garbage and clocks from the future, unwritable folders."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

import bcbench.sweep.execute
import bcbench.sweep.queue
from bcbench.config import QueueConfig, load_config
from bcbench.errors import BcbenchError, ConfigError
from bcbench.record import RunRecord
from bcbench.record.store import append_record, consolidate, read_sweep, shard_path
from bcbench.sweep import plan_runs, run_sweep
from bcbench.sweep.identity import HOST_ENV, host_key, new_worker_id, process_gone, process_state
from bcbench.sweep.progress import RichObserver, SilentObserver
from bcbench.sweep.queue import Claim, ClaimBoard, Judgement, check_claims_folder
from bcbench.sweep.worker import Heartbeat, LostGuard, QueueWorker, RunLost
from tests.helpers import assert_one_line_error, quiet_console, tiny_config

LEASE = QueueConfig(lease_seconds=5.0, heartbeat_seconds=1.0, poll_seconds=0.01)


class Clock:
    """A settable clock standing in for time.time or time.monotonic."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def board(
    directory: Path, name: str = "", wall=None, monotonic=None, settings=LEASE, notes=None
) -> ClaimBoard:
    """A board for worker ``name``; notes (one-line warnings) are appended to ``notes``."""
    sink = notes.append if notes is not None else None
    return ClaimBoard(
        directory, name or new_worker_id(), settings, sink, wall or time.time, monotonic or time.monotonic
    )


def elsewhere(directory: Path, monkeypatch, run_id: str, heartbeat: float) -> Claim:
    """A claim written by a worker on another machine (its pid means nothing here)."""
    with monkeypatch.context() as patch:
        patch.setenv(HOST_ENV, "node-b")
        other = board(directory, "node-b-worker", wall=Clock(heartbeat))
        assert other.try_claim(run_id)
    return Claim.decode(other.path(run_id).read_bytes())


def test_a_claim_is_exclusive_until_released(tmp_path):
    first, second = board(tmp_path, "a"), board(tmp_path, "b")
    assert first.try_claim("run-1")
    assert not second.try_claim("run-1")  # held by a live process of this host
    assert second.judge("run-1").state == "live"
    claim = json.loads(first.path("run-1").read_text())
    assert {"worker", "host", "pid", "pid_start", "started", "heartbeat", "nonce"} <= set(claim)
    assert claim["worker"] == "a"
    first.release("run-1")
    assert not first.path("run-1").exists()
    assert second.try_claim("run-1")


def test_a_claim_of_another_machine_is_stale_after_the_lease_and_its_holder_learns_it_lost(
    tmp_path, monkeypatch
):
    wall = Clock()
    with monkeypatch.context() as patch:
        patch.setenv(HOST_ENV, "node-b")
        holder = board(tmp_path, "holder", wall=wall)
        assert holder.try_claim("run-1")
    taker = board(tmp_path, "taker", wall=wall)
    wall.now += LEASE.lease_seconds - 1
    assert not taker.try_claim("run-1")  # young enough
    assert holder.refresh("run-1")  # a heartbeat renews it
    wall.now += LEASE.lease_seconds - 1
    assert not taker.try_claim("run-1")
    wall.now += 2  # no heartbeat for more than a lease
    assert taker.try_claim("run-1")
    assert Claim.decode(taker.path("run-1").read_bytes()).worker == "taker"
    assert not holder.refresh("run-1") and not holder.holds("run-1")
    assert taker.holds("run-1")
    assert not list(tmp_path.joinpath("claims").glob("*takeover*"))  # the marker is cleaned up


def test_a_claim_whose_process_on_this_host_has_ended_is_stale_at_once(tmp_path):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(ended.stdout)
    dead = Claim("run-1", "w", "here", host_key(), pid, None, time.time(), time.time(), "n1")
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "run-1.claim").write_bytes(dead.encode())
    notes: list[str] = []
    assert board(tmp_path, notes=notes).try_claim("run-1")  # the lease (5 s) was not waited for
    assert any(f"process {pid}" in note and "has ended" in note for note in notes)


def test_a_dead_pid_of_another_machine_is_live_until_its_lease_passes(tmp_path):
    """The pid of a claim from node-b names a process of node-b: that no such process runs here says
    nothing, so only the lease can make the claim stale (and the takeover says so)."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(ended.stdout)
    assert process_gone(pid, None)  # dead here
    wall, notes = Clock(), []
    claim = Claim("run-1", "w", "node-b", "node-b", pid, None, wall.now, wall.now, "n1")
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "run-1.claim").write_bytes(claim.encode())
    reader = board(tmp_path, "here", wall=wall, notes=notes)
    assert reader.judge("run-1").state == "live"
    assert not reader.try_claim("run-1")
    wall.now += LEASE.lease_seconds - 1
    assert reader.judge("run-1").state == "live" and not reader.try_claim("run-1")
    wall.now += 2
    judgement = reader.judge("run-1")
    assert judgement.state == "stale" and judgement.reason == "its heartbeat is 6 s old"
    assert reader.try_claim("run-1")
    assert notes == [f"took over run-1.claim from worker w (pid {pid} on node-b): its heartbeat is 6 s old"]


def test_a_reused_pid_with_another_start_time_is_stale_but_the_same_process_is_live(tmp_path):
    import os

    me = os.getpid()
    _, started = process_state(me)
    assert not process_gone(me, started)
    assert process_gone(me, str(int(started) + 1))  # same pid, another process
    reused = Claim("run-1", "w", "here", host_key(), me, str(int(started) + 1), time.time(), time.time(), "n")
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "run-1.claim").write_bytes(reused.encode())
    assert board(tmp_path).try_claim("run-1")


def _race_in_thread(directory: Path, name: str, start: threading.Barrier, won: list[str]) -> None:
    contender = board(directory, name)
    start.wait()
    if contender.try_claim("run-1"):
        won.append(name)


@pytest.mark.parametrize("round_", range(5))
def test_threads_racing_to_take_over_a_stale_claim_give_exactly_one_winner(tmp_path, monkeypatch, round_):
    elsewhere(tmp_path, monkeypatch, "run-1", heartbeat=time.time() - 3600)
    start, won = threading.Barrier(8), []
    threads = [
        threading.Thread(target=_race_in_thread, args=(tmp_path, f"t{i}", start, won)) for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert Claim.decode((tmp_path / "claims" / "run-1.claim").read_bytes()).worker == won[0]


def _race_in_process(directory: str, name: str, start, finish, results) -> None:
    contender = board(Path(directory), name)
    start.wait()
    results.put((name, contender.try_claim("run-1")))
    finish.wait()  # stay alive until all have tried: a winner that exited would leave a dead claim


@pytest.mark.slow  # over 1 s: starts real processes
def test_processes_racing_to_take_over_a_stale_claim_give_exactly_one_winner(tmp_path, monkeypatch):
    context = multiprocessing.get_context("fork")
    for round_ in range(4):
        directory = tmp_path / str(round_)
        elsewhere(directory, monkeypatch, "run-1", heartbeat=time.time() - 3600)
        start, finish, results = context.Barrier(4), context.Barrier(4), context.Queue()
        processes = [
            context.Process(target=_race_in_process, args=(str(directory), f"p{i}", start, finish, results))
            for i in range(4)
        ]
        for process in processes:
            process.start()
        outcomes = dict(results.get(timeout=30) for _ in processes)
        for process in processes:
            process.join(timeout=30)
        winners = [name for name, won in outcomes.items() if won]
        assert len(winners) == 1, outcomes
        assert Claim.decode((directory / "claims" / "run-1.claim").read_bytes()).worker == winners[0]


@pytest.mark.parametrize("content", [b"", b'{"run_id": "run-1", "work', b"\x00garbage\xff"])
def test_garbage_in_a_claim_holds_the_run_for_a_lease_with_one_clear_note(tmp_path, content):
    (tmp_path / "claims").mkdir()
    path = tmp_path / "claims" / "run-1.claim"
    path.write_bytes(content)
    monotonic, notes = Clock(), []
    reader = board(tmp_path, monotonic=monotonic, notes=notes)
    assert not reader.try_claim("run-1")
    monotonic.now += LEASE.lease_seconds - 0.5
    assert not reader.try_claim("run-1")
    assert len(notes) == 1 and str(path) in notes[0] and "not a bcbench claim" in notes[0]
    monotonic.now += 1
    assert reader.try_claim("run-1")
    assert Claim.decode(path.read_bytes()).run_id == "run-1"
    assert "took over run-1.claim from an unreadable claim" in notes[-1]


def test_each_unreadable_claim_is_judged_by_its_own_file_and_is_stale_after_exactly_a_lease(tmp_path):
    """Two garbage claims judged in turn: each is live (no claim, its bytes), noted once, and stale once its
    own content has stayed unchanged for exactly a lease."""
    (tmp_path / "claims").mkdir()
    contents = {"run-1": b"", "run-2": b"\x00garbage\xff"}
    for run_id, raw in contents.items():
        (tmp_path / "claims" / f"{run_id}.claim").write_bytes(raw)
    monotonic, notes = Clock(), []
    reader = board(tmp_path, monotonic=monotonic, notes=notes)
    for run_id, raw in contents.items():
        assert reader.judge(run_id) == Judgement("live", None, raw)
    assert [note.split(" is empty")[0] for note in notes] == [
        f"claim file {reader.path(run_id)}" for run_id in contents
    ]
    monotonic.now += LEASE.lease_seconds
    for run_id, raw in contents.items():
        assert reader.judge(run_id) == Judgement(
            "stale", None, raw, "it is not a readable claim and stayed so 5 s"
        )
    assert len(notes) == 2


def test_a_heartbeat_from_the_future_cannot_keep_a_dead_claim_alive(tmp_path, monkeypatch):
    elsewhere(tmp_path, monkeypatch, "run-1", heartbeat=time.time() + 3600)  # a clock an hour ahead
    monotonic, notes = Clock(), []
    reader = board(tmp_path, monotonic=monotonic, notes=notes)
    assert not reader.try_claim("run-1")
    assert len(notes) == 1 and "in the future" in notes[0] and "node-b" in notes[0]
    monotonic.now += LEASE.lease_seconds + 0.1  # unchanged for a lease, by this reader's own clock
    assert reader.try_claim("run-1")
    assert "has not changed" in notes[-1]


def test_a_future_heartbeat_that_keeps_changing_stays_live(tmp_path, monkeypatch):
    wall = Clock(time.time() + 3600)
    with monkeypatch.context() as patch:
        patch.setenv(HOST_ENV, "node-b")
        holder = board(tmp_path, "holder", wall=wall)
        assert holder.try_claim("run-1")
    monotonic = Clock()
    reader = board(tmp_path, monotonic=monotonic)
    for _ in range(4):
        assert not reader.try_claim("run-1")
        monotonic.now += LEASE.lease_seconds * 0.6
        wall.now += LEASE.heartbeat_seconds
        assert holder.refresh("run-1")
    assert not reader.try_claim("run-1")


def test_an_unwritable_claims_folder_is_one_clear_error(tmp_path):
    (tmp_path / "claims").write_text("a file where the folder should be")
    with pytest.raises(ConfigError) as error:
        check_claims_folder(tmp_path)
    assert_one_line_error(error, f"claims folder {tmp_path / 'claims'} cannot be written", "output_dir")
    with pytest.raises(BcbenchError) as error:
        board(tmp_path).try_claim("run-1")
    assert_one_line_error(error, "cannot claim run run-1", "no run is lost")


def test_the_heartbeat_renews_held_claims_and_notices_a_takeover(tmp_path, monkeypatch):
    wall = Clock()
    with monkeypatch.context() as patch:
        patch.setenv(HOST_ENV, "node-b")
        holder = board(tmp_path, "holder", wall=wall)
    assert holder.try_claim("run-1")
    heartbeat = Heartbeat(holder, interval=1.0)
    wall.now += 3
    heartbeat.beat()
    assert Claim.decode(holder.path("run-1").read_bytes()).heartbeat == wall.now
    wall.now += LEASE.lease_seconds + 1
    assert board(tmp_path, "taker", wall=wall).try_claim("run-1")
    heartbeat.beat()
    assert heartbeat.lost == {"run-1"}


def test_the_heartbeat_thread_beats_every_interval_and_stops_on_exit(tmp_path):
    """Inside ``with``, the background thread refreshes held claims every interval (here 10 ms); on exit
    it stops and is waited for, at most max(5 s, interval)."""
    wall = Clock()
    holder = board(tmp_path, "holder", wall=wall)
    assert holder.try_claim("run-1")
    wall.now += 3
    with Heartbeat(holder, interval=0.01) as heartbeat:
        deadline = time.monotonic() + 5
        while Claim.decode(holder.path("run-1").read_bytes()).heartbeat != wall.now:
            assert time.monotonic() < deadline, "the heartbeat thread never refreshed the claim"
            time.sleep(0.01)
    assert not heartbeat._thread.is_alive()
    waits: list[float | None] = []
    for interval, bound in ((1.0, 5.0), (7.0, 7.0)):
        quiet = Heartbeat(holder, interval=interval)
        quiet._thread = SimpleNamespace(join=lambda timeout=None: waits.append(timeout))
        quiet.__exit__(None, None, None)
        assert waits[-1] == bound


def test_release_all_gives_back_every_held_claim(tmp_path):
    holder = board(tmp_path, "holder")
    assert holder.try_claim("run-1") and holder.try_claim("run-2")
    assert sorted(holder.release_all()) == ["run-1", "run-2"] and holder.held() == []
    assert not list((tmp_path / "claims").glob("*.claim"))
    assert holder.release_all() == []


def test_the_lost_guard_stops_a_run_whose_claim_was_taken_over_and_passes_the_rest_on(tmp_path):
    seen: list = []
    inner = SimpleNamespace(
        epoch_finished=lambda planned, entry: seen.append((planned, entry)), label="inner"
    )
    heartbeat = Heartbeat(board(tmp_path), interval=1.0)
    guard = LostGuard(inner, heartbeat, "run-1")
    planned = SimpleNamespace(run_id="run-1")
    guard.epoch_finished(planned, {"epoch": 1})
    assert seen == [(planned, {"epoch": 1})] and guard.label == "inner"  # other calls go to the observer
    heartbeat.lost.add("run-1")
    with pytest.raises(RunLost, match="run run-1 was taken over by another worker"):
        guard.epoch_finished(planned, {"epoch": 2})
    assert seen == [(planned, {"epoch": 1})]


def test_a_run_nobody_claimed_is_free_and_refreshing_a_released_run_loses_nothing(tmp_path):
    assert board(tmp_path, "reader").judge("run-1") == Judgement("free")
    holder = board(tmp_path, "holder")
    assert holder.try_claim("run-1")
    holder.release("run-1")
    assert holder.refresh("run-1") is True


def dead_pid() -> int:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(ended.stdout)


def test_every_judgement_carries_the_claim_its_bytes_and_an_exact_reason(tmp_path):
    """Live, stale by age, by an unchanged heartbeat and by a dead process of this host, each with its claim
    and bytes. Boundaries: a heartbeat exactly a lease old is live, one unchanged for exactly a lease is
    stale, one exactly heartbeat_seconds ahead draws no note; each host ahead is noted once."""
    wall, monotonic, notes = Clock(), Clock(), []
    (tmp_path / "claims").mkdir()

    def write(run_id: str, host: str, key: str, pid: int, heartbeat: float) -> tuple[Claim, bytes]:
        claim = Claim(run_id, "w", host, key, pid, None, heartbeat, heartbeat, f"n-{run_id}")
        (tmp_path / "claims" / f"{run_id}.claim").write_bytes(claim.encode())
        return claim, claim.encode()

    dead = write("run-0", "here", host_key(), dead_pid(), wall.now)
    aged = write("run-1", "node-b", "node-b", 1, wall.now)
    ahead = write("run-2", "node-c", "node-c", 1, wall.now + 3600)
    further = write("run-3", "node-d", "node-d", 1, wall.now + 7200)
    edge = write("run-4", "node-e", "node-e", 1, wall.now + LEASE.heartbeat_seconds)
    reader = board(tmp_path, "here", wall=wall, monotonic=monotonic, notes=notes)
    assert reader.judge("run-0") == Judgement("stale", *dead, f"its process {dead[0].pid} on here has ended")
    for claim, raw in (aged, ahead, further, edge):
        assert reader.judge(claim.run_id) == Judgement("live", claim, raw)
    assert notes == [
        f"claim file {reader.path(run_id)} has a heartbeat {seconds} s in the future: the clock of {host} "
        "runs ahead of this host's; its claims are judged by whether their heartbeat still changes"
        for run_id, seconds, host in (("run-2", 3600, "node-c"), ("run-3", 7200, "node-d"))
    ]
    wall.now += LEASE.lease_seconds
    assert reader.judge("run-1") == Judgement("live", *aged)
    wall.now += 1
    assert reader.judge("run-1") == Judgement("stale", *aged, "its heartbeat is 6 s old")
    monotonic.now += LEASE.lease_seconds
    assert reader.judge("run-2") == Judgement("stale", *ahead, "its heartbeat has not changed for 5 s")
    assert len(notes) == 2


def test_a_claim_released_between_the_create_and_the_read_is_not_taken(tmp_path, monkeypatch):
    """The create fails because the claim exists, then its holder releases it before it is read: nothing
    is held (the next pass may claim it)."""
    reader = board(tmp_path)

    def exists_then_released(path: Path, content: bytes) -> None:
        raise FileExistsError(path)

    monkeypatch.setattr(reader, "_create", exists_then_released)
    assert not reader.try_claim("run-1") and not reader.holds("run-1")


def test_a_stale_claim_refreshed_while_its_taker_makes_its_marker_is_not_taken(tmp_path, monkeypatch):
    """Judged stale, then rewritten (refreshed, replaced) before the taker reads it again: it backs off
    (False, nothing held), the refreshed claim stays as its holder wrote it and the marker is gone."""
    (tmp_path / "claims").mkdir()
    path = tmp_path / "claims" / "run-1.claim"
    dead = Claim("run-1", "w", "here", host_key(), dead_pid(), None, time.time(), time.time(), "n1")
    path.write_bytes(dead.encode())
    refreshed = Claim("run-1", "w", "here", host_key(), os.getpid(), None, time.time(), time.time() + 1, "n2")
    taker, markers = board(tmp_path, "taker"), []
    create_marker = taker._create_marker

    def marker_then_refresh(marker: Path) -> bool:
        made = create_marker(marker)
        mark = Claim.decode(marker.read_bytes())  # the taker's own claim, on the marker's name
        markers.append((marker.name, mark.run_id, mark.worker, mark.pid))
        path.write_bytes(refreshed.encode())
        return made

    monkeypatch.setattr(taker, "_create_marker", marker_then_refresh)
    assert taker.try_claim("run-1") is False and not taker.holds("run-1") and taker.held() == []
    assert path.read_bytes() == refreshed.encode()
    assert sorted(p.name for p in (tmp_path / "claims").iterdir()) == ["run-1.claim"]
    name = "run-1.claim.takeover-n1"  # named by the stale claim's nonce
    assert markers == [(name, name, "taker", os.getpid())]


def test_a_takeover_survives_its_marker_being_removed_meanwhile(tmp_path, monkeypatch):
    """Another worker may remove this taker's marker (abandoned after a lease) while it replaces the claim:
    the takeover still completes."""
    (tmp_path / "claims").mkdir()
    dead = Claim("run-1", "w", "here", host_key(), dead_pid(), None, time.time(), time.time(), "n1")
    (tmp_path / "claims" / "run-1.claim").write_bytes(dead.encode())
    taker = board(tmp_path, "taker")
    replace = taker._replace

    def replace_after_the_marker_went(path: Path, claim: Claim) -> None:
        for marker in path.parent.glob("*.takeover-*"):
            marker.unlink()
        replace(path, claim)

    monkeypatch.setattr(taker, "_replace", replace_after_the_marker_went)
    assert taker.try_claim("run-1") and taker.holds("run-1")
    assert Claim.decode(taker.path("run-1").read_bytes()).worker == "taker"


def test_the_takeover_marker_of_an_unreadable_claim_is_named_by_its_content(tmp_path):
    """Workers agree on one marker per stale claim: an unreadable one's is "x" and the first 16 hex digits
    of the SHA-256 of its bytes, so a live taker's marker of that name keeps others off."""
    (tmp_path / "claims").mkdir()
    raw = b"\x00garbage\xff"
    (tmp_path / "claims" / "run-1.claim").write_bytes(raw)
    me, (_, started) = os.getpid(), process_state(os.getpid())
    marker = tmp_path / "claims" / f"run-1.claim.takeover-x{hashlib.sha256(raw).hexdigest()[:16]}"
    marker.write_bytes(Claim("m", "w", "here", host_key(), me, started, 0.0, 0.0, "t").encode())
    monotonic = Clock()
    reader = board(tmp_path, monotonic=monotonic)
    assert not reader.try_claim("run-1")
    monotonic.now += LEASE.lease_seconds  # the claim is stale; its marker is new to this reader
    assert reader.judge("run-1").state == "stale"
    assert not reader.try_claim("run-1") and marker.exists()


def abandoned_marker(directory: Path, monkeypatch, run_id: str, taker: Claim) -> Path:
    """A stale claim of ``run_id`` (node-b, silent for an hour) and a takeover marker its taker left."""
    claim = elsewhere(directory, monkeypatch, run_id, heartbeat=time.time() - 3600)
    marker = directory / "claims" / f"{run_id}.claim.takeover-{claim.nonce}"
    marker.write_bytes(taker.encode())
    return marker


def test_an_abandoned_marker_removed_by_another_worker_meanwhile_is_no_error(tmp_path, monkeypatch):
    """Two workers may judge the same marker abandoned; the one that finds it gone when it removes it goes
    on (no error) and claims the run on its next pass."""
    taker = Claim("m", "w", "here", host_key(), dead_pid(), None, 0.0, 0.0, "t1")
    marker = abandoned_marker(tmp_path, monkeypatch, "run-1", taker)
    read = bcbench.sweep.queue._read

    def read_then_another_removes_it(path: Path) -> bytes | None:
        raw = read(path)
        if ".takeover-" in path.name:
            path.unlink(missing_ok=True)
        return raw

    monkeypatch.setattr(bcbench.sweep.queue, "_read", read_then_another_removes_it)
    second = board(tmp_path, "second")
    assert not second.try_claim("run-1") and not marker.exists()
    assert second.try_claim("run-1")


def test_a_takeover_marker_of_a_taker_gone_from_this_host_is_removed_at_once(tmp_path, monkeypatch):
    import os

    me, (_, started) = os.getpid(), process_state(os.getpid())
    for run_id, taker in (
        ("run-1", Claim("m", "w", "here", host_key(), dead_pid(), None, 0.0, 0.0, "t1")),
        ("run-2", Claim("m", "w", "here", host_key(), me, str(int(started) + 1), 0.0, 0.0, "t2")),  # reused
    ):
        marker, notes = abandoned_marker(tmp_path, monkeypatch, run_id, taker), []
        taker_board = board(tmp_path, "taker", notes=notes)
        assert not taker_board.try_claim(run_id)  # someone was taking it over
        assert notes == [f"removed abandoned takeover marker {marker}"] and not marker.exists()
        assert taker_board.try_claim(run_id)


def test_a_takeover_marker_of_another_machine_is_removed_once_unchanged_for_a_lease(tmp_path, monkeypatch):
    """Its taker's pid means nothing here (dead here, maybe alive on node-b): only the lease, measured on
    this reader's clock for each marker on its own, frees the claims."""
    markers = {
        run_id: abandoned_marker(
            tmp_path,
            monkeypatch,
            run_id,
            Claim("m", "w", "node-b", "node-b", dead_pid(), None, 0.0, 0.0, nonce),
        )
        for run_id, nonce in (("run-1", "t1"), ("run-2", "t2"))
    }
    monotonic, notes = Clock(), []
    taker = board(tmp_path, "taker", monotonic=monotonic, notes=notes)
    for step in (LEASE.lease_seconds - 0.5, 0.5, 0.0):  # first look, half a second short, exactly a lease
        assert not notes and markers["run-1"].exists() and markers["run-2"].exists()
        assert not taker.try_claim("run-1") and not taker.try_claim("run-2")
        monotonic.now += step
    assert notes == [f"removed abandoned takeover marker {markers[run]}" for run in ("run-1", "run-2")]
    assert taker.try_claim("run-1") and taker.try_claim("run-2")


def test_checking_the_claims_folder_creates_missing_parents_and_may_run_twice(tmp_path):
    sweep = tmp_path / "results" / "new-sweep"
    check_claims_folder(sweep)
    check_claims_folder(sweep)
    assert (sweep / "claims").is_dir() and not list((sweep / "claims").iterdir())


def test_a_heartbeat_that_cannot_refresh_one_claim_still_refreshes_the_others(tmp_path):
    wall, notes = Clock(), []
    holder = board(tmp_path, "holder", wall=wall)
    assert holder.try_claim("run-1") and holder.try_claim("run-2") and holder.try_claim("run-3")
    real_refresh = holder.refresh

    def flaky(run_id: str) -> bool:
        if run_id == "run-1":
            raise OSError("stale NFS handle")
        return run_id != "run-2" and real_refresh(run_id)  # run-2: taken over

    holder.refresh = flaky
    wall.now += 2
    Heartbeat(holder, interval=1.0, warn=notes.append).beat()
    assert notes == [
        f"could not refresh claim {holder.path('run-1')} (stale NFS handle); retrying",
        "claim run-2.claim was taken over by another worker",
    ]
    assert Claim.decode(holder.path("run-3").read_bytes()).heartbeat == wall.now


def test_a_claim_removed_under_its_holder_is_created_again(tmp_path):
    holder, other = board(tmp_path, "holder"), board(tmp_path, "other")
    assert holder.try_claim("run-1")
    holder.path("run-1").unlink()
    assert holder.holds("run-1") and holder.path("run-1").exists()
    assert not other.try_claim("run-1")


def record(run_id: str, status: str = "ok", finished: str = "2025-01-01T00:00:00+00:00", **extra) -> dict:
    return {"run_id": run_id, "model": "m", "status": status, "finished_at": finished, **extra}


def test_shards_and_a_legacy_runs_jsonl_merge_with_torn_last_lines_and_consolidate_once(tmp_path):
    legacy = tmp_path / "runs.jsonl"
    append_record(legacy, record("a", "failed", "2025-01-01T00:00:01+00:00"))
    append_record(legacy, record("b", finished="2025-01-01T00:00:02+00:00"))
    one, two = shard_path(tmp_path, "w1"), shard_path(tmp_path, "w2")
    append_record(one, record("a", finished="2025-01-01T00:00:05+00:00", worker="w1"))
    append_record(two, record("c", finished="2025-01-01T00:00:03+00:00", worker="w2"))
    for shard in (one, two):
        with open(shard, "a") as handle:
            handle.write('{"run_id": "d", "sta')  # each worker killed mid-write
    loaded = read_sweep(tmp_path)
    assert [(r.run_id, r.status) for r in loaded.newest()] == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    assert loaded.bad == {str(one): [2], str(two): [2]}
    assert loaded.sources == [legacy, one, two]

    consolidate(tmp_path)
    lines = [json.loads(line) for line in legacy.read_text().splitlines()]
    assert [(r["run_id"], r["status"]) for r in lines] == [
        ("a", "failed"),
        ("b", "ok"),
        ("c", "ok"),
        ("a", "ok"),
    ]
    again = read_sweep(tmp_path)
    assert len(again.records) == 4  # a line in runs.jsonl and in a shard counts once
    before = legacy.read_bytes()
    consolidate(tmp_path)
    assert legacy.read_bytes() == before


def test_consolidating_shards_alone_writes_runs_jsonl_oldest_first(tmp_path):
    append_record(shard_path(tmp_path, "w1"), record("b", finished="2025-01-01T00:00:02+00:00"))
    append_record(shard_path(tmp_path, "w2"), record("a", finished="2025-01-01T00:00:01+00:00"))
    legacy = consolidate(tmp_path)
    assert legacy == tmp_path / "runs.jsonl"
    assert [json.loads(line)["run_id"] for line in legacy.read_text().splitlines()] == ["a", "b"]


def test_a_line_in_two_shards_is_consolidated_once_and_a_record_without_finish_time_first(tmp_path):
    """The same record line twice (a shard copied by hand, say) is one line of runs.jsonl; a record
    without a finish time sorts as the oldest."""
    for shard in ("w1", "w2"):
        append_record(shard_path(tmp_path, shard), record("a"))
    append_record(shard_path(tmp_path, "w3"), record("unfinished", finished=None))
    lines = consolidate(tmp_path).read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == ["unfinished", "a"]


def fake_sweep(
    directory: Path, worker: str, ran: list[str], seconds: float = 0.0, **queue
) -> SimpleNamespace:
    """What QueueWorker needs of a RunExecutor, with run_one returning an ok record at once."""
    config = SimpleNamespace(
        queue=QueueConfig(**{"lease_seconds": 1.0, "heartbeat_seconds": 0.2, "poll_seconds": 0.02, **queue})
    )

    def run_one(item):
        ran.append(item.run_id)
        time.sleep(seconds)
        return RunRecord(run_id=item.run_id, model=item.spec.model, status="ok", finished_at="x")

    sweep = SimpleNamespace(
        config=config, directory=directory, observer=SilentObserver(), worker_id=worker, run_one=run_one
    )
    sweep.keep = lambda r: append_record(shard_path(directory, worker), {**r.to_json(), "worker": worker})
    return sweep


def queue_worker(directory: Path, worker: str, ran: list[str], cost=None, **queue) -> QueueWorker:
    planned = plan_runs(load_config(None, ["models=[simple_cnn,resnet18]", "seeds=[0,1,2]"]))
    sweep = fake_sweep(directory, worker, ran, **queue)
    claims = ClaimBoard(directory, worker, sweep.config.queue)
    return QueueWorker(sweep, planned, claims, cost or {}, warn=lambda message: None)


def test_workers_take_the_longest_expected_runs_first(tmp_path):
    ran: list[str] = []
    worker = queue_worker(tmp_path, "w", ran, cost={"resnet18": 30.0, "simple_cnn": 2.0})
    assert [p.spec.model for p in worker.order] == ["resnet18"] * 3 + ["simple_cnn"] * 3
    outcome = worker.run()
    assert ran == [p.run_id for p in worker.order] and outcome.last
    assert not list((tmp_path / "claims").glob("*.claim"))


def test_two_workers_in_threads_record_each_run_once_and_one_of_them_completes_the_sweep(tmp_path):
    ran_a, ran_b = [], []
    workers = [queue_worker(tmp_path, "a", ran_a), queue_worker(tmp_path, "b", ran_b)]
    for worker in workers:
        worker.executor.run_one = _slowed(worker.executor.run_one, 0.05)
    outcomes = []
    threads = [threading.Thread(target=lambda w=w: outcomes.append(w.run())) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ran_a + ran_b) == sorted(p.run_id for p in workers[0].planned)
    assert ran_a and ran_b
    assert any(outcome.last for outcome in outcomes)
    assert len(read_sweep(tmp_path).records) == 6


def _slowed(function, seconds):
    def slowed(*args):
        time.sleep(seconds)
        return function(*args)

    return slowed


def test_a_worker_waits_for_a_live_claim_then_takes_it_over_once_its_lease_runs_out(tmp_path, monkeypatch):
    ran: list[str] = []
    worker = queue_worker(tmp_path, "w", ran, lease_seconds=0.5, heartbeat_seconds=0.1, poll_seconds=0.05)
    held = worker.order[0].run_id
    elsewhere(tmp_path, monkeypatch, held, heartbeat=time.time())  # a worker elsewhere, then silent
    started = time.monotonic()
    worker.run()
    assert sorted(ran) == sorted(p.run_id for p in worker.planned)
    assert ran[-1] == held  # the others first, this one once its lease ran out
    assert time.monotonic() - started >= 0.5


def test_a_run_recorded_elsewhere_while_claiming_is_not_run_again(tmp_path):
    ran: list[str] = []
    worker = queue_worker(tmp_path, "w", ran)
    first = worker.order[0]
    real_try_claim = worker.board.try_claim

    def recorded_meanwhile(run_id):
        if run_id == first.run_id:
            append_record(shard_path(tmp_path, "other"), record(run_id))
        return real_try_claim(run_id)

    worker.board.try_claim = recorded_meanwhile
    worker.run()
    assert first.run_id not in ran and len(ran) == 5


def test_progress_shows_the_whole_sweep():
    console = Console(record=True, width=200, force_terminal=False)
    observer = RichObserver(console, label="gpu0.1")
    observer.sweep_started(total=12, done=4, todo=8)
    observer.sweep_progress(done=9, total=12, mine=2)
    task = observer.progress.tasks[0]
    assert (task.completed, task.total, task.fields["status"]) == (9, 12, "2 by this worker")
    assert "gpu0.1 4 of 12 runs done, running 8" in console.export_text()


def test_the_bars_render_through_two_runs_with_their_eta():
    """Every column's field survives resetting the epoch bar for the next run (a reset replaces the
    task's fields: a field it dropped broke the first render of a real sweep's second run)."""

    console = Console(record=True, width=160, force_terminal=True, file=io.StringIO())
    planned = SimpleNamespace(spec=SimpleNamespace(model="simple_cnn", seed=0), config=tiny_train(2))
    with RichObserver(console) as observer:
        observer.sweep_started(total=2, done=0, todo=2)
        for seed in (0, 1):
            planned.spec.seed = seed
            observer.run_started(planned, seed, 2)
            observer.progress.refresh()  # renders every column of every task
            observer.sweep_progress(done=seed + 1, total=2, mine=seed + 1)
    assert observer.progress.tasks[1].fields == {"status": "", "eta": ""}


def tiny_train(epochs):

    return SimpleNamespace(train=SimpleNamespace(epochs=epochs))


def test_an_unwritable_claims_folder_stops_the_sweep_before_training(synthetic_root, tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(bcbench.sweep.execute, "train_run", lambda *a, **k: trained.append(1))
    config = tiny_config(synthetic_root, tmp_path, "models=[simple_cnn]", "seeds=[0]")
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "claims").write_text("not a folder")
    with pytest.raises(ConfigError, match="claims folder .* cannot be written"):
        run_sweep(config, console=quiet_console())
    assert not trained


def test_a_stale_claim_of_a_recorded_run_is_removed_and_a_live_one_kept(tmp_path, monkeypatch):
    """A worker killed after its record was durable but before its claim was removed leaves a claim
    that nobody would take over (its run is done): the next worker to leave removes it."""
    ran: list[str] = []
    worker = queue_worker(tmp_path, "w", ran)
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_run, live_run = worker.order[0].run_id, worker.order[1].run_id
    dead = Claim(
        dead_run, "gone", "here", host_key(), int(ended.stdout), None, time.time(), time.time(), "n1"
    )
    (tmp_path / "claims").mkdir()
    worker.board.path(dead_run).write_bytes(dead.encode())
    elsewhere(tmp_path, monkeypatch, live_run, heartbeat=time.time())  # live: a worker on node-b
    for run_id in (dead_run, live_run):
        append_record(shard_path(tmp_path, "other"), record(run_id))
    notes: list[str] = []
    worker.warn = notes.append
    worker.run()
    assert dead_run not in ran and live_run not in ran and len(ran) == 4
    assert not worker.board.path(dead_run).exists() and worker.board.path(live_run).exists()
    assert f"removed the stale claim of {dead_run}: its run was already recorded" in notes
