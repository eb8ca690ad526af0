"""The training loop on a dozen images: one epoch's outcome, the best weights restored, divergence caught."""

from __future__ import annotations

import pytest
import torch

import bcbench.train.recipe
from bcbench.config import load_config
from bcbench.data import build_data
from bcbench.sweep.runner import make_accelerator
from bcbench.train import RunSpec, Selection, TrainingDiverged, resolve_run_config, train_run

SETTINGS = ("data.image_size=16", "data.test_fraction=0.25", "data.val_fraction=0.34", "augment.mode=none")


@pytest.fixture(scope="module")
def dozen(tmp_path_factory):
    """12 images of two classes, split 6 / 3 / 3."""
    from tests.conftest import _write_random_image

    root = tmp_path_factory.mktemp("dozen")
    for index in range(12):
        name = "a" if index % 2 else "b"
        _write_random_image(root / name / f"{name}{index}.png", (20, 16), seed=index)
    config = load_config(None, [f"data.root={root}", *SETTINGS])
    return config, build_data(config)


def _train(config, data, *overrides, selection=None, on_epoch=None):
    config = resolve_run_config(
        load_config(None, [f"data.root={config.data.root}", *SETTINGS, *overrides]), "simple_cnn", 0
    )
    return train_run(
        RunSpec("simple_cnn", 0), config, data, make_accelerator(), on_epoch, selection=selection
    )


def test_one_epoch_gives_its_history_and_every_prediction(dozen):
    config, data = dozen
    entries = []
    outcome = _train(config, data, "train.epochs=1", "train.batch_size=4", on_epoch=entries.append)
    assert [entry["epoch"] for entry in entries] == [1] and outcome.history == entries
    assert outcome.best_epoch == 1 and outcome.epochs_run == 1
    assert outcome.val_probs.shape == (data.counts()["val"], 2) and outcome.test_probs.shape == (3, 2)
    assert torch.allclose(outcome.test_probs.sum(dim=1), torch.ones(3), atol=1e-6)
    assert outcome.test_targets.tolist() == data.tensors("test")[1].tolist()
    assert 0 < outcome.train_seconds <= entries[0]["seconds"]  # the epoch's time also holds validation
    assert data.counts()["train"] == 5  # in batches of 4 and 1: a lone image is skipped (batch norm)
    assert outcome.train_images_per_second == pytest.approx(4 / outcome.train_seconds, rel=1e-9)


def test_the_best_epoch_is_restored_before_predicting(dozen):
    config, data = dozen
    scores = iter([3.0, 2.0, 1.0])  # the first epoch scores best
    selection = Selection("val_score", True, lambda probs, labels: next(scores))
    patience_off = ("train.early_stopping_patience=0", "train.scheduler=none", "train.batch_size=4")
    three = _train(config, data, "train.epochs=3", *patience_off, selection=selection)
    one = _train(config, data, "train.epochs=1", *patience_off)
    assert three.best_epoch == 1 and three.epochs_run == 3
    for key, value in one.model.state_dict().items():
        assert torch.equal(three.model.state_dict()[key], value), key
    assert torch.equal(three.test_probs, one.test_probs)


def test_a_nan_loss_stops_the_run_naming_the_epoch(dozen, monkeypatch):
    config, data = dozen

    def nan_loss(*args, **kwargs):
        return lambda logits, labels: logits.sum() * float("nan")

    monkeypatch.setattr(bcbench.train.recipe, "make_criterion", nan_loss)
    with pytest.raises(TrainingDiverged, match="at epoch 1; lower the learning rate"):
        _train(config, data, "train.epochs=2")
