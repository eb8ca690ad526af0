"""Loading a config: defaults < YAML file < ``key=value`` overrides, strictly.

Unknown keys are errors that name the closest valid key; values are checked against the field's type,
then by the block's own ``check``. Hand-written rather than a schema library's because the hint for a
mistyped key (the closest valid key, in dotted form) is what users need and none of them gives it.
Keys renamed since an earlier version (``RENAMED_KEYS``) are still read, with a one-line note.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml

from bcbench.config.schema import Config, join_key
from bcbench.config.shipped import resolve_config_file
from bcbench.errors import ConfigError
from bcbench.serial import flatten


def to_dict(config: Any) -> Any:
    """Plain, JSON-friendly dict of a config (tuples become lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {key: to_dict(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(value) for value in config]
    return config


RENAMED_KEYS = {"efficiency": "cost"}  # old top-level key -> its name now


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the YAML file at ``path`` (or the shipped config of that name: ``"study"``), then
    ``key=value`` overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(resolve_config_file(path))
    for override in overrides:
        key, value = _parse_override(override)
        set_dotted(raw, key, value)
    return build_config(raw)


def build_config(raw: dict[str, Any]) -> Config:
    """A ``Config`` from a plain mapping (renamed keys read under their new names)."""
    return build(Config, renamed_keys_moved(raw), "")


def renamed_keys_moved(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with each old top-level key (``RENAMED_KEYS``) merged under its new name, noted once."""
    raw = dict(raw)
    for old, new in RENAMED_KEYS.items():
        if old not in raw:
            continue
        value = raw.pop(old)
        warnings.warn(
            f"config key {old!r} is now {new!r} ({old}.enabled -> {new}.enabled); the old name still works "
            "for now: rename it in your config",
            FutureWarning,
            stacklevel=3,
        )
        current = raw.get(new)
        raw[new] = {**value, **current} if isinstance(value, dict) and isinstance(current, dict) else value
    return raw


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file to --config")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(yaml_error_message(path, error)) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(loaded).__name__}")
    return loaded


def yaml_error_message(path: Path, error: yaml.YAMLError) -> str:
    """One line naming the file, the line and column, and what the parser expected there."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return f"config file {path} is not valid YAML{where}: {detail}"


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value, e.g. train.epochs=3")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        if value.strip().startswith(("[", "{")):
            raise ConfigError(
                f"override {text!r} is not a complete list or mapping (an unclosed bracket?); write it whole "
                "and quote it for the shell, e.g. 'models=[simple_cnn,resnet18]'"
            ) from None
        parsed = value
    return key.strip(), parsed


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings, creating the missing ones (``build`` then rejects unknown keys
    with a hint, so a mistyped dotted key is caught there)."""
    parts = dotted.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass ``cls`` from mapping ``raw``, rejecting unknown keys and bad types."""
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            raise ConfigError(_unknown_key_message(where, str(key), names))
    values = {key: _coerce(hints[key], value, join_key(where, key)) for key, value in raw.items()}
    instance = cls(**values)
    if hasattr(instance, "check"):
        instance.check(where)
    return instance


def _unknown_key_message(where: str, key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    hint = f"did you mean {join_key(where, close[0])!r}?" if close else f"valid keys: {', '.join(names)}"
    return f"unknown config key {join_key(where, key)!r}; {hint}"


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against type ``hint``; convert where the meaning is unambiguous."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, {} if value is None else value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is Literal:
        value = _yaml11_word(value, args)
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"config key {where!r} must be one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        items = _as_list(value, args[0], where)
        return tuple(_coerce(args[0], item, f"{where}[{i}]") for i, item in enumerate(items))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {where!r} must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, join_key(where, str(k))) for k, v in value.items()}
    return _coerce_scalar(hint, value, where)


RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")


def _as_list(value: Any, item_type: Any, where: str) -> list[Any]:
    """The items of a list-valued key: a list; ``a..b`` (integers a to b, both included); a comma-separated
    string (``models=simple_cnn,resnet18``); one other value as a list of one, but for ``seeds``, where a
    lone number would be ambiguous (one seed, or how many?)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and item_type is int and RANGE.match(value):
        low, high = (int(part) for part in RANGE.match(value).groups())
        return list(range(low, high + 1))
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    if where == "seeds" and isinstance(value, int) and not isinstance(value, bool):
        raise ConfigError(
            f"config key 'seeds' is a list of seeds, got {value!r}: seeds=[{value}] runs seed {value}, "
            f"seeds=0..{max(value - 1, 0)} runs seeds 0 to {max(value - 1, 0)}"
        )
    if isinstance(value, (str, int, float)):
        return [value]
    raise ConfigError(f"config key {where!r} must be a list, got {value!r}")


def _yaml11_word(value: Any, choices: tuple[Any, ...]) -> Any:
    """YAML 1.1 reads the words no/off and yes/on as booleans: give a choice of words its word back."""
    if not isinstance(value, bool) or value in choices:
        return value
    words = ("yes", "on", "true") if value else ("no", "off", "false")
    return next((choice for choice in choices if choice in words), value)


def _coerce_scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        return value
    raise ConfigError(f"config key {where!r} must be of type {hint.__name__}, got {value!r}")


# what only adds runs (models, seeds, swept axes) or only says how to run them: not part of an experiment
NOT_THE_EXPERIMENT = (
    "name",
    "output_dir",
    "models",
    "seeds",
    "axes",
    "strategy",
    "tracking",
    "threads",
    "queue",
)


def experiment_keys(config: Config) -> dict[str, Any]:
    """The settings that must be the same for runs to be one experiment, flattened to dotted keys: the
    data, the recipe, the evaluation, what is measured; not the models, seeds and axes that only add runs,
    nor how the runs are run."""
    values = {key: value for key, value in to_dict(config).items() if key not in NOT_THE_EXPERIMENT}
    return flatten(values)


def stored_experiment(path: Path) -> dict[str, Any] | None:
    """``experiment_keys`` of a config file a sweep folder stored; None when it is missing or cannot be
    read (written by a newer bcbench, or damaged)."""
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # an older folder's renamed keys are fine here
            return experiment_keys(build_config(yaml.safe_load(path.read_text()) or {}))
    except (ConfigError, yaml.YAMLError, TypeError, ValueError):
        return None


def experiment_differences(
    mine: dict[str, Any], theirs: dict[str, Any] | None, limit: int | None = 3
) -> list[str]:
    """The dotted keys whose values differ, as ``key: theirs -> mine`` (the first ``limit``)."""
    if theirs is None:
        return ["its config.yaml is missing or unreadable"]
    keys = [key for key in dict.fromkeys([*theirs, *mine]) if theirs.get(key) != mine.get(key)]
    return [f"{key}: {theirs.get(key)!r} -> {mine.get(key)!r}" for key in keys[:limit]]
