"""Evaluation protocols end to end: a CSV-indexed data set with groups and an external test set gives the
same record shape as class folders; cross-validation pools every image once; MedMNIST .npz files run the
MedMNIST protocol; bad external sets stop before training."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bcbench.analysis.stored import differing_keys, recompute_test_block
from bcbench.config import load_config
from bcbench.errors import DataError
from bcbench.record.store import read_sweep
from bcbench.sweep import run_sweep
from tests.data.test_sources import write_npz
from tests.helpers import assert_one_line_error, quiet_console, tiny_config

COUNTS = {"benign": 14, "malignant": 10, "normal": 8}
SMALL = ("models=[simple_cnn]", "seeds=[0]", "data.image_size=16")


def csv_indexed_copy(folder: Path, target: Path) -> Path:
    """The same images flattened into one folder with a labels.csv (path,label,group): two images per
    patient, as a CSV-indexed medical set would have them."""
    rows = []
    for number, image in enumerate(sorted(folder.rglob("*.png"))):
        destination = target / "images" / f"img{number:03d}.png"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, destination)
        rows.append({"path": destination.relative_to(target).as_posix(), "label": image.parent.name})
    frame = pd.DataFrame(rows)
    frame["group"] = [f"patient{index // 2}" for index in range(len(frame))]
    frame.to_csv(target / "labels.csv", index=False)
    return target


def records_of(out: Path, name: str = "tiny") -> list:
    return read_sweep(out / name).ok()


@pytest.mark.slow
def test_csv_index_with_groups_and_an_external_set_give_the_folder_record_shape(make_image_folder, tmp_path):
    folder = make_image_folder(COUNTS, root=tmp_path / "folder")
    indexed = csv_indexed_copy(folder, tmp_path / "indexed")
    external = make_image_folder({"benign": 5, "normal": 4}, root=tmp_path / "site-b")  # no malignant
    assert run_sweep(tiny_config(folder, tmp_path / "a", *SMALL), console=quiet_console()).exit_code == 0
    overrides = (*SMALL, f"data.index={indexed / 'labels.csv'}", f"data.external={{site_b: {external}}}")
    assert run_sweep(tiny_config(indexed, tmp_path / "b", *overrides), console=quiet_console()).exit_code == 0
    (plain,), (indexed_run,) = records_of(tmp_path / "a"), records_of(tmp_path / "b")
    assert set(plain.to_json()) == set(indexed_run.to_json())
    assert set(plain.test.to_json()) == set(indexed_run.test.to_json())
    assert indexed_run.data.source == "csv" and indexed_run.data.grouped and indexed_run.data.n_groups == 16
    site_b = indexed_run.external["site_b"]
    assert site_b.n == 9 and site_b.classes_present == ["benign", "normal"]
    assert set(site_b.per_class) == {"benign", "normal"}
    stored = pd.read_csv(tmp_path / "b" / "tiny" / indexed_run.predictions)
    assert stored["set"].value_counts().to_dict() == {"external:site_b": 9, **stored_split_sizes(indexed_run)}
    assert {"cal_prob_benign", "prob_normal"} <= set(stored.columns)
    for run, out in ((plain, tmp_path / "a"), (indexed_run, tmp_path / "b")):
        assert differing_keys(recompute_test_block(out / "tiny", run), run) == []
    report = (tmp_path / "b" / "tiny" / "report.md").read_text()
    assert "## External test sets" in report and "benign,normal" in report


def stored_split_sizes(record) -> dict[str, int]:
    return {"val": record.data.n_val, "test": record.data.n_test}


@pytest.mark.slow
def test_cross_validation_pools_every_image_once_per_repeat(make_image_folder, tmp_path):
    folder = make_image_folder(COUNTS, root=tmp_path / "folder")
    folds = (
        "evaluation.protocol=kfold",
        "evaluation.folds=4",
        "evaluation.repeats=2",
        "data.val_fraction=0.2",
    )
    assert (
        run_sweep(tiny_config(folder, tmp_path / "cv", *SMALL, *folds), console=quiet_console()).exit_code
        == 0
    )
    runs = records_of(tmp_path / "cv")
    assert sorted((r.repeat, r.fold) for r in runs) == [(r, f) for r in range(2) for f in range(4)]
    assert len({r.data.split_sha256 for r in runs}) == 8
    pooled = pd.read_csv(tmp_path / "cv" / "tiny" / "pooled_oof.csv")
    assert pooled["n_images"].tolist() == [32, 32] and pooled["complete"].all()
    for repeat in range(2):
        tested = np.concatenate(
            [
                pd.read_csv(tmp_path / "cv" / "tiny" / r.predictions).query("set == 'test'")["index"]
                for r in runs
                if r.repeat == repeat
            ]
        )
        assert sorted(tested) == list(range(32))
    report = (tmp_path / "cv" / "tiny" / "report.md").read_text()
    assert "## Cross-validation" in report and "4-fold stratified cross-validation x 2 repeat(s)" in report


@pytest.mark.slow
def test_medmnist_protocol_on_a_small_npz(tmp_path):
    path = write_npz(tmp_path / "tinymnist.npz")
    overrides = [
        f"data.root={path}", f"output_dir={tmp_path}", "seeds=[0]", "train.epochs=3",
        "train.milestones=[1,2]", "train.batch_size=16", "cost.enabled=false",
        "data.class_names=[a,b,c]",
    ]  # fmt: skip
    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "medmnist.yaml", overrides)
    assert run_sweep(config, console=quiet_console()).exit_code == 0
    (record,) = read_sweep(tmp_path / "medmnist").ok()
    assert record.data.source == "npz" and (record.data.n_train, record.data.n_val, record.data.n_test) == (
        30,
        6,
        9,
    )
    assert record.epochs_run == 3 and all("val_auroc" in entry for entry in record.history)
    best = max(range(3), key=lambda i: (record.history[i]["val_auroc"], -i))
    assert record.best_epoch == best + 1  # the best validation AUROC was kept
    assert record.config["model_options"]["resnet18"]["small_input_stem"] is True


def test_an_external_set_with_a_class_the_model_does_not_know_stops_before_training(
    make_image_folder, tmp_path
):
    folder = make_image_folder({"benign": 6, "normal": 6}, root=tmp_path / "folder")
    external = make_image_folder({"benign": 2, "cyst": 2}, root=tmp_path / "other")
    config = tiny_config(folder, tmp_path / "out", *SMALL, f"data.external={{other: {external}}}")
    with pytest.raises(DataError) as error:
        run_sweep(config, console=quiet_console())
    assert_one_line_error(error, "external test set 'other'", "class(es) 'cyst' unknown to the model")
    assert not list((tmp_path / "out").rglob("*.jsonl"))  # nothing trained, nothing recorded
