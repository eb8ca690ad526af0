"""Claims: how workers that share nothing but a sweep folder take its runs one at a time.

A claim is ``<sweep>/claims/<run_id>.claim``, a small JSON file: the holder (worker id, host, pid and
that pid's start time), when it started, its heartbeat, and a nonce naming this claim. Why each step:

- a free run is taken by creating its claim with ``O_CREAT | O_EXCL``: only one worker can create it,
  on NFS (v3 and later) too. The content follows in one write; a reader that finds the file empty or
  partial treats it as held, until it has stayed unchanged for a lease (then it is stale, with a
  warning naming the file), so neither a writer killed in that instant nor garbage blocks a run for ever;
- the holder rewrites its claim (temporary file, then ``os.replace``) every ``queue.heartbeat_seconds``;
- a claim is stale when its holder ran on this host and is gone (at once: a crash or kill -9 never costs
  a lease), when its heartbeat is older than ``queue.lease_seconds``, or when this reader has watched it
  stay unchanged for a lease on its own monotonic clock: a heartbeat from the future (a clock running
  ahead) cannot keep a dead claim alive, it is judged by that observation alone;
- a stale claim is taken over by exactly one worker: the one that creates ``<run_id>.takeover-<nonce>``
  with ``O_EXCL``. It re-reads the claim and replaces it only if it is still the one judged stale;
- a holder whose heartbeat finds its claim replaced or gone has lost the run and records nothing.

Hand-written because a sweep folder is all the workers share (no database, no server, NFS included):
no queue library works with files alone and survives a worker killed mid-write.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bcbench.atomic import write_all
from bcbench.config import QueueConfig
from bcbench.errors import BcbenchError, ConfigError, storage_errors, storage_failure
from bcbench.sweep.identity import host_key, host_name, process_gone, process_state

CLAIMS_DIR = "claims"
CLAIM_SUFFIX = ".claim"
Warn = Callable[[str], None]


@dataclass(frozen=True)
class Claim:
    """The content of one claim file."""

    run_id: str
    worker: str
    host: str
    host_key: str
    pid: int
    pid_start: str | None
    started: float
    heartbeat: float
    nonce: str

    def encode(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Claim | None:
        """The claim, or None for anything else (empty, partial, garbage, wrong types)."""
        try:
            data = json.loads(raw)
            claim = cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})
        except (ValueError, TypeError, KeyError):
            return None
        numbers_ok = all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in (claim.pid, claim.started, claim.heartbeat)
        )
        return claim if numbers_ok and isinstance(claim.nonce, str) and claim.nonce else None

    def describe(self) -> str:
        return f"worker {self.worker} (pid {self.pid} on {self.host})"


@dataclass(frozen=True)
class Judgement:
    """What a reader makes of one claim file now."""

    state: Literal["free", "live", "stale"]
    claim: Claim | None = None
    raw: bytes | None = None
    reason: str = ""


def safe_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


class ClaimBoard:
    """One worker's view of a sweep's claims folder: claim, refresh, judge, take over, release.

    ``wall`` and ``monotonic`` are the clocks (injectable for tests); ``warn`` receives one-line notes.
    Thread-safe: the heartbeat thread refreshes while the worker claims and releases.
    """

    def __init__(
        self,
        directory: Path,
        worker: str,
        settings: QueueConfig,
        warn: Warn | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(directory) / CLAIMS_DIR
        self.worker = worker
        self.settings = settings
        self._warn = warn or (lambda message: None)
        self._wall, self._monotonic = wall, monotonic
        self._pid = os.getpid()
        self._identity = (host_name(), host_key(), self._pid, (process_state(self._pid) or ("", None))[1])
        self._held: dict[str, Claim] = {}
        self._seen: dict[str, tuple[str, float]] = {}  # file -> (content digest, monotonic time first seen)
        self._warned: set[str] = set()
        self._lock = threading.RLock()

    def path(self, run_id: str) -> Path:
        return self.folder / f"{safe_name(run_id)}{CLAIM_SUFFIX}"

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def try_claim(self, run_id: str) -> bool:
        """Take ``run_id`` if it is free or its claim is stale; False when another worker holds it."""
        with self._lock:
            try:
                return self._claim(run_id)
            except OSError as error:
                failure = storage_failure(error, self.path(run_id))
                if failure is not None:
                    then = "rerun the same command (nothing was claimed and no run is lost)"
                    raise failure.going_on(then) from None
                raise BcbenchError(
                    f"cannot claim run {run_id} in {self.folder} ({error.strerror or error}); nothing was "
                    f"claimed and no run is lost: make {self.folder} writable (and not full), then rerun "
                    "the same command"
                ) from None

    def _claim(self, run_id: str) -> bool:
        path = self.path(run_id)
        claim = self._new_claim(run_id)
        # a file in the folder's place fails here (FileExistsError too), not as "the claim exists"
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._create(path, claim.encode())
        except FileExistsError:
            return self._try_take_over(run_id, path)
        self._held[run_id] = claim
        return True

    def judge(self, run_id: str) -> Judgement:
        """free, live or stale: the claim of ``run_id`` as this worker sees it now."""
        with self._lock:
            path = self.path(run_id)
            raw = _read(path)
            return Judgement("free") if raw is None else self._judge(path, raw)

    def live_elsewhere(self) -> list[str]:
        """File names of the live claims in the folder that this worker does not hold."""
        with self._lock:
            mine = {self.path(run_id).name for run_id in self._held}
            names = []
            for path in sorted(self.folder.glob(f"*{CLAIM_SUFFIX}")):
                raw = _read(path)
                if path.name not in mine and raw is not None and self._judge(path, raw).state == "live":
                    names.append(path.name)
            return names

    def holds(self, run_id: str) -> bool:
        """Whether the claim file still carries this worker's claim (checked before recording)."""
        with self._lock, storage_errors(self.path(run_id)):
            held = self._held.get(run_id)
            return held is not None and self._still_mine(run_id, held)

    def refresh(self, run_id: str) -> bool:
        """Renew the heartbeat of a held claim; False when the claim was taken over or removed."""
        with self._lock:
            held = self._held.get(run_id)
            if held is None:
                return True  # released meanwhile
            if not self._still_mine(run_id, held):
                del self._held[run_id]
                return False
            fresh = dataclasses.replace(held, heartbeat=self._wall())
            self._replace(self.path(run_id), fresh)
            self._held[run_id] = fresh
            return True

    def release(self, run_id: str) -> None:
        """Remove this worker's claim (after its record is durable, or when giving the run back). Best
        effort: a claim that cannot be removed goes stale once this process ends."""
        with self._lock:
            held = self._held.pop(run_id, None)
            try:
                if held is not None and self._is_mine(run_id, held):
                    self.path(run_id).unlink(missing_ok=True)
            except OSError as error:
                self._warn(f"could not remove claim {self.path(run_id)} ({error.strerror or error})")

    def clear_leftover(self, run_id: str) -> bool:
        """Remove a stale claim of a run that is already recorded: its worker ended between making the
        record durable and removing the claim. A live claim is left alone. True when one was removed."""
        with self._lock:
            path = self.path(run_id)
            if run_id in self._held or _read(path) is None:
                return False
            if not self._try_take_over(run_id, path, announce=False):
                return False
            self.release(run_id)
            return True

    def release_all(self) -> list[str]:
        """Give back every held claim (on exit, interruption or preemption)."""
        with self._lock:
            held = list(self._held)
            for run_id in held:
                self.release(run_id)
            return held

    def _new_claim(self, run_id: str) -> Claim:
        host, key, pid, started = self._identity
        now = self._wall()
        return Claim(run_id, self.worker, host, key, pid, started, now, now, uuid.uuid4().hex)

    def _create(self, path: Path, content: bytes) -> None:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            write_all(descriptor, content)
            os.fsync(descriptor)
        except OSError:
            os.close(descriptor)
            path.unlink(missing_ok=True)  # an empty claim would block the run for a lease
            raise
        os.close(descriptor)

    def _replace(self, path: Path, claim: Claim) -> None:
        temporary = path.with_name(f".{path.name}.{claim.nonce}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(claim.encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def _is_mine(self, run_id: str, held: Claim) -> bool:
        raw = _read(self.path(run_id))
        current = Claim.decode(raw) if raw is not None else None
        return current is not None and current.nonce == held.nonce

    def _still_mine(self, run_id: str, held: Claim) -> bool:
        """Mine, or missing and re-created as mine (removed by hand, or by a worker whose release raced
        with a takeover): the exclusive create decides, so no other worker can hold it meanwhile."""
        path = self.path(run_id)
        if _read(path) is None:
            try:
                self._create(path, held.encode())
            except FileExistsError:
                return self._is_mine(run_id, held)
        return self._is_mine(run_id, held)

    def _unchanged_for(self, name: str, raw: bytes) -> float:
        """Seconds (this reader's monotonic clock) that the file has shown this exact content."""
        digest = hashlib.sha256(raw).hexdigest()
        now = self._monotonic()
        seen = self._seen.get(name)
        if seen is None or seen[0] != digest:
            self._seen[name] = (digest, now)
            return 0.0
        return now - seen[1]

    def _judge(self, path: Path, raw: bytes) -> Judgement:
        lease = self.settings.lease_seconds
        unchanged = self._unchanged_for(path.name, raw)
        claim = Claim.decode(raw)
        if claim is None:
            if unchanged >= lease:
                return Judgement(
                    "stale", None, raw, f"it is not a readable claim and stayed so {unchanged:.0f} s"
                )
            self._warn_once(
                path.name,
                f"claim file {path} is empty or not a bcbench claim: its run is treated as held until the "
                f"file stays unchanged for queue.lease_seconds ({lease:g} s), then it is taken over",
            )
            return Judgement("live", None, raw)
        if claim.host_key == self._identity[1] and process_gone(claim.pid, claim.pid_start):
            return Judgement("stale", claim, raw, f"its process {claim.pid} on {claim.host} has ended")
        age = self._wall() - claim.heartbeat
        if age < -self.settings.heartbeat_seconds:
            self._warn_once(
                f"future:{claim.host}",
                f"claim file {path} has a heartbeat {-age:.0f} s in the future: the clock of {claim.host} "
                "runs ahead of this host's; its claims are judged by whether their heartbeat still changes",
            )
        elif age > lease:
            return Judgement("stale", claim, raw, f"its heartbeat is {age:.0f} s old")
        if unchanged >= lease:
            return Judgement("stale", claim, raw, f"its heartbeat has not changed for {unchanged:.0f} s")
        return Judgement("live", claim, raw)

    def _try_take_over(self, run_id: str, path: Path, announce: bool = True) -> bool:
        raw = _read(path)
        if raw is None:
            return False  # released meanwhile: the next pass may claim it
        judgement = self._judge(path, raw)
        if judgement.state != "stale":
            return False
        key = judgement.claim.nonce if judgement.claim else "x" + hashlib.sha256(raw).hexdigest()[:16]
        marker = path.with_name(f"{path.name}.takeover-{safe_name(key)}")
        if not self._create_marker(marker):
            return False  # another worker is taking it over
        try:
            if _read(path) != raw:
                return False  # refreshed, released or replaced since it was judged
            claim = self._new_claim(run_id)
            self._replace(path, claim)
        finally:
            marker.unlink(missing_ok=True)
        self._held[run_id] = claim
        if announce:
            holder = judgement.claim.describe() if judgement.claim else "an unreadable claim"
            self._warn(f"took over {path.name} from {holder}: {judgement.reason}")
        return True

    def _create_marker(self, marker: Path) -> bool:
        try:
            self._create(marker, self._new_claim(marker.name).encode())
        except FileExistsError:
            self._clear_abandoned_marker(marker)
            return False
        return True

    def _clear_abandoned_marker(self, marker: Path) -> None:
        """A marker outlives its taker only if the taker died between two system calls: remove it once
        its taker is gone (this host) or it has stayed for a lease, so the claim can be taken over."""
        raw = _read(marker)
        if raw is None:
            return
        taker = Claim.decode(raw)
        gone = (
            taker is not None
            and taker.host_key == self._identity[1]
            and process_gone(taker.pid, taker.pid_start)
        )
        if gone or self._unchanged_for(marker.name, raw) >= self.settings.lease_seconds:
            marker.unlink(missing_ok=True)
            self._warn(f"removed abandoned takeover marker {marker}")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._warn(message)


def check_claims_folder(directory: Path) -> None:
    """Fail before anything trains when claims cannot be created in the sweep's claims folder."""
    folder = Path(directory) / CLAIMS_DIR
    probe = folder / f".probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        probe.unlink()
    except OSError as error:
        failure = storage_failure(error, folder)
        if failure is not None:
            raise failure from None
        raise ConfigError(
            f"claims folder {folder} cannot be written ({error.strerror or error}); workers share the "
            "sweep through it: make the sweep folder writable or set output_dir to a writable folder"
        ) from None


def _read(path: Path) -> bytes | None:
    """The file's bytes; None when it does not exist (or vanished, ESTALE on NFS, while reading)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ESTALE:  # replaced under an NFS client's feet: read again next pass
            return None
        raise
