"""Typed blocks that read and write plain JSON: ``to_json`` / ``from_json`` for dataclasses.

A block is a dataclass that inherits ``JsonBlock``. ``from_json`` fills declared fields (nested blocks,
lists and dicts of blocks included), leaves absent ones at their defaults, so records written by
older versions load, and keeps keys it does not know in ``extra``, so records written by newer
versions survive a load-and-save unchanged. ``to_json`` writes every declared field, then ``extra``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

Block = TypeVar("Block", bound="JsonBlock")


class JsonBlock:
    """Base of the record's typed blocks (use with ``@dataclass``; declare ``extra`` last)."""

    extra: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            if item.name != "extra":
                out[item.name] = _to_json(getattr(self, item.name))
        for key, value in (getattr(self, "extra", None) or {}).items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_json(cls: type[Block], data: Mapping[str, Any]) -> Block:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} needs a JSON object, got {type(data).__name__}")
        hints = _hints(cls)
        declared = {item.name for item in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values = {name: _from_json(hints[name], data[name]) for name in declared if name in data}
        unknown = {key: value for key, value in data.items() if key not in declared}
        if "extra" in declared:
            values["extra"] = {**(values.get("extra") or {}), **unknown}
        return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _to_json(value: Any) -> Any:
    if isinstance(value, JsonBlock):
        return value.to_json()
    if isinstance(value, Mapping):
        return {str(key): _to_json(child) for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(child) for child in value]
    return value


def _from_json(hint: Any, value: Any) -> Any:
    """``value`` converted to ``hint`` where the hint names blocks; other values pass through."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        blocks = [arg for arg in args if _is_block(arg)]
        if blocks and isinstance(value, Mapping):
            return blocks[0].from_json(value)
        return value
    if _is_block(hint):
        return hint.from_json(value)
    if origin is list and args and _is_block(args[0]) and isinstance(value, list):
        return [args[0].from_json(child) for child in value]
    if origin is dict and len(args) == 2 and _is_block(args[1]) and isinstance(value, Mapping):
        return {key: args[1].from_json(child) for key, child in value.items()}
    return value


def _is_block(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, JsonBlock)


def json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: store them as null (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): json_safe(child) for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(child) for child in value]
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """The leaves of nested mappings, keyed by their dotted paths (lists are leaves)."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, child in value.items():
        out.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    return out
