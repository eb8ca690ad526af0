"""The study's numbers are only set beside runs of its protocol without a word when they follow it: every
deviation (image size, epochs, preprocessing, learning rate, weights) is listed."""

from __future__ import annotations

from bcbench.analysis.study import study_deviations
from tests.report.fake_records import CONFUSIONS, make_record


def study_run(model, **changes):
    record = make_record(model, 0, CONFUSIONS["resnet"][0], manifest="splits/busi_paper_split.csv")
    lr = {"resnet101": 5e-5}.get(model, 1e-3)
    record["config"]["data"] = {
        "manifest": "splits/busi_paper_split.csv", "preprocess": "shorter_crop", "resize_shorter": 256,
        "image_size": 224, "normalize": "imagenet",
    }  # fmt: skip
    record["config"]["augment"] = {"mode": "study"}
    record["config"]["train"] = {
        "epochs": 20, "batch_size": 8, "optimizer": "adam", "scheduler": "step", "step_size": 7, "gamma": 0.1,
        "early_stopping_patience": 2, "min_epochs": 5, "select_by": "val_loss", "lr": lr,
    }  # fmt: skip
    record["config"]["model_options"] = (
        {"resnet101": {"weights": "IMAGENET1K_V1"}} if model == "resnet101" else {}
    )
    for dotted, value in changes.items():
        block, key = dotted.split("__")
        record["config"][block][key] = value
    return record


def test_the_study_protocol_itself_has_no_deviation():
    assert study_deviations([study_run("simple_cnn"), study_run("resnet101")]) == []


def test_a_cpu_sized_run_lists_what_it_changed():
    runs = [
        study_run("simple_cnn", data__image_size=32, train__epochs=1),
        study_run("resnet101", data__image_size=32),
    ]
    runs[1]["config"]["model_options"] = {}
    found = study_deviations(runs)
    assert "data.image_size = 32 (study: 224)" in found
    assert "train.epochs = 1 (study: 20) (simple_cnn)" in found
    assert any(text.startswith("resnet101 weights = None (study: 'IMAGENET1K_V1'") for text in found)


def test_runs_off_the_study_split_have_nothing_to_compare():
    run = study_run("simple_cnn", data__image_size=32)
    run["config"]["data"]["manifest"] = None
    assert study_deviations([run]) == []
