"""Who a worker is, and whether a process of this host still runs: what claims record of their holder.

A pid alone identifies nothing across machines, and not even on one machine over time (pids are
reused, containers on one kernel have their own pid spaces), hence the host key and the start time.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path

# the host name a worker claims under; set it to make a worker look like another machine (the tests
# and the demo use it to exercise the lease, which only applies to claims of other machines)
HOST_ENV = "BCBENCH_WORKER_HOST"


def host_name() -> str:
    return os.environ.get(HOST_ENV) or socket.gethostname()


def host_key() -> str:
    """What makes two processes share a pid space: host name, boot id and pid namespace (containers
    on one kernel may share a name but not their pids)."""
    if os.environ.get(HOST_ENV):
        return os.environ[HOST_ENV]
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        boot = namespace = ""
    return f"{socket.gethostname()}|{boot}|{namespace}"


def process_state(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) from /proc; None off Linux or when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name in parentheses may contain spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


def process_gone(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` of this host has ended: no such process, a zombie, or a different
    process under a reused pid (another start time)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, as another user
    state = process_state(pid)
    if state is None:
        return False
    return state[0] in ("Z", "X") or (started is not None and state[1] != started)


def new_worker_id(label: str = "") -> str:
    """A worker id unique across hosts and time: host, optional label (e.g. gpu3), pid, random."""
    host = re.sub(r"[^A-Za-z0-9._-]", "_", host_name())
    middle = f"-{label}" if label else ""
    return f"{host}{middle}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
