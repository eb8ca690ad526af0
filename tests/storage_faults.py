"""A disk that fails on demand, for the storage-fault tests: writes to files whose path contains a
fragment fail with a chosen errno from the n-th such write on, at the system-call layer every bcbench
writer goes through (``os.write`` for record appends and claims, ``os.fsync`` for the atomic writer of
predictions, checkpoints, figures, CSVs and the report), as a full disk, an exceeded quota, a read-only
remount or a failing disk make them fail. The first failing ``os.write`` first writes half of its bytes,
as the kernel does when a disk fills mid-write, so torn lines are exercised too.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


class FailingDisk:
    """Installed with ``monkeypatch``; ``fail(fragment, code, nth)`` arms it, ``heal()`` disarms it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fragment: str | None = None
        self.code = errno.ENOSPC
        self.remaining = 0
        self.torn = False
        self.failed: list[str] = []  # the paths whose writes failed
        real_write, real_fsync = os.write, os.fsync
        monkeypatch.setattr(os, "write", lambda fd, data: self._write(real_write, fd, data))
        monkeypatch.setattr(os, "fsync", lambda fd: self._fsync(real_fsync, fd))

    def fail(self, fragment: str, code: int = errno.ENOSPC, nth: int = 1) -> FailingDisk:
        """Writes to paths containing ``fragment`` fail with ``code``, from the ``nth`` such write on."""
        self.fragment, self.code, self.remaining, self.torn = fragment, code, nth - 1, False
        return self

    def heal(self) -> None:
        """Space freed, folder writable again: every write succeeds."""
        self.fragment = None

    def _hit(self, fd: int) -> str | None:
        """The path of ``fd`` when a write to it must fail now."""
        if self.fragment is None:
            return None
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        if self.fragment not in path:
            return None
        if self.remaining > 0:
            self.remaining -= 1
            return None
        self.failed.append(path)
        return path

    def _write(self, real: Callable[[int, Any], int], fd: int, data: Any) -> int:
        path = self._hit(fd)
        if path is None:
            return real(fd, data)
        if not self.torn and len(data) > 1:
            self.torn = True
            return real(fd, bytes(data)[: len(data) // 2])  # a short write: the disk filled mid-line
        raise OSError(self.code, os.strerror(self.code))

    def _fsync(self, real: Callable[[int], None], fd: int) -> None:
        if self._hit(fd) is not None:
            raise OSError(self.code, os.strerror(self.code))
        real(fd)


def temporary_files(directory: Path) -> list[Path]:
    """The atomic writer's temporary files (``.<name>.<pid>-<random>.tmp``) left under ``directory``."""
    return sorted(directory.rglob(".*.tmp"))
