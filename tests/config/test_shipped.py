"""``--config NAME`` reads the shipped config, ``--config PATH`` the file, an unknown name is one line that
lists the names; the shipped folder is the package's own data when installed, the checkout's otherwise."""

from __future__ import annotations

import importlib.resources
import re

import pytest

from bcbench.cli.common import config_help
from bcbench.config import (
    default_config_path,
    load_config,
    resolve_config_file,
    shipped_config_names,
    shipped_configs_dir,
    to_dict,
)
from bcbench.errors import ConfigError
from tests.helpers import REPO, assert_one_line_error

CHECKOUT_CONFIGS = REPO / "configs"


def test_a_checkout_reads_its_own_configs_folder():
    assert shipped_configs_dir() == CHECKOUT_CONFIGS
    assert default_config_path() == CHECKOUT_CONFIGS / "default.yaml"
    assert shipped_config_names() == sorted(path.stem for path in CHECKOUT_CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", sorted(CHECKOUT_CONFIGS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_config_is_found_by_its_name(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # another working directory: no configs/ folder in sight
    assert resolve_config_file(path.stem) == path
    assert to_dict(load_config(path.stem)) == to_dict(load_config(path))


def test_a_path_is_read_as_a_path_even_when_named_like_a_shipped_config(tmp_path, monkeypatch):
    (tmp_path / "study.yaml").write_text("name: mine\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_file("study.yaml").resolve() == (tmp_path / "study.yaml").resolve()
    assert load_config("study.yaml").name == "mine"
    assert load_config("study").name == "study"  # the bare name is the shipped one


def test_a_bare_name_that_is_not_shipped_may_be_a_file_of_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "experiment").write_text("name: local\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("experiment").name == "local"


def test_an_unknown_name_is_one_line_listing_the_shipped_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_config("studdy")
    names = sorted(path.stem for path in CHECKOUT_CONFIGS.glob("*.yaml"))
    assert_one_line_error(error, "--config studdy", "no shipped config", ", ".join(names))


def test_a_checkout_path_from_elsewhere_points_to_the_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_config("configs/study.yaml")
    assert_one_line_error(error, "configs/study.yaml does not exist", "--config study")


def test_an_installed_package_reads_the_configs_inside_it(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "bcbench"
    (package / "configs").mkdir(parents=True)
    (package / "configs" / "only.yaml").write_text("name: installed\n")
    monkeypatch.setattr(importlib.resources, "files", lambda name: {"bcbench": package}[name])
    assert shipped_configs_dir() == package / "configs"
    assert shipped_config_names() == ["only"]
    assert load_config("only").name == "installed"


def test_the_help_names_every_shipped_config():
    listed = re.search(r"by name: ([\w, -]+) \(", config_help()).group(1).split(", ")
    assert listed == sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))
