"""Model registry: the study's own networks, any torchvision classifier by name, timm when installed.

``build_model(name, num_classes, weights, image_size)`` is the only entry point the harness needs:

- registry names (``simple_cnn``, ``study_mobilenet``) are small builders ``(num_classes, image_size)``;
- any torchvision classification model name (``resnet101``, ``mobilenet_v3_small``, ...);
- ``timm:<name>`` when timm is importable.

``weights`` is ``None`` (random init), a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT``),
resolved through torchvision's weights API and torch.hub's cache (``$TORCH_HOME/hub/checkpoints``),
or a path to a local state dict. Pretrained classifiers get their head replaced for ``num_classes``.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from bcbench.errors import ModelError

ModelBuilder = Callable[[int, int], nn.Module]

TIMM_PREFIX = "timm:"
IMAGENET_CLASSES = 1000
_REGISTRY: dict[str, ModelBuilder] = {}
_STATE_DICT_WRAPPER_KEYS = ("state_dict", "model")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile
_WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")
_MAX_LISTED = 3


# --------------------------------------------------------------------------- registry


def register(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register ``builder(num_classes, image_size) -> nn.Module`` under ``name``."""

    def decorator(builder: ModelBuilder) -> ModelBuilder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return decorator


def available_models() -> list[str]:
    """Registry names, then every torchvision classification model name (``timm:<name>`` also works)."""
    return sorted(_REGISTRY) + _torchvision_names()


def _torchvision_names() -> list[str]:
    return torchvision.models.list_models(module=torchvision.models)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Return ``(total, trainable)`` parameter counts; shared parameters count once."""
    parameters = list(model.parameters())
    total = sum(parameter.numel() for parameter in parameters)
    trainable = sum(parameter.numel() for parameter in parameters if parameter.requires_grad)
    return total, trainable


# --------------------------------------------------------------------------- the study's networks


def _conv_output_size(size: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class SimpleCNN(nn.Module):
    """The study's custom CNN: two conv/ReLU/max-pool stages, then a three-layer MLP with dropout."""

    def __init__(self, num_classes: int, image_size: int = 224) -> None:
        super().__init__()
        side = image_size // 2 // 2
        if side < 1:
            raise ModelError(f"simple_cnn needs image_size >= 4, got {image_size}; raise data.image_size")
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * side * side, 512),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(512, 128),
            nn.ReLU(),
            nn.Dropout(0.25),
            nn.Linear(128, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


class DepthwiseSeparable(nn.Sequential):
    """Depthwise 3x3 conv (no norm or activation after it), then pointwise 1x1 conv + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels),
            nn.Conv2d(in_channels, out_channels, 1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class StudyMobileNet(nn.Module):
    """The study's from-scratch MobileNet-v1-like network with a large fully connected head."""

    blocks = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2))  # (in, out, stride)

    def __init__(self, num_classes: int, image_size: int = 224) -> None:
        super().__init__()
        side = _conv_output_size(image_size, stride=2)
        layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU()]
        for in_channels, out_channels, stride in self.blocks:
            layers.append(DepthwiseSeparable(in_channels, out_channels, stride))
            side = _conv_output_size(side, stride=stride)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * side * side, 1024),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(1024, num_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


@register("simple_cnn")
def simple_cnn(num_classes: int, image_size: int = 224) -> nn.Module:
    return SimpleCNN(num_classes, image_size)


@register("study_mobilenet")
def study_mobilenet(num_classes: int, image_size: int = 224) -> nn.Module:
    return StudyMobileNet(num_classes, image_size)


# --------------------------------------------------------------------------- heads


def find_head(model: nn.Module, num_outputs: int) -> tuple[str, nn.Module]:
    """The classifier: the last Linear (or 1x1 Conv2d, as in SqueezeNet) with ``num_outputs`` outputs."""
    head: tuple[str, nn.Module] | None = None
    for name, module in model.named_modules():
        if _output_count(module) == num_outputs:
            head = (name, module)
    if head is None:
        raise ModelError(
            f"cannot find a classifier layer with {num_outputs} outputs in {type(model).__name__}; "
            "use a model whose head is a Linear layer or build it with the wanted num_classes"
        )
    return head


def _output_count(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.groups == 1:
        return module.out_channels
    return None


def replace_head(model: nn.Module, num_classes: int, current_classes: int = IMAGENET_CLASSES) -> nn.Module:
    """Swap the classifier layer with ``current_classes`` outputs for a fresh one with ``num_classes``.

    The new layer keeps the old one's inputs, bias, device and dtype. Returns the same model.
    """
    if num_classes == current_classes:
        return model
    name, old_head = find_head(model, current_classes)
    parent_name, _, child_name = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child_name, _fresh_head(old_head, num_classes))
    if isinstance(getattr(model, "num_classes", None), int):
        model.num_classes = num_classes
    return model


def _fresh_head(old_head: nn.Module, num_classes: int) -> nn.Module:
    factory = {"device": old_head.weight.device, "dtype": old_head.weight.dtype}
    has_bias = old_head.bias is not None
    if isinstance(old_head, nn.Linear):
        return nn.Linear(old_head.in_features, num_classes, bias=has_bias, **factory)
    return nn.Conv2d(old_head.in_channels, num_classes, kernel_size=1, bias=has_bias, **factory)


# --------------------------------------------------------------------------- names


def _resolve_name(name: str) -> str:
    """Canonical model name, or ModelError with close matches."""
    if name.startswith(TIMM_PREFIX):
        return _resolve_timm_name(name)
    canonical = name.strip().lower()
    if canonical in _REGISTRY or canonical in _torchvision_names():
        return canonical
    matches = difflib.get_close_matches(canonical, available_models(), n=3)
    hint = f"did you mean {', '.join(matches)}? " if matches else ""
    raise ModelError(f"unknown model {name!r}; {hint}(see bcbench models for the list)")


def _import_timm(name: str) -> ModuleType:
    try:
        return importlib.import_module("timm")
    except ImportError as exc:
        raise ModelError(f"model {name!r} needs timm, which is not installed; pip install timm") from exc


def _resolve_timm_name(name: str) -> str:
    timm = _import_timm(name)
    architecture = name.removeprefix(TIMM_PREFIX)
    if not timm.is_model(architecture):
        matches = difflib.get_close_matches(architecture, timm.list_models(), n=3)
        hint = f"did you mean {', '.join(TIMM_PREFIX + match for match in matches)}? " if matches else ""
        raise ModelError(f"unknown timm model {architecture!r}; {hint}(see timm.list_models())")
    return name


# --------------------------------------------------------------------------- construction


def _construct(name: str, num_classes: int, image_size: int) -> nn.Module:
    """A randomly initialised ``name`` with ``num_classes`` outputs (name already resolved)."""
    if name in _REGISTRY:
        return _REGISTRY[name](num_classes, image_size)
    if name.startswith(TIMM_PREFIX):
        timm = _import_timm(name)
        architecture = name.removeprefix(TIMM_PREFIX)
        return _guarded_build(name, lambda: timm.create_model(architecture, num_classes=num_classes))
    options = _torchvision_options(name, image_size)
    return _guarded_build(
        name, lambda: torchvision.models.get_model(name, weights=None, num_classes=num_classes, **options)
    )


def _torchvision_options(name: str, image_size: int) -> dict[str, object]:
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
            f"cannot build model {name!r} ({_reason(exc)}); check image_size and num_classes"
        ) from exc


def _reason(exc: BaseException, limit: int = 200) -> str:
    """First line of an exception, short enough for a one-line message."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def build_model(
    name: str,
    num_classes: int,
    weights: str | os.PathLike[str] | None = None,
    image_size: int = 224,
) -> nn.Module:
    """Build ``name`` for ``num_classes`` classes, optionally with pretrained or local weights.

    ``weights``: ``None``; a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT``, or
    ``ResNet101_Weights.IMAGENET1K_V1``); or a path to a state dict (raw, or under ``state_dict`` /
    ``model``). Raises ModelError with a one-line message for anything the user can fix.
    """
    if num_classes < 1 or image_size < 1:
        raise ModelError(
            f"model {name!r} needs num_classes >= 1 and image_size >= 1, got {num_classes} and {image_size}"
        )
    canonical = _resolve_name(name)
    if weights is None or str(weights).strip() == "":
        return _construct(canonical, num_classes, image_size)
    if _looks_like_path(weights):
        return _build_from_file(canonical, num_classes, image_size, Path(weights))
    if canonical in _REGISTRY:
        raise ModelError(
            f"model {canonical!r} has no pretrained weights named {str(weights)!r}; "
            "pass a local state-dict path as weights or leave weights empty"
        )
    if canonical.startswith(TIMM_PREFIX):
        return _build_timm_pretrained(canonical, num_classes, str(weights))
    return _build_torchvision_pretrained(canonical, num_classes, str(weights), image_size)


def check_model(name: str, weights: str | os.PathLike[str] | None = None, image_size: int = 224) -> None:
    """Fail fast (before any training) on an unknown model, unknown weights or uncached weights.

    Cheap: nothing is built; pretrained weights are only located (and downloaded if possible).
    """
    canonical = _resolve_name(name)
    if weights is None or str(weights).strip() == "":
        return
    if _looks_like_path(weights):
        if not Path(weights).expanduser().is_file():
            raise ModelError(f"weights file {weights} for model {name!r} does not exist; fix the path")
        return
    if canonical in _REGISTRY:
        raise ModelError(
            f"model {canonical!r} has no pretrained weights named {str(weights)!r}; "
            "pass a local state-dict path as weights or leave weights empty"
        )
    if canonical.startswith(TIMM_PREFIX):
        return
    resolved = _resolve_weights(canonical, str(weights))
    _check_fixed_input_size(canonical, resolved, image_size)
    _ensure_cached(canonical, resolved, _cache_file(resolved))


def _looks_like_path(weights: str | os.PathLike[str]) -> bool:
    text = os.fspath(weights)
    return (
        isinstance(weights, os.PathLike)
        or "/" in text
        or os.sep in text
        or text.lower().endswith(_WEIGHT_FILE_SUFFIXES)
        or Path(text).exists()
    )


# --------------------------------------------------------------------------- torchvision weights


def _build_torchvision_pretrained(
    name: str, num_classes: int, weights_name: str, image_size: int
) -> nn.Module:
    weights = _resolve_weights(name, weights_name)
    _check_fixed_input_size(name, weights, image_size)
    cache_file = _cache_file(weights)
    _ensure_cached(name, weights, cache_file)
    try:
        model = torchvision.models.get_model(name, weights=weights, progress=False)
    except Exception as exc:
        raise ModelError(
            f"cannot load cached weights {cache_file} for {name} {weights.name} ({_reason(exc)}); "
            "delete the file so it is downloaded again, or pass a local state-dict path as weights"
        ) from exc
    return replace_head(model, num_classes, current_classes=len(weights.meta["categories"]))


def _resolve_weights(name: str, weights_name: str) -> WeightsEnum:
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


def _check_fixed_input_size(name: str, weights: WeightsEnum, image_size: int) -> None:
    """Pretrained transformers are built for the size they were trained at; other sizes fail later."""
    if not _torchvision_options(name, image_size).keys() & {"image_size", "input_size"}:
        return
    trained_size = weights.meta["min_size"][0]
    if image_size != trained_size:
        raise ModelError(
            f"weights {name} {weights.name} need image_size {trained_size}, got {image_size}; "
            f"set data.image_size to {trained_size} or build {name} without weights"
        )


def _cache_file(weights: WeightsEnum) -> Path:
    """Where torch.hub keeps this weights file: ``$TORCH_HOME/hub/checkpoints/<file name of the url>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def _ensure_cached(name: str, weights: WeightsEnum, cache_file: Path) -> None:
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
            f"weights {name} {weights.name} are not cached and cannot be downloaded ({_reason(exc)}); "
            f"download {weights.url} and place it at {cache_file}, or pass a local state-dict path as weights"
        ) from exc


# --------------------------------------------------------------------------- timm weights


def _build_timm_pretrained(name: str, num_classes: int, weights_name: str) -> nn.Module:
    if weights_name.strip().upper() not in ("DEFAULT", "PRETRAINED"):
        raise ModelError(
            f"unknown weights {weights_name!r} for {name}; valid: DEFAULT (timm's pretrained weights; "
            "pick a tag in the name, e.g. timm:resnet50.a1_in1k) or a local state-dict path"
        )
    timm = _import_timm(name)
    architecture = name.removeprefix(TIMM_PREFIX)
    try:
        return timm.create_model(architecture, pretrained=True, num_classes=num_classes)
    except Exception as exc:
        raise ModelError(
            f"cannot load timm pretrained weights for {architecture} ({_reason(exc)}); "
            "make them available in the Hugging Face cache, or pass a local state-dict path as weights"
        ) from exc


# --------------------------------------------------------------------------- local state dicts


def _build_from_file(name: str, num_classes: int, image_size: int, path: Path) -> nn.Module:
    """Load a local state dict; a head for another class count is loaded, then replaced."""
    state_dict = _read_state_dict(path)
    with torch.device("meta"):  # only to learn the head's name: no memory, no init cost
        head_name, _ = find_head(_construct(name, num_classes, image_size), num_classes)
    saved_head = state_dict.get(f"{head_name}.weight")
    saved_classes = int(saved_head.shape[0]) if saved_head is not None and saved_head.ndim else num_classes
    model = _construct(name, saved_classes, image_size)
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
            f"cannot read weights file {path} ({_reason(exc)}); "
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
