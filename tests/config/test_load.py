"""Config loading: defaults, shipped configs, overrides, strict keys, one-line errors."""

from pathlib import Path

import pytest

from bcbench.config import Config, build, load_config, to_dict
from bcbench.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_defaults_are_the_study_recipe():
    config = load_config()
    assert config.train.optimizer == "adam"
    assert (config.train.step_size, config.train.gamma) == (7, 0.1)
    assert (config.train.batch_size, config.train.epochs) == (8, 20)
    assert (config.train.early_stopping_patience, config.train.min_epochs) == (2, 5)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.models and config.seeds


def test_study_config_reproduces_the_protocol():
    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "study.yaml")
    assert config.models == ("simple_cnn", "study_mobilenet", "resnet101")
    assert config.data.preprocess == "shorter_crop"
    assert (config.data.resize_shorter, config.data.image_size) == (256, 224)
    assert config.options_for("resnet101").weights == "IMAGENET1K_V1"
    assert config.options_for("resnet101").lr == 5e-5
    assert config.options_for("simple_cnn").lr == 1e-3
    assert config.augment.mode == "study"
    assert config.train.batch_size == 8


def test_overrides_beat_file_and_are_typed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 4\n  lr: 1.0e-3\nseeds: [1, 2]\n")
    config = load_config(path, ["train.epochs=2", "train.lr=1e-4", "models=[simple_cnn]", "seeds=[5]"])
    assert config.train.epochs == 2
    assert config.train.lr == pytest.approx(1e-4)  # YAML 1.1 reads 1e-4 as a string: coerced
    assert config.models == ("simple_cnn",)
    assert config.seeds == (5,)


def test_nested_model_options_override():
    config = load_config(None, ["model_options.resnet18.lr=0.01", "models=[resnet18]"])
    assert config.options_for("resnet18").lr == 0.01
    assert config.options_for("other").lr is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "did you mean 'train.lr'"),
        ("trian.lr=1", "did you mean 'train'"),
        ("train.epochs=three", "must be of type int"),
        ("train.batch_size=0", "'train.batch_size' must be positive"),
        ("train.lr=-0.1", "'train.lr' must be positive"),
        ("train.mixed_precision=fp8", "must be one of"),
        ("data.test_fraction=1.5", "'data.test_fraction' must be in [0, 1)"),
        ("augment.hflip_p=2", "must be a probability"),
        ("models=[]", "at least one model"),
        ("train.epochs", "must look like key=value"),
    ],
)
def test_bad_values_are_one_clear_error(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listing)


def test_to_dict_round_trips():
    config = load_config(
        None, ["models=[simple_cnn]", "model_options.simple_cnn.lr=0.5", "axes={train.lr: [1, 2]}"]
    )
    assert build(Config, to_dict(config), "") == config
    assert to_dict(config)["axes"] == {"train.lr": [1, 2]}


def test_yaml_words_read_as_booleans_are_given_back_for_choices():
    # YAML 1.1 reads `no` as False: train.mixed_precision=no must still mean "no"
    assert load_config(None, ["train.mixed_precision=no"]).train.mixed_precision == "no"
    assert load_config(None, ["train.deterministic=no"]).train.deterministic is False


def test_the_old_efficiency_key_is_read_as_cost_with_a_note(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("efficiency:\n  iterations: 7\n  enabled: true\n")
    with pytest.warns(FutureWarning, match="'efficiency' is now 'cost'"):
        config = load_config(path, ["efficiency.enabled=false"])
    assert (config.cost.iterations, config.cost.enabled) == (7, False)
    with pytest.warns(FutureWarning):
        both = load_config(None, ["efficiency.iterations=3", "cost.iterations=5"])
    assert both.cost.iterations == 5  # the new name wins


def test_every_shipped_config_uses_the_current_names(recwarn):
    for path in CONFIGS:
        load_config(path)
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def test_list_keys_take_comma_lists_and_seed_ranges():
    config = load_config(None, ["models=simple_cnn,resnet18", "seeds=0..4"])
    assert config.models == ("simple_cnn", "resnet18") and config.seeds == (0, 1, 2, 3, 4)
    assert load_config(None, ["seeds=[3]"]).seeds == (3,)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("seeds=3", ["seeds=[3] runs seed 3", "seeds=0..2"]),
        ("models=[simple_cnn", ["not a complete list", "'models=[simple_cnn,resnet18]'"]),
    ],
)
def test_ambiguous_or_broken_overrides_are_one_line_errors(override, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert "\n" not in str(error.value) and all(f in str(error.value) for f in fragments)


def test_a_yaml_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmodels: [simple_cnn, resnet18\nseeds: [0]\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert message.startswith(
        f"config file {path} is not valid YAML at line 3, column 6: expected ',' or ']'"
    )
    assert "\n" not in message and "<unicode string>" not in message
