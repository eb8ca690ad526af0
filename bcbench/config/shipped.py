"""The configs and split files that ship with bcbench, found the same way installed or in a checkout.

The repository keeps them in its top-level ``configs/`` folder (users and the README name
``configs/study.yaml``); ``pyproject.toml`` maps that folder into the wheel as the package data
``bcbench/configs``. So an installed bcbench reads them through ``importlib.resources`` from inside
the package, and a checkout (on ``PYTHONPATH`` or installed editable) reads the folder beside the
package: there is one copy of every file either way.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from bcbench.errors import ConfigError

CHECKOUT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CONFIG_SUFFIXES = (".yaml", ".yml")


def shipped_configs_dir() -> Path:
    """``bcbench/configs`` inside an installed package, else the checkout's ``configs/`` folder."""
    installed = importlib.resources.files("bcbench").joinpath("configs")
    # bcbench is a regular package on disk (wheels install unzipped), so the Traversable is a real path
    return Path(str(installed)) if installed.is_dir() else CHECKOUT_CONFIGS


def shipped_config_names() -> list[str]:
    """The names ``--config`` accepts for the shipped configs (``default``, ``study``, ...)."""
    return sorted(path.stem for path in shipped_configs_dir().glob("*.yaml"))


def default_config_path() -> Path | None:
    """The shipped ``default.yaml`` (the default job); None where it is missing: built-in defaults."""
    path = shipped_configs_dir() / "default.yaml"
    return path if path.is_file() else None


def resolve_config_file(given: str | Path) -> Path:
    """The file ``--config`` names: a bare name (no folder, no suffix) is the shipped config of that name
    (else a file of that name in the working directory); anything else is a path."""
    path = Path(given).expanduser()
    if _is_bare_name(str(given)):
        shipped = shipped_configs_dir() / f"{given}.yaml"
        if shipped.is_file():
            return shipped
        if path.is_file():
            return path
        raise ConfigError(
            f"--config {given}: no shipped config of that name and no such file; shipped configs: "
            f"{', '.join(shipped_config_names())}, or pass the path of a YAML file"
        )
    if not path.is_file() and path.stem in shipped_config_names():
        raise ConfigError(f"config file {path} does not exist; the shipped one is --config {path.stem}")
    return path


def _is_bare_name(given: str) -> bool:
    return bool(given) and "/" not in given and "\\" not in given and Path(given).suffix == ""
