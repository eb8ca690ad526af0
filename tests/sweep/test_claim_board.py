"""One worker's claim board, field by field: what a claim file holds (exact bytes, its mode, the start time
of its process), which claim files are refused as garbage, the file names runs get, which claims count as
others' live ones, what releasing and clearing leftovers do at the edges, and the exact one-line errors."""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

import pytest

import bcbench.sweep.queue
from bcbench.config import QueueConfig
from bcbench.errors import BcbenchError, StorageError
from bcbench.sweep.identity import host_key
from bcbench.sweep.queue import Claim, ClaimBoard, safe_name

LEASE = QueueConfig(lease_seconds=5.0, heartbeat_seconds=1.0, poll_seconds=0.01)
RETRY = "rerun the same command (nothing was claimed and no run is lost)"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def board(directory: Path, name: str, notes: list[str] | None = None, wall=None) -> ClaimBoard:
    return ClaimBoard(directory, name, LEASE, notes.append if notes is not None else None, wall or time.time)


def test_a_claim_is_encoded_as_json_with_sorted_keys():
    claim = Claim("run-1", "w", "h", "k", 12, "345", 1.5, 2.5, "n")
    assert claim.encode() == (
        b'{"heartbeat": 2.5, "host": "h", "host_key": "k", "nonce": "n", "pid": 12, "pid_start": "345", '
        b'"run_id": "run-1", "started": 1.5, "worker": "w"}'
    )


@pytest.mark.parametrize(
    ("field", "value"), [("pid", "12"), ("pid", True), ("started", "x"), ("nonce", ""), ("nonce", 7)]
)
def test_a_claim_with_a_wrong_number_or_nonce_is_not_a_claim(field, value):
    good = Claim("run-1", "w", "h", "k", 12, None, 1.5, 2.5, "n")
    assert Claim.decode(good.encode()) == good
    fields = json.loads(good.encode()) | {field: value}
    assert Claim.decode(json.dumps(fields).encode()) is None


def test_a_run_id_becomes_a_file_name_of_letters_digits_dots_dashes_and_underscores():
    assert safe_name("Run 1/ÄB.c-d_e") == "Run_1__B.c-d_e"


def test_a_new_claim_names_its_run_host_and_process_start_and_is_readable_by_all(tmp_path):
    """The process start time is field 22 of /proc/self/stat (proc(5)), read here by hand; the file is
    rw-r--r-- under umask 022; missing parent folders are made."""
    text = Path("/proc/self/stat").read_text()
    started = text[text.rindex(")") + 2 :].split()[22 - 3]
    previous = os.umask(0o022)
    try:
        holder = board(tmp_path / "new" / "sweep", "holder")
        assert holder.try_claim("run 1")
    finally:
        os.umask(previous)
    path = tmp_path / "new" / "sweep" / "claims" / "run_1.claim"
    claim = Claim.decode(path.read_bytes())
    assert (claim.run_id, claim.worker, claim.host_key, claim.pid) == (
        "run 1",
        "holder",
        host_key(),
        os.getpid(),
    )
    assert claim.pid_start == started
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_live_elsewhere_lists_only_other_workers_live_claims_by_file_name(tmp_path):
    wall = Clock()
    old = board(tmp_path, "old", wall=wall)
    assert old.try_claim("run-0")
    wall.now += LEASE.lease_seconds + 1  # run-0's heartbeat is now too old: stale
    other, me = board(tmp_path, "other", wall=wall), board(tmp_path, "me", wall=wall)
    assert other.try_claim("run-1") and me.try_claim("run-2")
    assert me.live_elsewhere() == ["run-1.claim"]
    assert other.live_elsewhere() == ["run-2.claim"]


def test_releasing_what_is_not_held_or_already_gone_is_silent(tmp_path, monkeypatch):
    notes: list[str] = []
    holder = board(tmp_path, "holder", notes)
    holder.release("never-held")
    assert holder.try_claim("run-1")
    is_mine = holder._is_mine

    def removed_meanwhile(run_id: str, held: Claim) -> bool:
        mine = is_mine(run_id, held)
        holder.path(run_id).unlink()  # another worker cleared it after the check
        return mine

    monkeypatch.setattr(holder, "_is_mine", removed_meanwhile)
    holder.release("run-1")
    assert notes == [] and holder.held() == []


def test_a_claim_that_cannot_be_removed_is_one_note_naming_it(tmp_path, monkeypatch):
    notes: list[str] = []
    holder = board(tmp_path, "holder", notes)
    assert holder.try_claim("run-1")

    def busy(self: Path, missing_ok: bool = False) -> None:
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(Path, "unlink", busy)
    holder.release("run-1")
    assert notes == [f"could not remove claim {holder.path('run-1')} (Device or resource busy)"]


def test_clearing_leftovers_removes_only_a_stale_claim_of_another_worker_and_says_nothing(tmp_path):
    wall, notes = Clock(), []
    me, other = board(tmp_path, "me", notes, wall), board(tmp_path, "other", notes, wall)
    assert me.clear_leftover("run-9") is False  # no claim at all
    assert me.try_claim("run-1") and other.try_claim("run-2") and other.try_claim("run-3")
    assert me.clear_leftover("run-2") is False  # live
    wall.now += LEASE.lease_seconds + 1
    assert me.clear_leftover("run-1") is False  # held by this worker, even with an old heartbeat
    assert me.path("run-1").exists() and me.held() == ["run-1"]
    assert me.clear_leftover("run-3") is True and not me.path("run-3").exists()
    assert notes == [] and me.held() == ["run-1"]


def test_claim_errors_are_one_exact_line(tmp_path, monkeypatch):
    (tmp_path / "claims").write_text("a file where the folder should be")
    with pytest.raises(BcbenchError) as error:
        board(tmp_path, "w").try_claim("run-1")
    folder = tmp_path / "claims"
    assert str(error.value) == (
        f"cannot claim run run-1 in {folder} (File exists); nothing was claimed and no run is lost: "
        f"make {folder} writable (and not full), then rerun the same command"
    )

    def full(path: object, flags: int, mode: int = 0o777) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    space = tmp_path / "space"
    monkeypatch.setattr(os, "open", full)
    with pytest.raises(StorageError) as error:
        board(space, "w").try_claim("run-1")
    claim = space / "claims" / "run-1.claim"
    full_disk = "no space left on the device (ENOSPC); free space on that disk"
    assert str(error.value) == f"cannot write {claim}: {full_disk}, then {RETRY}"


def test_a_claim_that_cannot_be_read_back_is_a_storage_error_naming_it(tmp_path, monkeypatch):
    holder = board(tmp_path, "holder")
    assert holder.try_claim("run-1")

    def failing(self: Path) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "read_bytes", failing)
    with pytest.raises(StorageError) as error:
        holder.holds("run-1")
    assert str(error.value).startswith(f"cannot write {holder.path('run-1')}: input/output error (EIO);")


def test_releasing_a_claim_taken_over_meanwhile_leaves_the_takers_claim(tmp_path):
    holder = board(tmp_path, "holder")
    assert holder.try_claim("run-1")
    now = time.time()
    taker = Claim("run-1", "taker", "node-b", "b", 1, None, now, now, "taker-nonce").encode()
    holder.path("run-1").write_bytes(taker)
    holder.release("run-1")
    assert holder.path("run-1").read_bytes() == taker and holder.held() == []


def test_a_claim_re_created_by_another_worker_in_the_gap_is_not_held(tmp_path, monkeypatch):
    """The held claim's file went missing; as this worker re-creates it, another worker's create wins:
    the exclusive create fails and the claim is judged by its content, the other's."""
    holder = board(tmp_path, "holder")
    assert holder.try_claim("run-1")
    holder.path("run-1").unlink()
    now = time.time()
    other = Claim("run-1", "other", "node-b", "b", 1, None, now, now, "other-nonce").encode()

    def beaten(path: Path, content: bytes) -> None:
        path.write_bytes(other)
        raise FileExistsError(errno.EEXIST, "File exists", str(path))

    monkeypatch.setattr(holder, "_create", beaten)
    assert holder.holds("run-1") is False and holder.path("run-1").read_bytes() == other


def test_a_failed_claim_write_whose_file_vanished_meanwhile_reports_the_write_error(tmp_path, monkeypatch):
    def vanished_then_broken(descriptor: int, data: bytes) -> None:
        for path in (tmp_path / "claims").glob("*.claim"):
            path.unlink()
        raise OSError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(bcbench.sweep.queue, "write_all", vanished_then_broken)
    with pytest.raises(BcbenchError) as error:
        board(tmp_path, "w").try_claim("run-1")
    assert str(error.value).startswith(f"cannot claim run run-1 in {tmp_path / 'claims'} (Broken pipe);")
