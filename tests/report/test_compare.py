"""Rebuilding and comparing sweeps from stored records (bench/compare.py)."""

import numpy as np
import pandas as pd
import pytest

from bcbench.analysis import compare_sweeps
from tests.helpers import run_script
from tests.report.fake_records import (
    CONFUSIONS,
    _write,
    compare,
    make_record,
    sweep_records,
)


def test_compare_two_sweeps_writes_comparison_csv(tmp_path, capsys):
    first = _write(tmp_path / "a", sweep_records())
    second = _write(tmp_path / "b", [r for r in sweep_records() if r["model"] != "mid"])
    assert compare([first, second]) == 0
    assert not (first / "comparison.csv").exists()  # a comparison never writes into a sweep
    frame = pd.read_csv(tmp_path / "compare-a-b" / "comparison.csv")
    assert list(frame["model"]) == ["tiny", "tiny", "mid", "mid", "resnet", "resnet"]
    assert list(frame["n"]) == [3, 3, 3, 0, 3, 3]
    accuracy = np.mean([np.trace(np.asarray(m)) / np.sum(m) for m in CONFUSIONS["tiny"]])
    assert frame.loc[0, "accuracy_mean"] == pytest.approx(accuracy)
    assert "macro F1" in capsys.readouterr().out
    same = compare_sweeps([first, second])
    assert same.shape == frame.shape


@pytest.mark.slow
def test_compare_on_a_missing_folder_exits_2_with_one_line(tmp_path):
    result = run_script("compare.py", tmp_path / "missing", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error:") and "missing" in result.stderr


def test_compare_errors_on_folder_without_runs_or_without_ok_runs(tmp_path, capsys):
    assert compare([tmp_path / "missing"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'}: no such folder"
    (tmp_path / "empty").mkdir()
    assert compare([tmp_path / "empty"]) == 2
    assert "runs.jsonl" in capsys.readouterr().err
    _write(tmp_path / "failed", [make_record("tiny", 0, None, status="failed", error="boom")])
    assert compare([tmp_path / "failed"]) == 2
    assert "no successful runs" in capsys.readouterr().err


def test_comparing_sweeps_says_what_differs_between_their_configs(tmp_path, capsys):
    import yaml

    from bcbench.config import load_config, to_dict

    first = _write(tmp_path / "a", sweep_records())
    second = _write(tmp_path / "b", sweep_records())
    (first / "config.yaml").write_text(yaml.safe_dump(to_dict(load_config(None, ["data.image_size=32"]))))
    (second / "config.yaml").write_text(
        yaml.safe_dump(to_dict(load_config(None, ["data.image_size=64", "seeds=[5]"])))
    )
    assert compare([first, second, "--out", tmp_path / "mine"]) == 0
    out = capsys.readouterr().out
    assert "differs: b vs a: data.image_size: 32 -> 64" in out and "differs: b vs a: seeds" not in out
    assert (tmp_path / "mine" / "differences.txt").read_text() == "b vs a: data.image_size: 32 -> 64\n"


def test_a_folder_mixing_data_sets_is_refused_in_one_line(tmp_path, capsys):
    mine = [make_record("tiny", seed, CONFUSIONS["tiny"][seed]) for seed in range(2)]
    for record in mine:
        record["data"]["root"], record["config"]["data"]["root"] = "/data/mine", "/data/mine"
    _write(tmp_path / "mixed", [*sweep_records(), *mine])
    assert compare([tmp_path / "mixed"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds runs of 2 data sets" in err and "/data/mine" in err
    assert not (tmp_path / "mixed" / "summary.csv").exists()  # nothing averaged, nothing rewritten
