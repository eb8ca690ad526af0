"""One training run: seed, build, train with early stopping, restore the best weights, test.

The whole split lives on the run's device as uint8 tensors; batches are assembled by
indexing, augmented as whole batches and normalised at the end (no DataLoader, no PIL).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from bcbench.config import Config, TrainConfig
from bcbench.data import BatchAugmenter, DataBundle, Normalizer
from bcbench.errors import BcbenchError
from bcbench.metrics import classification_metrics
from bcbench.models import build_model


class TrainingDiverged(BcbenchError):
    """The loss became NaN or infinite; the run is recorded as failed."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that identifies one run of a sweep."""

    model: str
    seed: int
    weights: str | None
    train: TrainConfig
    axes: dict[str, Any] = field(default_factory=dict)  # swept values besides model and seed


def run_spec(config: Config, model: str, seed: int, axes: dict[str, Any] | None = None) -> RunSpec:
    """Merge per-model options (learning rate, batch size) into the train recipe."""
    options = config.options_for(model)
    train = config.train
    if train.mixed_precision is None:
        train = replace(train, mixed_precision=launcher_mixed_precision())
    if options.lr is not None:
        train = replace(train, lr=options.lr)
    if options.batch_size is not None:
        train = replace(train, batch_size=options.batch_size)
    return RunSpec(model=model, seed=seed, weights=options.weights, train=train, axes=dict(axes or {}))


def launcher_mixed_precision() -> str:
    """The precision chosen by `accelerate launch` (it exports ACCELERATE_MIXED_PRECISION)."""
    value = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    return value if value in _DTYPES else "no"


@dataclass
class RunOutcome:
    """What one run produced; the sweep turns it into a record."""

    model: nn.Module
    history: list[dict[str, Any]]
    best_epoch: int
    epochs_run: int
    test: dict[str, Any]
    test_probs: torch.Tensor
    test_targets: torch.Tensor
    train_seconds: float
    train_images_per_second: float


EpochCallback = Callable[[dict[str, Any]], None]

_DTYPES = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}


class MixedPrecision:
    """Autocast and (for fp16) loss scaling for one run, independent of Accelerate's global state."""

    def __init__(self, mode: str, device: torch.device) -> None:
        self.mode = mode
        self.device_type = device.type
        self.dtype = _DTYPES[mode]
        self.scaler = torch.amp.GradScaler(device.type, enabled=mode == "fp16")

    def autocast(self) -> Any:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed python, numpy and torch; optionally ask torch for deterministic kernels."""
    from accelerate.utils import set_seed

    set_seed(seed, deterministic=deterministic)
    # cudnn autotuning picks kernels by timing, which is not reproducible
    torch.backends.cudnn.benchmark = not deterministic


def make_optimizer(model: nn.Module, train: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if device.type == "cuda" else {}
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay, **fused)
    if train.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay, **fused)
    return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, train: TrainConfig) -> Any:
    if train.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=train.step_size, gamma=train.gamma)
    if train.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=train.epochs)
    return None


def make_criterion(train: TrainConfig, class_counts: list[int], device: torch.device) -> nn.Module:
    weight = None
    if train.class_weights == "balanced":
        counts = torch.tensor(class_counts, dtype=torch.float32).clamp(min=1)
        weight = (counts.sum() / (len(class_counts) * counts)).to(device)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=train.label_smoothing)


class EarlyStopping:
    """Stop when validation loss has not improved for ``patience`` epochs, never before ``min_epochs``."""

    def __init__(self, patience: int, min_epochs: int) -> None:
        self.patience = patience
        self.min_epochs = min_epochs
        self.best_loss = math.inf
        self.best_epoch = 0
        self.epochs_without_improvement = 0

    def update(self, epoch: int, val_loss: float) -> bool:
        """Record this epoch's loss; True when it is the best so far."""
        if val_loss < self.best_loss:
            self.best_loss = val_loss
            self.best_epoch = epoch
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False

    def should_stop(self, epoch: int) -> bool:
        if self.patience == 0 or epoch < self.min_epochs:
            return False
        return self.epochs_without_improvement >= self.patience


def train_run(
    spec: RunSpec,
    config: Config,
    data: DataBundle,
    accelerator: Any,
    on_epoch: EpochCallback | None = None,
) -> RunOutcome:
    """Train ``spec.model`` on ``data`` and evaluate the best-validation weights on the test split."""
    train_cfg = spec.train
    device = accelerator.device
    seed_everything(spec.seed, train_cfg.deterministic)
    model = build_model(spec.model, len(data.classes), spec.weights, config.data.image_size).to(device)
    if train_cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    precision = MixedPrecision(train_cfg.mixed_precision, device)
    optimizer = make_optimizer(model, train_cfg, device)
    scheduler = make_scheduler(optimizer, train_cfg)
    criterion = make_criterion(train_cfg, data.class_counts("train"), device)
    augment = BatchAugmenter(config.augment, data.classes)
    normalize = Normalizer(config.data.normalize, device, channels_last=train_cfg.channels_last)
    train_x, train_y = (t.to(device, non_blocking=True) for t in data.tensors("train"))
    val_x, val_y = (t.to(device, non_blocking=True) for t in data.tensors("val"))
    generators = _generators(spec.seed, device)

    stopper = EarlyStopping(train_cfg.early_stopping_patience, train_cfg.min_epochs)
    best_state = _copy_state(model)
    history: list[dict[str, Any]] = []
    train_seconds = 0.0
    for epoch in range(1, train_cfg.epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = _train_epoch(
            model,
            optimizer,
            criterion,
            precision,
            train_x,
            train_y,
            augment,
            normalize,
            train_cfg,
            generators,
        )
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training loss became {train_loss} at epoch {epoch}; lower the learning rate"
            )
        if scheduler is not None:
            scheduler.step()
        _synchronize(device)
        epoch_train_seconds = time.perf_counter() - start
        train_seconds += epoch_train_seconds
        val_probs, val_loss = evaluate(model, val_x, val_y, normalize, precision, train_cfg.eval_batch_size)
        val_acc = float((val_probs.argmax(1) == val_y).float().mean())
        entry = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        history.append(entry)
        if stopper.update(epoch, val_loss):
            best_state = _copy_state(model)
        if on_epoch is not None:
            on_epoch(entry)
        if stopper.should_stop(epoch):
            break

    model.load_state_dict(best_state)
    test_x, test_y = (t.to(device) for t in data.tensors("test"))
    test_probs, _ = evaluate(model, test_x, test_y, normalize, precision, train_cfg.eval_batch_size)
    test = classification_metrics(test_probs.cpu(), test_y.cpu(), data.classes)
    images_trained = len(train_y) * len(history)
    return RunOutcome(
        model=model,
        history=history,
        best_epoch=stopper.best_epoch,
        epochs_run=len(history),
        test=test,
        test_probs=test_probs.cpu(),
        test_targets=test_y.cpu(),
        train_seconds=train_seconds,
        train_images_per_second=images_trained / train_seconds if train_seconds > 0 else 0.0,
    )


def _generators(seed: int, device: torch.device) -> dict[str, torch.Generator]:
    """Separate streams for batch order (CPU) and augmentation (on the data's device)."""
    order = torch.Generator().manual_seed(seed)
    augment = torch.Generator(device=device).manual_seed(seed + 1)
    return {"order": order, "augment": augment}


def _train_epoch(
    model: nn.Module,
    optimizer: Any,
    criterion: nn.Module,
    precision: MixedPrecision,
    images: torch.Tensor,
    labels: torch.Tensor,
    augment: BatchAugmenter,
    normalize: Normalizer,
    train_cfg: TrainConfig,
    generators: dict[str, torch.Generator],
) -> tuple[float, float]:
    model.train()
    n = len(labels)
    order = torch.randperm(n, generator=generators["order"]).to(images.device)
    # sums stay on the device: one host sync per epoch, not per step
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    seen = 0
    for start in range(0, n, train_cfg.batch_size):
        index = order[start : start + train_cfg.batch_size]
        if len(index) == 1 and n > 1:
            continue  # batch norm cannot train on a single sample
        batch_y = labels[index]
        batch_x = normalize(augment(images[index], batch_y, generators["augment"]))
        with precision.autocast():
            logits = model(batch_x)
            loss = criterion(logits, batch_y)
        optimizer.zero_grad(set_to_none=True)
        precision.backward_and_step(loss, optimizer)
        loss_sum += loss.detach().float() * len(index)
        correct += (logits.detach().argmax(1) == batch_y).sum()
        seen += len(index)
    return float(loss_sum) / max(seen, 1), float(correct) / max(seen, 1)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalize: Normalizer,
    precision: MixedPrecision,
    batch_size: int,
) -> tuple[torch.Tensor, float]:
    """Softmax probabilities for every image (in order) and the mean cross-entropy."""
    model.eval()
    probs = []
    for start in range(0, len(labels), batch_size):
        with precision.autocast():
            logits = model(normalize(images[start : start + batch_size]))
        probs.append(torch.softmax(logits.float(), dim=1))
    all_probs = torch.cat(probs) if probs else torch.empty(0, 0, device=images.device)
    loss = (
        nn.functional.nll_loss(all_probs.clamp_min(1e-12).log(), labels) if len(labels) else torch.tensor(0.0)
    )
    return all_probs, float(loss)


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
