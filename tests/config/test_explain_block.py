"""The ``explain`` block: off by default, its keys checked as one-line errors before anything trains."""

from __future__ import annotations

import typing

import pytest

from bcbench.config import ExplainConfig, load_config
from bcbench.errors import ConfigError
from bcbench.explain import METHODS, ExplainSettings
from tests.helpers import assert_one_line_error


def test_explain_is_off_by_default_and_knows_the_methods_bcbench_has() -> None:
    block = load_config(None, []).explain
    assert block == ExplainConfig() and block.enabled is False
    assert block.methods == METHODS
    assert typing.get_args(typing.get_type_hints(ExplainConfig)["methods"])[0] == typing.Literal[METHODS]
    settings_fields = set(ExplainSettings.__dataclass_fields__)
    assert {"methods", "target", "tolerance_px", "top_percent", "randomised", "batch_size"} <= settings_fields


def test_a_per_model_layer_and_lists_are_read() -> None:
    block = load_config(
        None, ["explain.enabled=true", "explain.layers={resnet18: layer3}", "explain.top_percent=[1, 50]"]
    ).explain
    assert block.layers == {"resnet18": "layer3"} and block.top_percent == (1.0, 50.0)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("explain.methods=[gradcam, lime]", ("explain.methods[1]", "'gradcam', 'hirescam'", "lime")),
        ("explain.methods=[]", ("explain.methods", "at least one")),
        ("explain.target=largest", ("explain.target", "true_class")),
        ("explain.top_percent=[0]", ("explain.top_percent", "(0, 100]")),
        ("explain.tolerance_px=-1", ("explain.tolerance_px", "negative")),
        ("explain.maps_size=0", ("explain.maps_size", "positive")),
        ("explain.layer=layer4", ("explain.layer", "did you mean 'explain.layers'")),
    ],
)
def test_bad_explain_keys_are_one_line_errors(override: str, fragments: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert_one_line_error(error, *fragments)
