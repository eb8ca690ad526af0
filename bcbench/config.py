"""Experiment configuration: frozen dataclasses, strict YAML loading and dotted overrides.

Precedence: dataclass defaults < YAML file < ``key=value`` overrides. Unknown keys are errors
that name the closest valid key; values are checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bcbench.errors import ConfigError


@dataclass(frozen=True)
class AugmentConfig:
    """Batch augmentation of training images (uint8 tensors, whole batches at once)."""

    # none: no augmentation; batch: each op applied per sample with its own probability,
    # only to samples whose class is in ``classes`` (all when empty); study: the reference
    # study's RandomApply(p) block (flip, rotation, jitter together) on every training image.
    mode: Literal["none", "batch", "study"] = "batch"
    hflip_p: float = 0.5
    rotation_degrees: float = 10.0
    rotation_p: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    jitter_p: float = 0.5
    block_p: float = 0.5  # study mode: probability of applying the whole block
    classes: tuple[str, ...] = ()  # batch mode: class names to augment; empty = every class


@dataclass(frozen=True)
class DataConfig:
    """Where images come from, how they are decoded and how they are split."""

    root: str | None = None  # ImageFolder-style root; None = the embedded synthetic data set
    synthetic_dir: str | None = None  # where the embedded data set is written (default: cache)
    mask_patterns: tuple[str, ...] = ("_mask",)
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
    preprocess: Literal["square", "shorter_crop"] = "square"
    image_size: int = 64  # final side length fed to the model
    resize_shorter: int = 256  # shorter_crop: resize shorter side to this, then centre-crop
    normalize: Literal["imagenet", "none"] = "imagenet"
    cache_dir: str | None = None  # on-disk cache of decoded tensors; None = memory only
    # memory: decode every image once and keep the uint8 split resident (on the GPU when there is one);
    # stream: decode each batch from its files when it is needed, for data that does not fit in memory
    storage: Literal["memory", "stream"] = "memory"
    split_seed: int = 0
    test_fraction: float = 0.15
    val_fraction: float = 0.15  # fraction of what remains after the test split
    manifest: str | None = None  # CSV with columns path,split (train|val|test)
    on_bad_image: Literal["error", "skip"] = "error"  # skip: list unreadable files in the record
    dedupe: bool = False  # drop byte-identical images (keep the first) before splitting
    max_image_pixels: int = 178_956_970  # decompression-bomb guard (Pillow's default limit)


@dataclass(frozen=True)
class TrainConfig:
    """One training run's recipe (the study's defaults)."""

    epochs: int = 20
    batch_size: int = 8
    eval_batch_size: int = 64
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    fused_optimizer: bool = True  # adam/adamw: torch's fused kernel where it has one (CUDA; CPU since 2.4)
    scheduler: Literal["step", "cosine", "none"] = "step"
    step_size: int = 7
    gamma: float = 0.1
    label_smoothing: float = 0.0
    class_weights: Literal["none", "balanced"] = "none"
    early_stopping_patience: int = 2  # epochs without val-loss improvement; 0 disables
    min_epochs: int = 5
    # None: what `accelerate launch --mixed_precision` / `accelerate config` chose, else "no"
    mixed_precision: Literal["no", "fp16", "bf16"] | None = None
    deterministic: bool = False
    channels_last: bool = False
    compile: bool = False  # torch.compile the model (first epoch includes compilation)
    save_checkpoint: bool = False  # keep the best weights as <sweep>/checkpoints/<run_id>.pt


@dataclass(frozen=True)
class ModelOptions:
    """Per-model settings that override ``train`` (e.g. the study's per-model learning rate)."""

    weights: str | None = None  # torchvision weights name (IMAGENET1K_V1, DEFAULT) or a path
    lr: float | None = None
    batch_size: int | None = None


@dataclass(frozen=True)
class EfficiencyConfig:
    """Cost measurements attached to every run record."""

    enabled: bool = True
    batch_sizes: tuple[int, ...] = (1, 32)
    warmup: int = 3
    iterations: int = 20
    flops: bool = True


@dataclass(frozen=True)
class Config:
    """A whole experiment: models x seeds on one data set."""

    name: str = "default"
    output_dir: str = "results"
    # grid: each process runs its own share of the runs; ddp: all processes train each run
    # together; auto: grid unless there are fewer runs than processes
    strategy: Literal["auto", "grid", "ddp"] = "auto"
    tracking: Literal["none", "tensorboard"] = "none"  # Accelerate experiment trackers
    models: tuple[str, ...] = ("simple_cnn", "study_mobilenet", "resnet18")
    seeds: tuple[int, ...] = (0, 1, 2)
    model_options: dict[str, ModelOptions] = field(default_factory=dict)
    # extra swept axes: dotted config key -> values, e.g. {"train.lr": [1e-3, 1e-4]}
    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    efficiency: EfficiencyConfig = field(default_factory=EfficiencyConfig)

    def options_for(self, model: str) -> ModelOptions:
        return self.model_options.get(model, ModelOptions())


def to_dict(config: Any) -> Any:
    """Plain, JSON-friendly dict of a config (tuples become lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {key: to_dict(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(value) for value in config]
    return config


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults, then the YAML file at ``path``, then ``key=value`` overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(Path(path))
    for override in overrides:
        key, value = _parse_override(override)
        _set_dotted(raw, key, value)
    return build(Config, raw, "")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file to --config")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}".replace("\n", " ")) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(loaded).__name__}")
    return loaded


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value, e.g. train.epochs=3")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
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
    values = {key: _coerce(hints[key], value, _join(where, key)) for key, value in raw.items()}
    instance = cls(**values)
    validate(instance, where)
    return instance


def _unknown_key_message(where: str, key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    hint = f"did you mean {_join(where, close[0])!r}?" if close else f"valid keys: {', '.join(names)}"
    return f"unknown config key {_join(where, key)!r}; {hint}"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


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
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"config key {where!r} must be one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        items = [value] if isinstance(value, (str, int, float)) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"config key {where!r} must be a list, got {value!r}")
        return tuple(_coerce(args[0], item, f"{where}[{i}]") for i, item in enumerate(items))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {where!r} must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, _join(where, str(k))) for k, v in value.items()}
    return _coerce_scalar(hint, value, where)


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


def _positive(value: float | int | None, where: str) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"config key {where!r} must be positive, got {value!r}")


def _probability(value: float, where: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"config key {where!r} must be a probability in [0, 1], got {value!r}")


def validate(config: Any, where: str = "") -> None:
    """Reject impossible values with a message naming the key."""
    if isinstance(config, TrainConfig):
        for key in ("epochs", "batch_size", "eval_batch_size", "lr", "step_size"):
            _positive(getattr(config, key), _join(where, key))
        if config.weight_decay < 0 or config.early_stopping_patience < 0 or config.min_epochs < 0:
            raise ConfigError(f"config keys under {where!r} must not be negative")
        if not 0.0 <= config.label_smoothing < 1.0:
            raise ConfigError(f"config key {_join(where, 'label_smoothing')!r} must be in [0, 1)")
    elif isinstance(config, DataConfig):
        _positive(config.image_size, _join(where, "image_size"))
        _positive(config.resize_shorter, _join(where, "resize_shorter"))
        for key in ("test_fraction", "val_fraction"):
            value = getattr(config, key)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"config key {_join(where, key)!r} must be in [0, 1), got {value!r}")
        if config.preprocess == "shorter_crop" and config.image_size > config.resize_shorter:
            raise ConfigError(
                f"config key {_join(where, 'image_size')!r} ({config.image_size}) must not exceed "
                f"{_join(where, 'resize_shorter')!r} ({config.resize_shorter}) with preprocess shorter_crop"
            )
    elif isinstance(config, AugmentConfig):
        for key in ("hflip_p", "rotation_p", "jitter_p", "block_p"):
            _probability(getattr(config, key), _join(where, key))
        if config.rotation_degrees < 0 or config.brightness < 0 or config.contrast < 0:
            raise ConfigError(f"augmentation strengths under {where!r} must not be negative")
    elif isinstance(config, ModelOptions):
        _positive(config.lr, _join(where, "lr"))
        _positive(config.batch_size, _join(where, "batch_size"))
    elif isinstance(config, EfficiencyConfig):
        for size in config.batch_sizes:
            _positive(size, _join(where, "batch_sizes"))
        _positive(config.iterations, _join(where, "iterations"))
    elif isinstance(config, Config):
        if not config.models:
            raise ConfigError("config key 'models' must name at least one model")
        if not config.seeds:
            raise ConfigError("config key 'seeds' must list at least one seed")
