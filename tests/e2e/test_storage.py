"""A real full disk and a real read-only folder under a real ``bcbench run`` (a subprocess): the sweep
folder is a small tmpfs, filled (or remounted read-only) once the first run is recorded. The command must
end with one ``error:`` line naming the file, what happened and what to do, exit 3, print no traceback,
keep every record line parseable and leave no claim behind; once space is freed (or the folder writable
again) the same command finishes the sweep and writes the report.

Mounting needs root: without it these tests skip saying why, except under CI (``CI=true``), where they
fail instead, since CI runs as root and must run them (as ``tests/e2e/test_slurm.py`` does).
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bcbench.record import read_sweep
from tests.helpers import live_claims, run_script, start_script, sweep_json_records, tiny_sweep_args
from tests.storage_faults import temporary_files

pytestmark = pytest.mark.slow

TIMEOUT = 300  # seconds for any one command: a hang fails the test instead of blocking CI


def cannot_run(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI runs as root and must run the storage tests, but: {reason}")
    pytest.skip(f"cannot mount a small tmpfs here: {reason}")


def mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs mounted on a fresh folder, unmounted after the test."""
    if os.geteuid() != 0:
        cannot_run("mounting a tmpfs needs root")
    folder = tmp_path / "disk"
    folder.mkdir()
    result = mount("-t", "tmpfs", "-o", "size=32m", "tmpfs", str(folder))
    if result.returncode != 0:
        cannot_run(f"mount -t tmpfs failed: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=60)


def sweep_args(root: Path, disk: Path, *extra: str) -> list[str]:
    overrides = ("models=[simple_cnn]", "seeds=[0,1]", "train.save_checkpoint=true", *extra)
    return tiny_sweep_args(root, disk, "storage", *overrides)


def wait_until(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    """Poll ``condition`` while the sweep runs; fail when the sweep ends first or time runs out."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the sweep ended too early: {process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the sweep did not get there in time")
        time.sleep(0.05)


def wait_for_first_record(folder: Path, process: subprocess.Popen) -> None:
    wait_until(lambda: bool(sweep_json_records(folder)), process)


def fill(disk: Path) -> Path:
    """Write zeros until the tmpfs is full; the file to delete to free the space again."""
    filler = disk / "filler"
    chunk = bytes(1 << 20)
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    with open(filler, "ab", buffering=0) as handle:  # and the last partial page
        try:
            while True:
                handle.write(b"x")
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def remount(disk: Path, mode: str) -> None:
    """``mount -o remount,<mode>``; a file open for writing makes the kernel answer busy: try again."""
    for _ in range(200):
        result = mount("-o", f"remount,{mode}", str(disk))
        if result.returncode == 0:
            return
        time.sleep(0.02)
    pytest.fail(f"mount -o remount,{mode} {disk} failed: {result.stderr.strip()}")


def assert_stopped_cleanly(output: str, returncode: int, folder: Path, *fragments: str) -> None:
    """Exit 3, no traceback, one ``error:`` line naming a file of the sweep with what happened and what to
    do; every record line on disk parses; no temporary file is left. The output is printed too, so that
    ``pytest -rA`` shows it (``grep -R Traceback`` of that log must find nothing)."""
    print(output)
    assert returncode == 3, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert f"cannot write {folder}" in errors[0], errors[0]
    for fragment in (*fragments, "then rerun the same command"):
        assert fragment in errors[0], errors[0]
    loaded = read_sweep(folder)
    assert loaded.bad == {} and loaded.records, output
    assert temporary_files(folder) == []


def assert_finished(root: Path, disk: Path, folder: Path, *extra: str) -> None:
    """The same command, rerun, completes the sweep: both runs ok, the report, no claim left."""
    result = run_script(
        "run.py", *sweep_args(root, disk, *extra), env={"OMP_NUM_THREADS": "1"}, timeout=TIMEOUT
    )
    print(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    newest = read_sweep(folder).newest()
    assert len(newest) == 2 and all(record.ok for record in newest)
    assert (folder / "report.md").is_file() and (folder / "summary.csv").is_file()
    assert live_claims(folder) == []


def test_a_disk_filling_up_mid_sweep_stops_with_one_line_and_the_same_command_finishes(
    synthetic_root, small_disk
):
    folder = small_disk / "storage"
    process = start_script("run.py", *sweep_args(synthetic_root, small_disk), env={"OMP_NUM_THREADS": "1"})
    wait_for_first_record(folder, process)
    filler = fill(small_disk)
    output, _ = process.communicate(timeout=TIMEOUT)
    assert_stopped_cleanly(output, process.returncode, folder, "no space left on the device (ENOSPC)")
    assert live_claims(folder) == []  # the run in progress was given back
    filler.unlink()
    assert_finished(synthetic_root, small_disk, folder)


def test_a_folder_turned_read_only_mid_sweep_stops_with_one_line_and_the_same_command_finishes(
    synthetic_root, small_disk
):
    """With TensorBoard on: its writer thread appends each event (a full disk leaves it room in its last
    page, a read-only one does not), and a thread dying of it must print no traceback either."""
    pytest.importorskip("tensorboard")
    args = sweep_args(synthetic_root, small_disk, "tracking=tensorboard")
    folder = small_disk / "storage"
    process = start_script("run.py", *args, env={"OMP_NUM_THREADS": "1"})
    wait_for_first_record(folder, process)
    wait_until(lambda: len(list((folder / "tensorboard").iterdir())) >= 2, process)  # the 2nd run trains
    remount(small_disk, "ro")
    output, _ = process.communicate(timeout=TIMEOUT)
    assert_stopped_cleanly(output, process.returncode, folder, "read-only file system (EROFS)", "remount")
    # still read-only: the same command stops before training, with the same advice
    again = run_script("run.py", *args, timeout=TIMEOUT)
    assert_stopped_cleanly(again.stdout + again.stderr, again.returncode, folder, "(EROFS)")
    remount(small_disk, "rw")
    # a claim the read-only folder kept is taken over at once: its process on this host has ended
    assert_finished(synthetic_root, small_disk, folder, "tracking=tensorboard")
