"""The plan: the grid, stable run ids, axes, one resolved config per run."""

import json
from collections import Counter
from pathlib import Path

import pytest

from bcbench.config import load_config, to_dict
from bcbench.errors import ConfigError
from bcbench.sweep import make_run_id, plan_runs
from bcbench.train import RunSpec, resolve_run_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _config(*overrides):
    return load_config(None, ["models=[simple_cnn,resnet18]", "seeds=[0,1,2]", *overrides])


def test_plan_is_models_by_seeds_with_stable_ids():
    planned = plan_runs(_config())
    assert [(p.spec.model, p.spec.seed) for p in planned] == [
        ("simple_cnn", 0),
        ("simple_cnn", 1),
        ("simple_cnn", 2),
        ("resnet18", 0),
        ("resnet18", 1),
        ("resnet18", 2),
    ]
    assert [p.run_id for p in planned] == [p.run_id for p in plan_runs(_config())]
    assert len({p.run_id for p in planned}) == 6


def test_run_id_changes_with_the_run_config_only():
    base = {p.run_id for p in plan_runs(_config())}
    assert base.isdisjoint({p.run_id for p in plan_runs(_config("train.lr=0.01"))})
    assert base.isdisjoint({p.run_id for p in plan_runs(_config("data.split_seed=3"))})
    more_seeds = {p.run_id for p in plan_runs(_config("seeds=[0,1,2,3]"))}
    assert base < more_seeds  # adding a seed keeps the existing runs
    renamed = {p.run_id for p in plan_runs(_config("name=other"))}
    assert renamed == base


def test_axes_multiply_the_grid_and_are_validated():
    config = _config("axes={train.lr: [0.1, 0.01], data.split_seed: [0, 1]}")
    planned = plan_runs(config)
    assert len(planned) == 2 * 3 * 4
    assert Counter(p.config.train.lr for p in planned) == {0.1: 12, 0.01: 12}
    assert Counter(p.config.data.split_seed for p in planned) == {0: 12, 1: 12}
    with pytest.raises(ConfigError, match="train.bogus"):
        plan_runs(_config("axes={train.bogus: [1]}"))


def test_each_planned_run_carries_its_whole_recipe():
    config = _config("model_options.resnet18.lr=5e-5", "model_options.resnet18.batch_size=4")
    for item in plan_runs(config):
        recipe = item.config
        assert recipe.models == (item.spec.model,) and recipe.seeds == (item.spec.seed,)
        assert recipe.train.mixed_precision == "no"  # the launcher's precision, resolved
        expected = (5e-5, 4) if item.spec.model == "resnet18" else (config.train.lr, config.train.batch_size)
        assert (recipe.train.lr, recipe.train.batch_size) == expected
        assert to_dict(recipe)["train"]["lr"] == expected[0]  # what the record stores, unpatched


def test_make_run_id_names_model_and_seed():
    config = resolve_run_config(_config(), "simple_cnn", 2)
    assert make_run_id(RunSpec("simple_cnn", 2), config).startswith("simple_cnn-s2-")


def test_kfold_makes_repeat_and_fold_run_axes_with_their_own_ids():
    config = _config("evaluation.protocol=kfold", "evaluation.folds=3", "evaluation.repeats=2", "seeds=[0]")
    planned = plan_runs(config)
    assert len(planned) == 2 * 3 * 2  # models x folds x repeats x seeds (2 models in _config)
    keys = [(p.spec.model, p.spec.repeat, p.spec.fold) for p in planned]
    assert len(set(keys)) == len(keys) and len({p.run_id for p in planned}) == len(planned)
    assert planned[1].run_id.startswith(f"{planned[1].spec.model}-s0-r0f1-")


def test_sweeps_started_before_new_keys_keep_their_run_ids():
    """A sweep of the old main (tests/fixtures/legacy_runs.jsonl) resumes instead of running again."""
    legacy = [json.loads(line) for line in (FIXTURES / "legacy_runs.jsonl").read_text().splitlines()]
    overrides = [
        "name=legacy", "models=[simple_cnn,study_mobilenet]", "seeds=[0,1,2]", "train.epochs=1",
        "data.image_size=32", "efficiency.iterations=2", "efficiency.warmup=1", "train.batch_size=16",
        "train.scheduler=none", "train.early_stopping_patience=4", "model_options={simple_cnn: {lr: 3.0e-4}}",
    ]  # fmt: skip
    planned = plan_runs(load_config(None, overrides))
    assert [p.run_id for p in planned] == [record["run_id"] for record in legacy]
