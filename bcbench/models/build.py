"""Building a model: from scratch, with torchvision or timm pretrained weights, or from a local state dict;
and checking all of that before any training starts."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from bcbench.errors import ModelError
from bcbench.models.registry import (
    REGISTRY,
    TIMM_PREFIX,
    construct,
    looks_like_path,
    resolve_name,
)
from bcbench.models.stems import check_small_input_stem, use_small_input_stem
from bcbench.models.weights import (
    build_from_file,
    build_timm_pretrained,
    build_torchvision_pretrained,
    check_fixed_input_size,
    ensure_cached,
    resolve_weights,
    weights_cache_path,
)


def build_model(
    name: str,
    num_classes: int,
    weights: str | os.PathLike[str] | None = None,
    image_size: int = 224,
    small_input_stem: bool = False,
) -> nn.Module:
    """Build ``name`` for ``num_classes`` classes, optionally with pretrained or local weights.

    ``weights``: ``None``; a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT``, or
    ``ResNet101_Weights.IMAGENET1K_V1``); or a path to a state dict (raw, or under ``state_dict`` /
    ``model``). ``small_input_stem``: torchvision ResNets get a 3x3 stride-1 stem without max-pool
    (after any weights are loaded; the new stem is freshly initialised). Raises ModelError with a
    one-line message for anything the user can fix.
    """
    model = _build(name, num_classes, weights, image_size)
    return use_small_input_stem(model, name) if small_input_stem else model


def _build(name: str, num_classes: int, weights: str | os.PathLike[str] | None, image_size: int) -> nn.Module:
    if num_classes < 1 or image_size < 1:
        raise ModelError(
            f"model {name!r} needs num_classes >= 1 and image_size >= 1, got {num_classes} and {image_size}"
        )
    canonical = resolve_name(name)
    if weights is None or str(weights).strip() == "":
        return construct(canonical, num_classes, image_size)
    if looks_like_path(weights):
        return build_from_file(canonical, num_classes, image_size, Path(weights))
    if canonical in REGISTRY:
        raise ModelError(
            f"model {canonical!r} has no pretrained weights named {str(weights)!r}; "
            "pass a local state-dict path as weights or leave weights empty"
        )
    if canonical.startswith(TIMM_PREFIX):
        return build_timm_pretrained(canonical, num_classes, str(weights))
    return build_torchvision_pretrained(canonical, num_classes, str(weights), image_size)


def check_model(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    image_size: int = 224,
    small_input_stem: bool = False,
) -> None:
    """Fail fast (before any training) on an unknown model, unknown weights or uncached weights.

    Cheap: nothing is built (a ResNet stem is checked on the meta device); pretrained weights are only
    located (and downloaded if possible).
    """
    canonical = resolve_name(name)
    if small_input_stem:
        check_small_input_stem(name, lambda: construct(canonical, 2, image_size))
    if weights is None or str(weights).strip() == "":
        return
    if looks_like_path(weights):
        if not Path(weights).expanduser().is_file():
            raise ModelError(f"weights file {weights} for model {name!r} does not exist; fix the path")
        return
    if canonical in REGISTRY:
        raise ModelError(
            f"model {canonical!r} has no pretrained weights named {str(weights)!r}; "
            "pass a local state-dict path as weights or leave weights empty"
        )
    if canonical.startswith(TIMM_PREFIX):
        return
    resolved = resolve_weights(canonical, str(weights))
    check_fixed_input_size(canonical, resolved, image_size)
    ensure_cached(canonical, resolved, weights_cache_path(resolved))
