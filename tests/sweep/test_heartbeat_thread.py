"""The queue worker's heartbeat thread: a daemon, so a worker killed mid-run never hangs on it, and
named, so a thread dump shows what it is."""

from __future__ import annotations

import threading

from bcbench.config import QueueConfig
from bcbench.sweep.queue import ClaimBoard
from bcbench.sweep.worker import Heartbeat

QUEUE = QueueConfig(lease_seconds=5.0, heartbeat_seconds=0.2, poll_seconds=0.01)


def test_the_heartbeat_runs_in_a_daemon_thread_named_for_it(tmp_path):
    heartbeat = Heartbeat(ClaimBoard(tmp_path, "me", QUEUE), interval=60.0)
    with heartbeat:
        running = [thread for thread in threading.enumerate() if thread.name == "bcbench-heartbeat"]
        assert len(running) == 1 and running[0].daemon is True
    assert not running[0].is_alive()
