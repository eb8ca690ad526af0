"""The deploy config block: off by default, its forms in step with bcbench.deploy, impossible values as one
line naming the key, every key documented in the README's configuration table."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bcbench.config import DeployConfig, load_config
from bcbench.config.schema import DEPLOY_FORMS
from bcbench.deploy import FORMS, DeploySettings
from bcbench.errors import ConfigError
from tests.helpers import REPO, assert_one_line_error


def test_off_by_default_and_the_issue_s_example_loads():
    assert load_config(None, []).deploy == DeployConfig() and DeployConfig().forms == ()
    config = load_config(None, ["deploy.forms=[onnx,onnx_int8]", "deploy.threads=[1,2]"])
    assert config.deploy.forms == ("onnx", "onnx_int8") and config.deploy.threads == (1, 2)
    assert config.deploy.calibration_images == 128


def test_the_forms_are_bcbench_deploy_s():
    assert DEPLOY_FORMS == FORMS
    defaults = DeploySettings()  # the block's defaults are the library's
    block = DeployConfig()
    assert (block.threads, block.batch_size, block.iterations, block.repeats, block.exporter) == (
        defaults.threads, defaults.batch_size, defaults.iterations, defaults.repeats, defaults.exporter,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("deploy.forms=[onnx,tensorrt]", ("deploy.forms", "tensorrt", "onnx_int8")),
        ("deploy.threads=[]", ("deploy.threads",)),
        ("deploy.threads=[0]", ("deploy.threads", "positive")),
        ("deploy.calibration_images=0", ("deploy.calibration_images",)),
        ("deploy.exporter=tflite", ("deploy.exporter",)),
    ],
)
def test_impossible_values_are_one_line_errors(override, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert_one_line_error(error, *fragments)


def test_every_key_has_a_row_in_the_readme():
    table = (REPO / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`deploy\.(\w+)`", table))
    assert documented == {item.name for item in dataclasses.fields(DeployConfig)}
