"""The training recipe: per-model options, early stopping, the fused optimiser switch."""

import pytest

from bcbench.config import load_config
from bcbench.train import resolve_run_config
from bcbench.train.recipe import EarlyStopping


def _config(*overrides):
    return load_config(None, ["models=[simple_cnn,resnet18]", "seeds=[0,1,2]", *overrides])


def test_per_model_options_are_merged():
    config = _config("model_options.resnet18.lr=5e-5", "model_options.resnet18.batch_size=4")
    assert resolve_run_config(config, "resnet18", 0).train.lr == 5e-5
    assert resolve_run_config(config, "resnet18", 0).train.batch_size == 4
    assert resolve_run_config(config, "simple_cnn", 0).train.lr == config.train.lr
    assert resolve_run_config(config, "simple_cnn", 0).model_options == {}


def test_the_launcher_precision_is_filled_in(monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    assert resolve_run_config(_config(), "resnet18", 0).train.mixed_precision == "bf16"
    assert (
        resolve_run_config(_config("train.mixed_precision=no"), "resnet18", 0).train.mixed_precision == "no"
    )


def test_early_stopping_respects_patience_and_min_epochs():
    stopper = EarlyStopping(patience=2, min_epochs=5)
    losses = [1.0, 0.9, 0.95, 0.97, 0.99, 1.2]
    stops = []
    for epoch, loss in enumerate(losses, start=1):
        stopper.update(epoch, loss)
        stops.append(stopper.should_stop(epoch))
    # worse at epochs 3 and 4 (patience reached) but min_epochs keeps it going until epoch 5
    assert stops == [False, False, False, False, True, True]
    assert stopper.best_epoch == 2
    never = EarlyStopping(patience=0, min_epochs=0)
    never.update(1, 1.0)
    never.update(2, 2.0)
    assert not never.should_stop(2)


def test_fused_optimizer_is_a_switch():
    import torch

    from bcbench.train.recipe import make_optimizer

    model = torch.nn.Linear(4, 2)
    fused = make_optimizer(model, _config().train, torch.device("cpu"))
    plain = make_optimizer(model, _config("train.fused_optimizer=false").train, torch.device("cpu"))
    assert plain.defaults["fused"] in (None, False)
    assert fused.defaults["fused"] is True  # torch >= 2.4 has a CPU kernel


def test_early_stopping_on_a_score_where_higher_is_better_and_nan_never_improves():
    stopper = EarlyStopping(patience=2, min_epochs=1, higher_is_better=True)
    assert stopper.update(1, float("nan"))  # the first epoch is always kept
    assert stopper.update(2, 0.70)  # a number beats a NaN
    assert not stopper.update(3, float("nan"))
    assert stopper.update(4, 0.80)
    assert not stopper.update(5, 0.79)
    assert not stopper.update(6, 0.80)  # equal is not better
    assert stopper.best_epoch == 4 and stopper.best_value == 0.80 and stopper.should_stop(6)


def test_multistep_scheduler_follows_the_milestones():
    import torch

    from bcbench.config import TrainConfig
    from bcbench.train.recipe import make_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_scheduler(optimizer, TrainConfig(scheduler="multistep", milestones=(2, 4), gamma=0.1))
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
