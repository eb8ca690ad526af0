"""One atomic writer: a temporary file in the same folder, flushed, fsynced, then renamed into place.

Readers see the old file or the new one, never half of either; a crash leaves at most a temporary
file (named ``.<name>.<pid>-<random>.tmp``) beside the target. Every writer of bcbench uses it:
records' side files, CSVs, the report, figures, checkpoints, caches. A write that fails for lack of
space, a read-only or unwritable folder or an I/O error raises ``StorageError`` naming the target, and
leaves the old file (if any) as it was and no temporary file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bcbench.errors import storage_errors


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error the file written
    there is fsynced and renamed onto ``path`` (and the folder fsynced), otherwise it is removed. A
    storage failure in the block or the rename raises ``StorageError`` naming ``path``."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    with storage_errors(target):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            yield temporary
            _fsync_file(temporary)
            os.replace(temporary, target)
            _fsync_folder(target.parent)
        finally:
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open`` a temporary file for writing; it replaces ``path`` when the block succeeds."""
    with atomic_path(path) as temporary, open(temporary, mode, **kwargs) as handle:
        yield handle


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write the whole of ``content`` (text as UTF-8) to ``path`` atomically; returns ``path``."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_all(descriptor: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may stop short, e.g. as the disk fills)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows opening a folder."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
