"""The training recipe: per-model options, early stopping, the fused optimiser switch."""

from bcbench.config import load_config
from bcbench.train import run_spec
from bcbench.train.recipe import EarlyStopping


def _config(*overrides):
    return load_config(None, ["models=[simple_cnn,resnet18]", "seeds=[0,1,2]", *overrides])


def test_per_model_options_are_merged():
    config = _config("model_options.resnet18.lr=5e-5", "model_options.resnet18.batch_size=4")
    assert run_spec(config, "resnet18", 0).train.lr == 5e-5
    assert run_spec(config, "resnet18", 0).train.batch_size == 4
    assert run_spec(config, "simple_cnn", 0).train.lr == config.train.lr


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
