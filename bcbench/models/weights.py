"""Weights: torchvision's weights API and torch.hub's cache, timm's pretrained weights, local state dicts.

Offline, a missing torchvision file is an error that names the exact path to place it at
(``$TORCH_HOME/hub/checkpoints/<file>``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from bcbench.errors import ModelError
from bcbench.models.heads import find_head, replace_head
from bcbench.models.registry import TIMM_PREFIX, construct, import_timm, short_reason, torchvision_options

_STATE_DICT_WRAPPER_KEYS = ("state_dict", "model")


_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile


_MAX_LISTED = 3


def build_torchvision_pretrained(
    name: str, num_classes: int, weights_name: str, image_size: int
) -> nn.Module:
    weights = resolve_weights(name, weights_name)
    check_fixed_input_size(name, weights, image_size)
    cache_file = weights_cache_path(weights)
    ensure_cached(name, weights, cache_file)
    try:
        model = torchvision.models.get_model(name, weights=weights, progress=False)
    except Exception as exc:
        raise ModelError(
            f"cannot load cached weights {cache_file} for {name} {weights.name} ({short_reason(exc)}); "
            "delete the file so it is downloaded again, or pass a local state-dict path as weights"
        ) from exc
    return replace_head(model, num_classes, current_classes=len(weights.meta["categories"]))


def resolve_weights(name: str, weights_name: str) -> WeightsEnum:
    enum = torchvision.models.get_model_weights(name)
    member = weights_name.strip()
    if member.startswith(f"{enum.__name__}."):
        member = member.removeprefix(f"{enum.__name__}.")
    valid = list(enum.__members__)
    by_upper = {valid_name.upper(): valid_name for valid_name in valid}
    if member.upper() not in by_upper:
        raise ModelError(
            f"unknown weights {weights_name!r} for {name}; valid: {', '.join(valid)} "
            "(or pass a local state-dict path)"
        )
    return enum[by_upper[member.upper()]]


def check_fixed_input_size(name: str, weights: WeightsEnum, image_size: int) -> None:
    """Pretrained transformers are built for the size they were trained at; other sizes fail later."""
    if not torchvision_options(name, image_size).keys() & {"image_size", "input_size"}:
        return
    trained_size = weights.meta["min_size"][0]
    if image_size != trained_size:
        raise ModelError(
            f"weights {name} {weights.name} need image_size {trained_size}, got {image_size}; "
            f"set data.image_size to {trained_size} or build {name} without weights"
        )


def weights_cache_path(weights: WeightsEnum) -> Path:
    """Where torch.hub keeps this weights file: ``$TORCH_HOME/hub/checkpoints/<file name of the url>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def ensure_cached(name: str, weights: WeightsEnum, cache_file: Path) -> None:
    """Download into the cache unless present; any failure becomes a ModelError that says what to do."""
    if cache_file.is_file():
        return
    hash_match = torch.hub.HASH_REGEX.search(cache_file.name)  # torchvision names files <name>-<sha256[:n]>
    hash_prefix = hash_match.group(1) if hash_match else None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weights.url, str(cache_file), hash_prefix=hash_prefix, progress=False)
    except Exception as exc:
        raise ModelError(
            f"weights {name} {weights.name} are not cached and cannot be downloaded ({short_reason(exc)}); "
            f"download {weights.url} and place it at {cache_file}, or pass a local state-dict path as weights"
        ) from exc


def build_timm_pretrained(name: str, num_classes: int, weights_name: str) -> nn.Module:
    if weights_name.strip().upper() not in ("DEFAULT", "PRETRAINED"):
        raise ModelError(
            f"unknown weights {weights_name!r} for {name}; valid: DEFAULT (timm's pretrained weights; "
            "pick a tag in the name, e.g. timm:resnet50.a1_in1k) or a local state-dict path"
        )
    timm = import_timm(name)
    architecture = name.removeprefix(TIMM_PREFIX)
    try:
        return timm.create_model(architecture, pretrained=True, num_classes=num_classes)
    except Exception as exc:
        raise ModelError(
            f"cannot load timm pretrained weights for {architecture} ({short_reason(exc)}); "
            "make them available in the Hugging Face cache, or pass a local state-dict path as weights"
        ) from exc


def build_from_file(name: str, num_classes: int, image_size: int, path: Path) -> nn.Module:
    """Load a local state dict; a head for another class count is loaded, then replaced."""
    state_dict = _read_state_dict(path)
    with torch.device("meta"):  # only to learn the head's name: no memory, no init cost
        head_name, _ = find_head(construct(name, num_classes, image_size), num_classes)
    saved_head = state_dict.get(f"{head_name}.weight")
    saved_classes = int(saved_head.shape[0]) if saved_head is not None and saved_head.ndim else num_classes
    model = construct(name, saved_classes, image_size)
    _load_exactly(model, state_dict, path, name)
    return replace_head(model, num_classes, current_classes=saved_classes)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelError(
            f"weights file {path} does not exist; pass an existing state-dict path "
            "or a torchvision weights name such as DEFAULT"
        )
    try:
        loaded = _load_file(path)
    except Exception as exc:
        raise ModelError(
            f"cannot read weights file {path} ({short_reason(exc)}); "
            "save it with torch.save(model.state_dict(), path)"
        ) from exc
    state_dict = _unwrap_state_dict(loaded)
    if state_dict is None:
        raise ModelError(
            f"weights file {path} holds no state dict (parameter name -> tensor, raw or under "
            f"'state_dict' / 'model'); save it with torch.save(model.state_dict(), path)"
        )
    return _strip_wrapper_prefixes(state_dict)


def _load_file(path: Path) -> object:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def _unwrap_state_dict(loaded: object) -> dict[str, torch.Tensor] | None:
    if isinstance(loaded, Mapping):
        for key in _STATE_DICT_WRAPPER_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not loaded:
        return None
    if not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()):
        return None
    return dict(loaded)


def _strip_wrapper_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in state_dict):
            state_dict = {key.removeprefix(prefix): value for key, value in state_dict.items()}
    return state_dict


def _load_exactly(model: nn.Module, state_dict: dict[str, torch.Tensor], path: Path, name: str) -> None:
    problems = _mismatches(model.state_dict(), state_dict)
    if problems:
        raise ModelError(
            f"weights file {path} does not match model {name}: {problems}; "
            "pass a state dict saved from the same architecture and image_size"
        )
    model.load_state_dict(state_dict)


def _mismatches(expected: Mapping[str, torch.Tensor], saved: Mapping[str, torch.Tensor]) -> str:
    """One line naming the first few missing, unexpected and reshaped keys; empty when they fit."""
    missing = [key for key in expected if key not in saved]
    unexpected = [key for key in saved if key not in expected]
    reshaped = [
        f"{key} is {list(saved[key].shape)} in the file but {list(tensor.shape)} in the model"
        for key, tensor in expected.items()
        if key in saved and saved[key].shape != tensor.shape
    ]
    groups = [("missing", missing), ("unexpected", unexpected), ("with another shape", reshaped)]
    return "; ".join(f"{len(keys)} {label} ({_first_few(keys)})" for label, keys in groups if keys)


def _first_few(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return f"{shown}, ..." if len(items) > _MAX_LISTED else shown
