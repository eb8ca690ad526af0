"""A queue worker: take the next pending run through a claim, run it, record it, until none is left.

Any number of workers may share a sweep folder (terminals, nodes, array tasks, Accelerate processes):
each takes one run at a time, longest expected first, so fast workers are never idle while a slow one
finishes a fixed share, a dead worker's run is taken over, and a second copy of the command joins
instead of repeating runs. A worker leaves once every run of the plan has a record; the one whose
record completed the sweep is the one that reports (``last``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bcbench.record import RunRecord, read_sweep
from bcbench.sweep.execute import RunExecutor
from bcbench.sweep.plan import PlannedRun
from bcbench.sweep.queue import ClaimBoard, Warn


class Heartbeat:
    """Refreshes a board's held claims every ``interval`` seconds in a background thread and notes
    the runs it finds taken over (``lost``)."""

    def __init__(self, board: ClaimBoard, interval: float, warn: Warn | None = None) -> None:
        self.board = board
        self.interval = interval
        self.lost: set[str] = set()
        self._warn = warn or (lambda message: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="bcbench-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.interval))

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """One round: refresh every held claim. A refresh that fails (I/O, a file system hiccup) is
        retried next round: the thread must outlive it, or the claims would go stale."""
        for run_id in self.board.held():
            try:
                ok = self.board.refresh(run_id)
            except Exception as error:
                self._warn(f"could not refresh claim {self.board.path(run_id)} ({error}); retrying")
                continue
            if not ok:
                self.lost.add(run_id)
                self._warn(f"claim {self.board.path(run_id).name} was taken over by another worker")


class RunLost(Exception):
    """Another worker took this run over while it trained (this worker's heartbeat had gone quiet)."""


class LostGuard:
    """The sweep's observer, which also stops a run at its next epoch once its claim is lost."""

    def __init__(self, inner: Any, heartbeat: Heartbeat, run_id: str) -> None:
        self._inner, self._heartbeat, self._run_id = inner, heartbeat, run_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def epoch_finished(self, planned: PlannedRun, entry: dict[str, Any]) -> None:
        if self._run_id in self._heartbeat.lost:
            raise RunLost(f"run {self._run_id} was taken over by another worker")
        self._inner.epoch_finished(planned, entry)


@dataclass
class WorkerOutcome:
    """What one worker did: its records, and whether it completed the sweep (so it reports)."""

    written: list[RunRecord] = field(default_factory=list)
    last: bool = False

    @property
    def failed(self) -> bool:
        return any(not record.ok for record in self.written)


class QueueWorker:
    """The worker loop over one sweep folder; ``cost`` is the expected seconds per model."""

    def __init__(
        self,
        executor: RunExecutor,
        planned: list[PlannedRun],
        board: ClaimBoard,
        cost: dict[str, float],
        warn: Callable[[str], None],
    ) -> None:
        self.executor, self.board, self.warn = executor, board, warn
        self.planned = planned
        self.order = sorted(planned, key=lambda p: (-cost.get(p.spec.model, 1.0), p.index))
        self.settings = executor.config.queue
        self.outcome = WorkerOutcome()
        latest, self._start_counts = self._records()
        self.todo = [p for p in planned if not (p.run_id in latest and latest[p.run_id].ok)]
        self._todo_ids = {p.run_id for p in self.todo}

    def run(self) -> WorkerOutcome:
        """Work until every run has a record; held claims are given back however this ends."""
        observer = self.executor.observer
        total = len(self.planned)
        observer.sweep_started(total, total - len(self.todo), len(self.todo))
        others = self.board.live_elsewhere()
        if others:
            self.warn(f"joining {len(others)} run(s) in progress by other workers on this sweep")
        with Heartbeat(self.board, self.settings.heartbeat_seconds, self.warn) as heartbeat:
            try:
                while (remaining := self._remaining()) is not None:
                    item = self._claim_next(remaining)
                    if item is None:
                        time.sleep(self.settings.poll_seconds)  # others hold the rest: wait, then look again
                    else:
                        self._run_claimed(item, heartbeat)
            except BaseException:
                with _signals_held():  # a second Ctrl-C must not leave a claim behind
                    self.board.release_all()
                raise
        self._clear_leftover_claims()
        if not self.outcome.written:
            self.outcome.last = self._complete()
        return self.outcome

    def _clear_leftover_claims(self) -> None:
        """Remove the stale claims of recorded runs, so a finished sweep folder holds no claim."""
        latest, _ = self._records()
        for item in self.planned:
            if item.run_id in latest and self.board.clear_leftover(item.run_id):
                self.warn(f"removed the stale claim of {item.run_id}: its run was already recorded")

    def _records(self) -> tuple[dict[str, RunRecord], Counter[str]]:
        loaded = read_sweep(self.executor.directory)
        return {r.run_id: r for r in loaded.newest()}, Counter(r.run_id for r in loaded.records)

    def _done(self, run_id: str, latest: dict[str, RunRecord], counts: Counter[str]) -> bool:
        """Done for this worker: recorded ok, or recorded (failed too) by anyone since it started; a run
        that failed before is retried once per worker start, as a rerun of the command retries it."""
        record = latest.get(run_id)
        return (record is not None and record.ok) or counts[run_id] > self._start_counts[run_id]

    def _done_since_start(self, item: PlannedRun) -> bool:
        return self._done(item.run_id, *self._records())

    def _remaining(self) -> list[PlannedRun] | None:
        """The runs of ``todo`` nobody has finished yet, longest first; None when there are none."""
        latest, counts = self._records()
        done = {run_id for run_id in self._todo_ids if self._done(run_id, latest, counts)}
        self.executor.observer.sweep_progress(
            len(self.planned) - len(self.todo) + len(done), len(self.planned), len(self.outcome.written)
        )
        remaining = [p for p in self.order if p.run_id in self._todo_ids and p.run_id not in done]
        return remaining or None

    def _claim_next(self, remaining: list[PlannedRun]) -> PlannedRun | None:
        """Claim the first run nobody else holds; re-check it afterwards, since it may have been
        recorded between reading the records and claiming it."""
        for item in remaining:
            if not self.board.try_claim(item.run_id):
                continue
            if self._done_since_start(item):
                self.board.release(item.run_id)
                continue
            return item
        return None

    def _run_claimed(self, item: PlannedRun, heartbeat: Heartbeat) -> None:
        executor = self.executor
        observer = executor.observer
        observer.run_started(item, len(self.outcome.written), len(self.todo))
        executor.observer = LostGuard(observer, heartbeat, item.run_id)
        try:
            record = executor.run_one(item)
        finally:
            executor.observer = observer
        lost = item.run_id in heartbeat.lost or not self.board.holds(item.run_id)
        if lost or self._done_since_start(item):
            heartbeat.lost.discard(item.run_id)
            self.board.release(item.run_id)
            self.warn(f"run {item.run_id} was taken over by another worker; this worker's result is dropped")
            return
        executor.keep(record)  # durable before the claim goes: a crash in between costs a rerun, not a run
        self.board.release(item.run_id)
        self.outcome.written.append(record)
        observer.run_finished(item, record)
        self.outcome.last = self._complete()

    def _complete(self) -> bool:
        """Every planned run has a record and no other worker holds a live claim."""
        latest, _ = self._records()
        return all(p.run_id in latest for p in self.planned) and not self.board.live_elsewhere()


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while claims are given back (main thread only; elsewhere a no-op)."""
    saved = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            saved[signum] = signal.signal(signum, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
