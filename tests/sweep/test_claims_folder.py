"""The claims-folder check that runs before anything trains: it creates one probe file the way claims are
created (exclusively, rw-r--r--), removes it, and turns a failure into one line: a full or read-only disk
as a StorageError, anything else as a ConfigError naming the folder and what to do."""

from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path

import pytest

from bcbench.errors import RESUME, ConfigError, StorageError
from bcbench.sweep.queue import check_claims_folder

FIXED = uuid.UUID("0123456789abcdef0123456789abcdef")
ADVICE = (
    "workers share the sweep through it: "
    "make the sweep folder writable or set output_dir to a writable folder"
)


def test_a_file_in_place_of_the_claims_folder_gives_the_exact_message(tmp_path):
    (tmp_path / "claims").write_text("a file where the folder should be")
    with pytest.raises(ConfigError) as error:
        check_claims_folder(tmp_path)
    assert (
        str(error.value) == f"claims folder {tmp_path / 'claims'} cannot be written (File exists); {ADVICE}"
    )


def test_the_probe_is_created_exclusively_so_a_leftover_of_the_same_name_is_refused(tmp_path, monkeypatch):
    """Claims rely on exclusive creation (O_EXCL): the probe uses it too, so a file already holding the
    probe's name (.probe-<pid>-<first 6 hex digits of a uuid4>) fails the check."""
    monkeypatch.setattr(uuid, "uuid4", lambda: FIXED)
    folder = tmp_path / "claims"
    folder.mkdir()
    (folder / f".probe-{os.getpid()}-012345").touch()
    with pytest.raises(ConfigError) as error:
        check_claims_folder(tmp_path)
    assert str(error.value) == f"claims folder {folder} cannot be written (File exists); {ADVICE}"


def test_the_probe_is_readable_by_every_worker_and_named_by_pid_and_six_hex_digits(tmp_path, monkeypatch):
    """Kept (its removal is skipped here) to look at: rw-r--r-- under umask 022, like a claim."""
    monkeypatch.setattr(uuid, "uuid4", lambda: FIXED)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: None)
    previous = os.umask(0o022)
    try:
        check_claims_folder(tmp_path)
    finally:
        os.umask(previous)
    (probe,) = (tmp_path / "claims").iterdir()
    assert probe.name == f".probe-{os.getpid()}-012345"
    assert stat.S_IMODE(probe.stat().st_mode) == 0o644


def test_a_full_disk_under_the_claims_folder_is_a_storage_error_naming_the_folder(tmp_path, monkeypatch):
    def full(path: object, flags: int, mode: int = 0o777) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "open", full)
    with pytest.raises(StorageError) as error:
        check_claims_folder(tmp_path)
    folder = tmp_path / "claims"
    assert str(error.value) == (
        f"cannot write {folder}: no space left on the device (ENOSPC); free space on that disk, then {RESUME}"
    )
    assert error.value.errno == errno.ENOSPC and error.value.exit_code == 3
