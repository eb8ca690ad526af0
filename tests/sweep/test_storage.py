"""Full disks, exceeded quotas, read-only folders and I/O errors, injected at the write layer
(``tests/storage_faults.py``): every writer ends the command with one line naming the file, what happened
and what to do (exit 3, no traceback), keeps what was written (every record line parses, no claim and no
temporary file is left), and the same command finishes the sweep once the disk is healed. The real
thing, a filled and a read-only tmpfs under a real ``bcbench run``, is ``tests/e2e/test_storage.py``.
"""

from __future__ import annotations

import errno
import threading
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

import bcbench.report.write
import bcbench.sweep.execute
from bcbench.atomic import write_atomic
from bcbench.cli import main as cli_main
from bcbench.cli.common import guarded
from bcbench.errors import (
    EXIT_STORAGE,
    BcbenchError,
    StorageError,
    quiet_storage_threads,
    storage_failure,
)
from bcbench.record import RunRecord, append_record, read_sweep
from bcbench.record.predictions import write_predictions
from bcbench.report.figures import save_figure
from bcbench.sweep.execute import StorageGuardedTracker, save_checkpoint
from bcbench.sweep.queue import ClaimBoard
from bcbench.train import RunOutcome
from tests.helpers import live_claims, run_in_process, tiny_sweep_args
from tests.storage_faults import FailingDisk, temporary_files

# errno -> the words of the one-line message: what happened, then what to do (written by hand)
MESSAGES = {
    errno.ENOSPC: ("no space left on the device (ENOSPC)", "free space on that disk"),
    errno.EDQUOT: ("disk quota exceeded (EDQUOT)", "free space within your quota"),
    errno.EROFS: ("read-only file system (EROFS)", "remount it read-write"),
    errno.EIO: ("input/output error (EIO)", "check the disk"),
}


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> FailingDisk:
    return FailingDisk(monkeypatch)


def assert_storage_message(message: str, path: Path, code: int = errno.ENOSPC) -> None:
    assert "\n" not in message
    assert f"cannot write {path}" in message, message
    for words in MESSAGES[code]:
        assert words in message, message
    assert "rerun the same command" in message


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), errno.EDQUOT),
        (OSError(errno.EROFS, "Read-only file system"), errno.EROFS),
        (OSError(errno.EIO, "Input/output error"), errno.EIO),
        (PermissionError(errno.EACCES, "Permission denied"), errno.EACCES),
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), None),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), None),
        (ValueError("not an OS error"), None),
    ],
)
def test_what_counts_as_a_storage_failure_is_decided_in_one_place(error, expected):
    failure = storage_failure(error, "/results/x")
    assert (failure.errno if failure is not None else None) == expected
    if failure is not None:
        assert failure.exit_code == EXIT_STORAGE == 3 and str(failure.path) == "/results/x"


@pytest.mark.parametrize("name", ["/r/events.out", b"/r/events.out", Path("/r/events.out")])
def test_a_storage_failure_names_the_file_its_error_names_in_any_form(name):
    failure = storage_failure(OSError(errno.EROFS, "Read-only file system", name))
    assert str(failure.path) == "/r/events.out" and "cannot write /r/events.out:" in str(failure)


def test_a_storage_failure_wrapped_by_another_error_is_found_through_its_context():
    """torch.save reports its file's OSError as a RuntimeError whose context is that OSError."""
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc] file write failed") from None
    except RuntimeError as wrapped:
        assert storage_failure(wrapped) is None  # `from None` hides the context: nothing to find
    try:
        try:
            raise OSError(errno.EIO, "Input/output error")
        except OSError:
            raise RuntimeError("unexpected pos 704 vs 598")  # noqa: B904 - as torch raises it
    except RuntimeError as wrapped:
        assert storage_failure(wrapped, "/w.pt").errno == errno.EIO


@pytest.mark.parametrize("code", list(MESSAGES))
def test_an_atomic_write_that_fails_keeps_the_old_file_and_no_temporary(tmp_path, disk, code):
    target = tmp_path / "report" / "summary.csv"
    write_atomic(target, "old\n")
    disk.fail("summary.csv", code)
    with pytest.raises(StorageError) as error:
        write_atomic(target, "new\n")
    assert_storage_message(str(error.value), target, code)
    assert target.read_text() == "old\n" and temporary_files(tmp_path) == []
    disk.heal()
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"


def record(run_id: str) -> RunRecord:
    return RunRecord(sweep="s", run_id=run_id, model="simple_cnn", seed=0, status="ok")


def test_a_record_append_torn_by_a_full_disk_is_cut_back_and_every_earlier_line_parses(tmp_path, disk):
    shard = tmp_path / "runs" / "worker.jsonl"
    append_record(shard, record("a"))
    append_record(shard, record("b"))
    before = shard.read_bytes()
    disk.fail("runs/worker.jsonl")  # the first os.write writes half the line, the next one fails
    with pytest.raises(StorageError) as error:
        append_record(shard, record("c"))
    assert_storage_message(str(error.value), shard)
    assert disk.failed and shard.read_bytes() == before  # the half line was cut back
    loaded = read_sweep(tmp_path)
    assert [r.run_id for r in loaded.records] == ["a", "b"] and loaded.bad == {}
    disk.heal()
    append_record(shard, record("c"))
    assert [r.run_id for r in read_sweep(tmp_path).records] == ["a", "b", "c"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failing_fsync_of_a_record_removes_the_unconfirmed_line(tmp_path, disk, code):
    shard = tmp_path / "runs" / "worker.jsonl"
    append_record(shard, record("a"))
    disk.fail("runs/worker.jsonl", code, nth=2)  # the write succeeds, its fsync fails
    with pytest.raises(StorageError) as error:
        append_record(shard, record("b"))
    assert_storage_message(str(error.value), shard, code)
    assert [r.run_id for r in read_sweep(tmp_path).records] == ["a"]


def test_a_claim_that_cannot_be_written_is_a_storage_error_and_leaves_no_claim(tmp_path, disk):
    settings = SimpleNamespace(lease_seconds=60.0, heartbeat_seconds=10.0, poll_seconds=0.01)
    board = ClaimBoard(tmp_path, "worker-a", settings)
    disk.fail("claims/")
    with pytest.raises(StorageError) as error:
        board.try_claim("run-1")
    assert_storage_message(str(error.value), board.path("run-1"))
    assert "nothing was claimed" in str(error.value)
    assert live_claims(tmp_path) == [] and board.held() == []
    disk.heal()
    assert board.try_claim("run-1")
    board.release("run-1")
    assert live_claims(tmp_path) == []


def test_predictions_that_cannot_be_written_leave_no_file(tmp_path, disk):
    frame = {"set": ["test"], "index": [0], "prob_a": [0.25]}
    disk.fail("predictions/", errno.EDQUOT)
    with pytest.raises(StorageError) as error:
        write_predictions(tmp_path, "run-1", [pd.DataFrame(frame)])
    assert_storage_message(str(error.value), tmp_path / "predictions" / "run-1.csv", errno.EDQUOT)
    assert list((tmp_path / "predictions").iterdir()) == []


def test_a_checkpoint_on_a_full_disk_is_a_storage_error_not_torch_s_runtime_error(tmp_path, disk):
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "checkpoints" / "run-1.pt"
    disk.fail("checkpoints/")
    with pytest.raises(StorageError) as error:
        save_checkpoint(path, model)
    assert_storage_message(str(error.value), path)
    assert list(path.parent.iterdir()) == []
    disk.heal()
    saved = torch.load(save_checkpoint(path, model))
    assert torch.equal(saved["weight"], model.weight.detach())


def test_a_figure_that_cannot_be_written_leaves_no_file(tmp_path, disk):
    from matplotlib.figure import Figure

    path = tmp_path / "confusion.png"
    disk.fail("confusion.png", errno.EIO)
    with pytest.raises(StorageError) as error:
        save_figure(Figure(figsize=(1, 1)), path)
    assert_storage_message(str(error.value), path, errno.EIO)
    assert list(tmp_path.iterdir()) == []
    disk.heal()
    assert save_figure(Figure(figsize=(1, 1)), path).read_bytes().startswith(b"\x89PNG")


def test_a_tensorboard_writer_thread_dying_of_a_full_disk_is_one_storage_error_and_no_traceback(
    tmp_path, monkeypatch, capfd
):
    pytest.importorskip("tensorboard")
    from accelerate.tracking import TensorBoardTracker
    from tensorboard.compat.tensorflow_stub.io.gfile import LocalFileSystem

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    inner = TensorBoardTracker("run-1", tmp_path / "tensorboard")
    if hasattr(inner, "start"):
        inner.start()
    tracker = StorageGuardedTracker(inner, tmp_path / "tensorboard" / "run-1")
    monkeypatch.setattr(LocalFileSystem, "append", full)  # the writer thread's next write fails
    with quiet_storage_threads(), pytest.raises(StorageError) as error:
        tracker.log({"loss": 1.0}, step=1)
        tracker.finish()  # flushes: the dead thread's error is raised here at the latest
    assert_storage_message(str(error.value), tmp_path / "tensorboard" / "run-1")
    assert "Traceback" not in "".join(capfd.readouterr())


def test_only_storage_failures_of_threads_go_unprinted(monkeypatch):
    printed: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: printed.append(args.exc_value))

    def thread_raising(error: BaseException) -> None:
        def target() -> None:
            raise error

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()

    bug, full = ValueError("a bug in a thread"), OSError(errno.ENOSPC, "No space left on device")
    with quiet_storage_threads():
        thread_raising(full)
        thread_raising(bug)
    thread_raising(full)  # outside the block the hook is the one it was
    assert printed == [bug, full]


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (StorageError("/r/report.md", errno.EROFS), EXIT_STORAGE),
        (OSError(errno.ENOSPC, "No space left on device", "/r/x.csv"), EXIT_STORAGE),
        (BcbenchError("a bad value"), 2),
    ],
)
def test_the_command_line_prints_one_line_and_the_documented_exit_code(capsys, raised, code):
    def action() -> int:
        raise raised

    assert guarded(action, debug=False) == code
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("error: ")


def test_an_os_error_that_is_no_storage_failure_keeps_its_traceback():
    def action() -> int:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/nope")

    with pytest.raises(FileNotFoundError):
        guarded(action, debug=False)


def instant_training(spec, config, data, accelerator, on_epoch=None, together=False, selection=None):
    """Stands in for training: an untrained linear model and confident, mostly right probabilities, so
    a run's writes (record, predictions, checkpoint, report) are all that takes time."""

    def probs(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.from_numpy(data.labels()[data.indices(split)]).long()
        classes = len(data.classes)
        guessed = torch.where(torch.arange(len(labels)) % 4 == 0, (labels + 1) % classes, labels)
        chosen = torch.nn.functional.one_hot(guessed, classes).double()
        return (0.7 * chosen + 0.3 / classes).float(), labels

    entry = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "lr": 0.1}
    if on_epoch is not None:
        on_epoch({**entry, "seconds": 0.01})
    (val, val_t), (test, test_t) = probs("val"), probs("test")
    model = torch.nn.Linear(4, len(data.classes))
    return RunOutcome(model, [entry], 1, 1, val, val_t, test, test_t, 0.01, 1000.0)


@pytest.fixture
def quick_sweep(make_image_folder, tmp_path, monkeypatch) -> list[str]:
    """`bcbench run` arguments of a two-run sweep over 36 tiny images whose training is instant and whose
    report has no figures (drawing them takes seconds; their writer is tested alone above)."""
    monkeypatch.setattr(bcbench.sweep.execute, "train_run", instant_training)
    monkeypatch.setattr(bcbench.report.write, "_write_figures", lambda directory, analysis: {})
    root = make_image_folder({"benign": 12, "malignant": 12, "normal": 12})
    extra = ("models=[simple_cnn]", "seeds=[0,1]", "train.save_checkpoint=true")
    return ["run", *tiny_sweep_args(root, tmp_path / "out", "storage", *extra)]


def run_cli(argv: list[str], capfd) -> tuple[int, str]:
    """The exit code and output of ``bcbench argv``, also shown on pytest's own output (with ``-s``), so
    that ``grep Traceback`` of the test log checks what the command printed."""
    code = run_in_process(cli_main, argv)
    captured = capfd.readouterr()
    with capfd.disabled():
        print(captured.out + captured.err)
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("fragment", "nth", "named"),
    [
        ("runs/", 3, "runs/"),  # the second run's record (the first record took a write and an fsync)
        ("summary.csv", 1, "summary.csv"),
        # each writer alone is tested above; the whole sweep again for each is slow-lane work
        pytest.param("claims/", 1, "claims/", marks=pytest.mark.slow),
        pytest.param("predictions/", 2, "predictions/", marks=pytest.mark.slow),
        pytest.param("checkpoints/", 1, "checkpoints/", marks=pytest.mark.slow),
        pytest.param("report.md", 1, "report.md", marks=pytest.mark.slow),
    ],
)
def test_a_sweep_stopped_by_a_full_disk_keeps_its_records_and_the_same_command_finishes_it(
    quick_sweep, tmp_path, disk, capfd, fragment, nth, named
):
    folder = tmp_path / "out" / "storage"
    disk.fail(fragment, errno.ENOSPC, nth)
    code, output = run_cli(quick_sweep, capfd)
    assert code == EXIT_STORAGE, output
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if line.startswith("error: ")]
    assert f"cannot write {folder}" in line and named in line and "no space left on the device" in line
    if fragment in ("summary.csv", "report.md"):
        assert f"bcbench compare {folder}" in line
    loaded = read_sweep(folder) if folder.exists() else None
    if loaded is not None:
        assert loaded.bad == {}
        assert live_claims(folder) == [] and temporary_files(folder) == []
    disk.heal()
    code, output = run_cli(quick_sweep, capfd)
    assert code == 0, output
    newest = read_sweep(folder).newest()
    assert len(newest) == 2 and all(r.ok for r in newest)
    assert (folder / "report.md").is_file() and live_claims(folder) == []
    assert len(list((folder / "predictions").glob("*.csv"))) == 2


@pytest.mark.parametrize("task_class", ["WorkerTask", "SummaryTask"])
def test_a_slurm_task_on_a_full_disk_ends_with_one_line_and_exit_3(task_class, monkeypatch, capsys, tmp_path):
    import bcbench.cli.submit as submit
    import bcbench.sweep

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "runs" / "w.jsonl"))

    monkeypatch.setattr(bcbench.sweep, "run_sweep", full_disk)
    monkeypatch.setattr(bcbench.sweep, "summarise_sweep", full_disk)
    monkeypatch.setattr(submit, "keep_working_when_not_requeued", lambda: None)
    monkeypatch.setattr(submit.signal, "signal", lambda *args: None)
    task = getattr(submit, task_class)(SimpleNamespace(), tmp_path)
    assert task() == EXIT_STORAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "w.jsonl" in err and "Traceback" not in err


def test_writing_the_synthetic_data_set_on_a_full_disk_is_one_storage_error(tmp_path, monkeypatch):
    import bcbench.data.synthetic as synthetic

    def full_disk(root, image_size):
        raise OSError(errno.ENOSPC, "No space left on device", str(root / "benign" / "x.png"))

    monkeypatch.setattr(synthetic, "write_synthetic_dataset", full_disk)
    with pytest.raises(StorageError) as raised:
        synthetic.ensure_synthetic_dataset(tmp_path / "synthetic", 32)
    message = str(raised.value)
    assert str(tmp_path / "synthetic") in message and "ENOSPC" in message and "data.synthetic_dir" in message
    assert raised.value.exit_code == EXIT_STORAGE and list(tmp_path.iterdir()) == []  # no half-written set
