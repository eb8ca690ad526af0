"""Model registry: the study's own networks, any torchvision classifier by name, timm when installed.

``build_model(name, num_classes, weights, image_size)`` is the only entry point the harness needs:

- registry names (``simple_cnn``, ``study_mobilenet``) are small builders ``(num_classes, image_size)``;
- any torchvision classification model name (``resnet101``, ``mobilenet_v3_small``, ...);
- ``timm:<name>`` when timm is importable.

``weights`` is ``None`` (random init), a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT``),
resolved through torchvision's weights API and torch.hub's cache (``$TORCH_HOME/hub/checkpoints``),
or a path to a local state dict (see ``bcbench.models.weights``). Pretrained classifiers get their head
replaced for ``num_classes``.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torchvision
from torch import nn

from bcbench.errors import ModelError

ModelBuilder = Callable[[int, int], nn.Module]


TIMM_PREFIX = "timm:"


REGISTRY: dict[str, ModelBuilder] = {}


_WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


def register(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register ``builder(num_classes, image_size) -> nn.Module`` under ``name``."""

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        if name in REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        REGISTRY[name] = builder
        return builder

    return decorator


def available_models() -> list[str]:
    """Registry names, then every torchvision classification model name (``timm:<name>`` also works)."""
    return sorted(REGISTRY) + _torchvision_names()


def _torchvision_names() -> list[str]:
    return torchvision.models.list_models(module=torchvision.models)


def resolve_name(name: str) -> str:
    """Canonical model name, or ModelError with close matches."""
    if name.startswith(TIMM_PREFIX):
        return _resolve_timm_name(name)
    canonical = name.strip().lower()
    if canonical in REGISTRY or canonical in _torchvision_names():
        return canonical
    matches = difflib.get_close_matches(canonical, available_models(), n=3)
    hint = f"did you mean {', '.join(matches)}? " if matches else ""
    raise ModelError(f"unknown model {name!r}; {hint}(see bcbench models for the list)")


def import_timm(name: str) -> ModuleType:
    try:
        return importlib.import_module("timm")
    except ImportError as exc:
        raise ModelError(f"model {name!r} needs timm, which is not installed; pip install timm") from exc


def _resolve_timm_name(name: str) -> str:
    timm = import_timm(name)
    architecture = name.removeprefix(TIMM_PREFIX)
    if not timm.is_model(architecture):
        matches = difflib.get_close_matches(architecture, timm.list_models(), n=3)
        hint = f"did you mean {', '.join(TIMM_PREFIX + match for match in matches)}? " if matches else ""
        raise ModelError(f"unknown timm model {architecture!r}; {hint}(see timm.list_models())")
    return name


def construct(name: str, num_classes: int, image_size: int) -> nn.Module:
    """A randomly initialised ``name`` with ``num_classes`` outputs (name already resolved)."""
    if name in REGISTRY:
        return REGISTRY[name](num_classes, image_size)
    if name.startswith(TIMM_PREFIX):
        timm = import_timm(name)
        architecture = name.removeprefix(TIMM_PREFIX)
        return _guarded_build(name, lambda: timm.create_model(architecture, num_classes=num_classes))
    options = torchvision_options(name, image_size)
    return _guarded_build(
        name, lambda: torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)
    )


def torchvision_options(name: str, image_size: int) -> dict[str, object]:
    """Builder arguments some architectures need when built from scratch."""
    if name.startswith("vit_"):  # position embeddings are sized for the input
        return {"image_size": image_size}
    if name.startswith("maxvit_"):  # window partitions are sized for the input
        return {"input_size": (image_size, image_size)}
    if name in ("googlenet", "inception_v3"):
        # Auxiliary heads would make training return a tuple; init_weights=True is torchvision's
        # current default, passed to silence its FutureWarning. Pretrained builds drop them too.
        return {"aux_logits": False, "init_weights": True}
    return {}


def _guarded_build(name: str, build: Callable[[], nn.Module]) -> nn.Module:
    try:
        return build()
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"cannot build model {name!r} ({short_reason(exc)}); check image_size and num_classes"
        ) from exc


def short_reason(exc: BaseException, limit: int = 200) -> str:
    """First line of an exception, short enough for a one-line message."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def looks_like_path(weights: str | os.PathLike[str]) -> bool:
    text = os.fspath(weights)
    return (
        isinstance(weights, os.PathLike)
        or "/" in text
        or os.sep in text
        or text.lower().endswith(_WEIGHT_FILE_SUFFIXES)
        or Path(text).exists()
    )
