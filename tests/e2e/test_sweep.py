"""A whole sweep on the embedded data set at tiny settings: records, resume, failures, determinism."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

import bcbench.sweep.execute
import bcbench.sweep.plan
import bcbench.sweep.runner
from bcbench.cli import main as cli_main
from bcbench.config import Config
from bcbench.sweep import choose_folder, run_sweep
from tests import helpers
from tests.helpers import json_records, newest_json_records, quiet_console, run_in_process

CONTRACT_TOP = {"sweep", "run_id", "model", "seed", "status", "error", "config", "data", "history"}


CONTRACT_TEST = {"accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "precision_weighted"}


CONTRACT_EFFICIENCY = {"params", "trainable_params", "flops", "model_mb", "infer_throughput", "latency_ms"}


def tiny_config(root: Path, out: Path, *overrides: str) -> Config:
    """The shared tiny sweep, two models and two seeds, with a quick cost measurement."""
    measured = ("cost.enabled=true", "cost.batch_sizes=[1,8]", "cost.warmup=1")
    two_by_two = ("models=[simple_cnn,study_mobilenet]", "seeds=[0,1]", "cost.iterations=3")
    return helpers.tiny_config(root, out, *two_by_two, *measured, *overrides)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return helpers.run_script("run.py", *args)


@pytest.mark.slow
def test_sweep_writes_contract_records_and_report_then_resumes(synthetic_root, tmp_path):
    config = tiny_config(synthetic_root, tmp_path)
    console = quiet_console()
    assert run_sweep(config, console=console).exit_code == 0
    directory = tmp_path / "tiny"
    records = json_records(directory / "runs.jsonl")
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    for record in records:
        assert set(record) >= CONTRACT_TOP
        assert set(record["test"]) >= CONTRACT_TEST
        assert set(record["cost"]) >= CONTRACT_EFFICIENCY
        assert set(record["cost"]["latency_ms"]) >= {"p50", "p90", "p99"}
        assert record["data"]["n_train"] + record["data"]["n_val"] + record["data"]["n_test"] == 780
        assert record["data"]["classes"] == ["benign", "malignant", "normal"]
        assert len(record["history"]) == record["epochs_run"] >= 1
        assert set(record["history"][0]) == {
            "epoch",
            "train_loss",
            "train_acc",
            "val_loss",
            "val_acc",
            "lr",
            "seconds",
        }
        assert sum(map(sum, record["test"]["confusion_matrix"])) == record["data"]["n_test"]
        assert record["config"]["models"] == [record["model"]]
        assert record["env"]["torch"]
    assert records[0]["cost"]["params"] > 0 and records[0]["cost"]["flops"] > 0
    assert records[0]["cost"]["end_to_end_infer_throughput"] > 0  # through bcbench's data path
    assert records[0]["cost"]["end_to_end_batch_size"] == 8
    for name in ("report.md", "summary.csv", "runs.csv", "config.yaml", "confusion.png", "curves.png"):
        assert (directory / name).is_file(), name
    assert "simple_cnn" in console.export_text()

    again = quiet_console()
    assert run_sweep(config, console=again).exit_code == 0
    assert "4 of 4 runs done, running 0" in again.export_text()
    assert len(json_records(directory / "runs.jsonl")) == 4


@pytest.mark.slow
def test_failed_run_is_recorded_the_sweep_goes_on_and_a_rerun_retries_it(
    synthetic_root, tmp_path, monkeypatch
):
    config = tiny_config(synthetic_root, tmp_path, "models=[simple_cnn]", "cost.enabled=false")
    real_train_run = bcbench.sweep.execute.train_run

    def failing_for_seed_0(spec, *args, **kwargs):
        if spec.seed == 0:
            raise RuntimeError("boom")
        return real_train_run(spec, *args, **kwargs)

    monkeypatch.setattr(bcbench.sweep.execute, "train_run", failing_for_seed_0)
    assert run_sweep(config, console=quiet_console()).exit_code == 1
    records = json_records(tmp_path / "tiny" / "runs.jsonl")
    assert [(r["seed"], r["status"]) for r in records] == [(0, "failed"), (1, "ok")]
    assert records[0]["error"] == "RuntimeError: boom"

    monkeypatch.setattr(bcbench.sweep.execute, "train_run", real_train_run)
    console = quiet_console()
    assert run_sweep(config, console=console).exit_code == 0
    assert "1 of 2 runs done, running 1" in console.export_text()
    latest = newest_json_records(tmp_path / "tiny" / "runs.jsonl")
    assert sorted(r["status"] for r in latest.values()) == ["ok", "ok"]


@pytest.mark.slow
def test_same_seed_and_config_give_the_same_numbers(synthetic_root, tmp_path):
    overrides = ("models=[simple_cnn]", "seeds=[3]", "cost.enabled=false")
    for name in ("a", "b"):
        assert (
            run_sweep(
                tiny_config(synthetic_root, tmp_path / name, *overrides), console=quiet_console()
            ).exit_code
            == 0
        )
    first, second = (json_records(tmp_path / n / "tiny" / "runs.jsonl")[0] for n in "ab")
    assert first["test"] == second["test"]
    assert [h["train_loss"] for h in first["history"]] == [h["train_loss"] for h in second["history"]]


def test_fresh_starts_a_new_folder(synthetic_root, tmp_path):
    config = tiny_config(synthetic_root, tmp_path)
    (tmp_path / "tiny").mkdir()
    assert choose_folder(config, fresh=True) == (
        tmp_path / "tiny-2",
        f"--fresh: writing to the new folder {tmp_path / 'tiny-2'}",
    )
    assert choose_folder(config, fresh=False) == (tmp_path / "tiny", "")


def test_cli_dry_run_lists_the_grid_the_folder_and_what_is_recorded(tmp_path, capsys):
    args = ["run", "--dry-run", "seeds=[0,1]", "models=[simple_cnn,resnet18]", f"output_dir={tmp_path}"]
    assert run_in_process(cli_main, args) == 0
    out = capsys.readouterr().out
    assert out.count("model=") == 4 and out.count("(pending)") == 4
    assert f"sweep folder: {tmp_path / 'default'} (0 of 4 runs recorded ok)" in out
    assert "data: the embedded synthetic data set" in out
    assert not (tmp_path / "default").exists()  # a dry run creates nothing


@pytest.mark.parametrize(
    ("override", "message"),
    [("models=[resnet1O1]", "resnet1O1"), ("data.root=/no/such/folder", "/no/such/folder does not exist")],
)
def test_cli_dry_run_checks_what_a_start_checks(tmp_path, capsys, override, message):
    assert run_in_process(cli_main, ["run", "--dry-run", override, f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and err.count("\n") == 1


def test_cli_config_error_is_one_line_without_traceback(capsys):
    assert run_in_process(cli_main, ["run", "train.lrr=0.1"]) == 2
    message = "error: unknown config key 'train.lrr'; did you mean 'train.lr'?"
    assert capsys.readouterr().err.strip() == message


def test_records_are_json_lines(synthetic_root, tmp_path):
    from bcbench.record import append_record

    append_record(tmp_path / "r.jsonl", {"run_id": "x", "value": float("inf")})
    assert json.loads((tmp_path / "r.jsonl").read_text())["value"] is None


@pytest.mark.slow
def test_tensorboard_tracking_writes_event_files(synthetic_root, tmp_path):
    pytest.importorskip("tensorboard")
    overrides = ("models=[simple_cnn]", "seeds=[0]", "tracking=tensorboard", "cost.enabled=false")
    config = tiny_config(synthetic_root, tmp_path, *overrides)
    assert run_sweep(config, console=quiet_console()).exit_code == 0, json_records(
        tmp_path / "tiny" / "runs.jsonl"
    )[0]["error"]
    events = list((tmp_path / "tiny" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file written"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    assert {"train_loss", "val_loss", "test/accuracy"} <= set(accumulator.Tags()["scalars"])


@pytest.mark.slow  # over 1.5 s: torch.compile's first call
def test_train_compile_wraps_the_model_and_keeps_plain_weights(synthetic_root, tmp_path, monkeypatch):
    compiled = []

    def recording_compile(model, **kwargs):
        compiled.append(type(model).__name__)
        return model  # the wiring is what this checks; real compilation is too slow for the suite

    monkeypatch.setattr(torch, "compile", recording_compile)
    overrides = (
        "models=[simple_cnn]",
        "seeds=[0]",
        "train.compile=true",
        "train.epochs=1",
        "cost.enabled=false",
    )
    assert (
        run_sweep(tiny_config(synthetic_root, tmp_path, *overrides), console=quiet_console()).exit_code == 0
    )
    assert compiled == ["SimpleCNN"]
    (record,) = json_records(tmp_path / "tiny" / "runs.jsonl")
    assert record["status"] == "ok" and record["config"]["train"]["compile"] is True


@pytest.mark.slow
def test_streamed_data_trains_to_the_same_numbers_as_resident_data(synthetic_root, tmp_path):
    overrides = ("models=[simple_cnn]", "seeds=[0]", "train.epochs=2", "cost.enabled=false")
    for storage in ("memory", "stream"):
        config = tiny_config(synthetic_root, tmp_path / storage, *overrides, f"data.storage={storage}")
        assert run_sweep(config, console=quiet_console()).exit_code == 0
    memory, stream = (json_records(tmp_path / s / "tiny" / "runs.jsonl")[0] for s in ("memory", "stream"))
    assert stream["config"]["data"]["storage"] == "stream"
    assert stream["test"] == memory["test"]
    assert [h["train_loss"] for h in stream["history"]] == [h["train_loss"] for h in memory["history"]]
