"""Errors that bcbench reports to the user as one clear line (no traceback), exit codes, and the one place
that decides which operating-system errors are storage failures."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path

# exit codes of the command line: 1 = some run failed (recorded), 2 = bad input, 3 = a file could not be
# written (full disk, quota, read-only or unwritable folder, I/O error), 130 = interrupted
EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_STORAGE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# errno -> (what happened, what to do): a write failing so stops the sweep, since every later run would
# fail the same way (and recording them as failed needs the same disk)
STORAGE_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", "free space on that disk"),
    errno.EDQUOT: ("disk quota exceeded", "free space within your quota (or have it raised)"),
    errno.EROFS: ("read-only file system", "remount it read-write"),
    errno.EIO: ("input/output error", "check the disk (dmesg) and its mount"),
    errno.EFBIG: ("file too large for the file system", "set output_dir on a file system that allows it"),
    errno.EACCES: ("permission denied", "make the folder writable by this user"),
}
RESUME = "rerun the same command to resume (records already written are kept)"


class BcbenchError(Exception):
    """A problem the user can fix: the message names the file, key or value and what to do."""

    exit_code = EXIT_USAGE


class ConfigError(BcbenchError):
    """Invalid configuration: unknown key, wrong type or impossible value."""


class DataError(BcbenchError):
    """Invalid data: missing folder, unreadable image, bad split manifest."""


class ModelError(BcbenchError):
    """Unknown model or weights, or weights that cannot be loaded."""


class StorageError(BcbenchError, OSError):
    """A file could not be written: its path, what the system said, what to do, then how to go on.

    Also an ``OSError`` (with the original ``errno``), so writers whose failure is harmless (a cache)
    keep catching it as one."""

    exit_code = EXIT_STORAGE

    def __init__(self, path: str | Path, code: int, then: str = RESUME) -> None:
        OSError.__init__(self, code, STORAGE_ERRNOS[code][0])
        self.path, self.then = Path(path), then

    def __str__(self) -> str:
        what, advice = STORAGE_ERRNOS[self.errno]
        name = errno.errorcode.get(self.errno, str(self.errno))
        return f"cannot write {self.path}: {what} ({name}); {advice}, then {self.then}"

    def __reduce__(self) -> tuple:  # pickled by multiprocessing: rebuilt from its own arguments
        return (type(self), (self.path, self.errno, self.then))

    def going_on(self, then: str) -> StorageError:
        """The same failure with other advice on how to go on once the disk is fixed."""
        return StorageError(self.path, self.errno, then)


def storage_failure(error: BaseException, path: str | Path | None = None) -> StorageError | None:
    """The StorageError that ``error`` amounts to, or None when it is no storage failure.

    A storage failure is an ``OSError`` whose errno is in ``STORAGE_ERRNOS``, raised directly or as the
    cause or context of another error (torch.save turns its file's OSError into a RuntimeError). It
    names ``path`` (the file being written), else the file the error names."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, StorageError):
            return current
        if isinstance(current, OSError) and current.errno in STORAGE_ERRNOS:
            where = path if path is not None else _filename(current)
            return StorageError(where, current.errno)
        seen.add(id(current))
        # the chain Python prints: the cause, else the context unless raised `from None`
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


def _filename(error: OSError) -> str:
    """The file an OSError names (str, bytes or a path: TensorBoard's writer uses bytes), else a phrase."""
    name = error.filename
    if name is None or name == "":
        return "a file"
    return os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else str(name)


@contextlib.contextmanager
def storage_errors(path: str | Path, then: str | None = None) -> Iterator[None]:
    """Turn a storage failure raised in the block into a StorageError naming ``path`` (a StorageError
    already naming a file keeps it); ``then``: how to go on once the disk is fixed. Other errors pass."""
    try:
        yield
    except Exception as error:
        failure = storage_failure(error, path)
        if failure is None:
            raise
        raise (failure.going_on(then) if then else failure) from None


@contextlib.contextmanager
def quiet_storage_threads() -> Iterator[None]:
    """Inside the block, a background writer thread (TensorBoard's) that dies of a storage failure prints
    no traceback: its writer raises the error again in the main thread at its next call, which ends the
    command with one line. Other errors of threads are printed as before."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or storage_failure(args.exc_value) is None:
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous
