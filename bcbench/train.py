"""One training run: seed, build, train with early stopping, restore the best weights, test.

The whole split lives on the run's device as uint8 tensors; batches are assembled by
indexing, augmented as whole batches and normalised at the end (no DataLoader, no PIL).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from bcbench.config import Config, TrainConfig
from bcbench.data import BatchAugmenter, DataBundle, Normalizer
from bcbench.efficiency import AUTOCAST_DTYPES, synchronize
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

_DTYPES = {"no": None, **AUTOCAST_DTYPES}


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
    """The configured optimiser; Adam/AdamW use the fused kernel where torch has one (CUDA, and CPU
    since torch 2.4: about 8x faster steps on a 51M-parameter model), the same update rule."""
    params = [p for p in model.parameters() if p.requires_grad]
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)
    adam = torch.optim.Adam if train.optimizer == "adam" else torch.optim.AdamW
    if not train.fused_optimizer:
        return adam(params, lr=train.lr, weight_decay=train.weight_decay)
    try:
        return adam(params, lr=train.lr, weight_decay=train.weight_decay, fused=True)
    except (RuntimeError, ValueError, TypeError):  # no fused kernel for this device or torch version
        return adam(params, lr=train.lr, weight_decay=train.weight_decay)


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


class Processes:
    """How one run uses the launched processes: alone (grid, or a single process) or all together (ddp).

    With ddp every process holds the whole (small) split, takes an equal contiguous share of each
    epoch's shuffled order (at most world-1 images per epoch are left out so that every process
    runs the same number of steps), and gradients are averaged by DistributedDataParallel.
    Evaluation goes through a prepared DataLoader of indices and ``gather_for_metrics``, so every
    test image is counted exactly once, with no padded duplicates.
    """

    def __init__(self, accelerator: Any, together: bool) -> None:
        self.accelerator = accelerator
        self.together = together and accelerator.num_processes > 1
        self.rank = accelerator.process_index if self.together else 0
        self.world = accelerator.num_processes if self.together else 1

    def wrap(self, model: nn.Module) -> nn.Module:
        return self.accelerator.prepare_model(model) if self.together else model

    def unwrap(self, model: nn.Module) -> nn.Module:
        return self.accelerator.unwrap_model(model) if self.together else model

    def my_share(self, order: torch.Tensor) -> torch.Tensor:
        if not self.together:
            return order
        per_process = len(order) // self.world
        return order[self.rank * per_process : (self.rank + 1) * per_process]

    def total(self, value: torch.Tensor) -> torch.Tensor:
        return self.accelerator.reduce(value, reduction="sum") if self.together else value

    def index_batches(self, n: int, batch_size: int, device: torch.device) -> Any:
        if not self.together:
            return (
                torch.arange(start, min(start + batch_size, n), device=device)
                for start in range(0, n, batch_size)
            )
        from torch.utils.data import DataLoader

        loader = DataLoader(range(n), batch_size=batch_size, shuffle=False)
        return (batch.to(device) for batch in self.accelerator.prepare_data_loader(loader))

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        return self.accelerator.gather_for_metrics(values) if self.together else values


def train_run(
    spec: RunSpec,
    config: Config,
    data: DataBundle,
    accelerator: Any,
    on_epoch: EpochCallback | None = None,
    together: bool = False,
) -> RunOutcome:
    """Train ``spec.model`` on ``data`` and evaluate the best-validation weights on the test split.

    ``together``: all launched processes train this one run (strategy ddp).
    """
    train_cfg = spec.train
    device = accelerator.device
    processes = Processes(accelerator, together)
    seed_everything(spec.seed, train_cfg.deterministic)
    base_model = build_model(spec.model, len(data.classes), spec.weights, config.data.image_size).to(device)
    if train_cfg.channels_last:
        base_model = base_model.to(memory_format=torch.channels_last)
    model = processes.wrap(base_model)
    if train_cfg.compile:
        model = torch.compile(model)
    precision = MixedPrecision(train_cfg.mixed_precision, device)
    optimizer = make_optimizer(model, train_cfg, device)
    scheduler = make_scheduler(optimizer, train_cfg)
    criterion = make_criterion(train_cfg, data.class_counts("train"), device)
    steps = EpochSteps(
        model=model,
        optimizer=optimizer,
        criterion=criterion,
        precision=precision,
        augment=BatchAugmenter(config.augment, data.classes),
        normalize=Normalizer(config.data.normalize, device, channels_last=train_cfg.channels_last),
        processes=processes,
        train_cfg=train_cfg,
        generators=make_generators(spec.seed, device, processes.rank),
    )
    train_x, train_y = (t.to(device, non_blocking=True) for t in data.tensors("train"))
    val_x, val_y = (t.to(device, non_blocking=True) for t in data.tensors("val"))

    stopper = EarlyStopping(train_cfg.early_stopping_patience, train_cfg.min_epochs)
    best_state = _copy_state(base_model)
    history: list[dict[str, Any]] = []
    train_seconds = 0.0
    images_trained = 0
    for epoch in range(1, train_cfg.epochs + 1):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc, seen = steps.train_epoch(train_x, train_y)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training loss became {train_loss} at epoch {epoch}; lower the learning rate"
            )
        if scheduler is not None:
            scheduler.step()
        synchronize(device)
        train_seconds += time.perf_counter() - start
        images_trained += seen
        val_probs, val_loss = steps.evaluate(val_x, val_y)
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
            best_state = _copy_state(base_model)
        if on_epoch is not None:
            on_epoch(entry)
        if stopper.should_stop(epoch):
            break

    base_model.load_state_dict(best_state)
    test_x, test_y = (t.to(device) for t in data.tensors("test"))
    test_probs, _ = steps.evaluate(test_x, test_y)
    test = classification_metrics(test_probs.cpu(), test_y.cpu(), data.classes)
    return RunOutcome(
        model=base_model,
        history=history,
        best_epoch=stopper.best_epoch,
        epochs_run=len(history),
        test=test,
        test_probs=test_probs.cpu(),
        test_targets=test_y.cpu(),
        train_seconds=train_seconds,
        train_images_per_second=images_trained / train_seconds if train_seconds > 0 else 0.0,
    )


def make_generators(seed: int, device: torch.device, rank: int = 0) -> dict[str, torch.Generator]:
    """Batch order (CPU, the same on every process) and augmentation (on the data's device, per process)."""
    order = torch.Generator().manual_seed(seed)
    augment = torch.Generator(device=device).manual_seed(seed + 1 + 1000 * rank)
    return {"order": order, "augment": augment}


@dataclass
class EpochSteps:
    """The pieces of one run that every epoch uses: model, optimiser, data transforms, processes.

    ``optimizer`` and ``criterion`` may be None when only ``batches`` or ``evaluate`` are used.
    """

    model: nn.Module | None
    optimizer: torch.optim.Optimizer | None
    criterion: nn.Module | None
    precision: MixedPrecision
    augment: BatchAugmenter
    normalize: Normalizer
    processes: Processes
    train_cfg: TrainConfig
    generators: dict[str, torch.Generator]

    def batches(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of training batches: shuffle, this process's share, index the resident uint8
        split, augment the whole batch, normalise (the speed script times exactly this)."""
        order = torch.randperm(len(labels), generator=self.generators["order"])
        mine = self.processes.my_share(order).to(images.device)
        batch_size = self.train_cfg.batch_size
        for start in range(0, len(mine), batch_size):
            index = mine[start : start + batch_size]
            if len(index) == 1 and len(mine) > 1:
                continue  # batch norm cannot train on a single sample
            batch_y = labels.index_select(0, index)
            batch = images.index_select(0, index)
            yield (
                self.augment.augment_normalized(batch, batch_y, self.generators["augment"], self.normalize),
                batch_y,
            )

    def train_epoch(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, int]:
        """Mean loss and accuracy over the images this epoch trained on (all processes), and their count."""
        self.model.train()
        # sums stay on the device: one host sync per epoch, not per step
        totals = torch.zeros(3, device=images.device)  # loss sum, correct, seen
        for batch_x, batch_y in self.batches(images, labels):
            with self.precision.autocast():
                logits = self.model(batch_x)
                loss = self.criterion(logits, batch_y)
            self.optimizer.zero_grad(set_to_none=True)
            self.precision.backward_and_step(loss, self.optimizer)
            totals[0] += loss.detach().float() * len(batch_y)
            totals[1] += (logits.detach().argmax(1) == batch_y).sum()
            totals[2] += len(batch_y)
        loss_sum, correct, seen = self.processes.total(totals).tolist()
        return loss_sum / max(seen, 1), correct / max(seen, 1), int(seen)

    @torch.inference_mode()
    def evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Softmax probabilities for every image, in order, and the mean cross-entropy."""
        model = self.processes.unwrap(self.model)
        model.eval()
        probs, seen = [], []
        for index in self.processes.index_batches(len(labels), self.train_cfg.eval_batch_size, images.device):
            with self.precision.autocast():
                logits = model(self.normalize(images[index]))
            probs.append(self.processes.gather(torch.softmax(logits.float(), dim=1)))
            seen.append(self.processes.gather(index))
        if not probs:
            return torch.empty(0, 0, device=images.device), 0.0
        all_probs = torch.empty_like(torch.cat(probs))
        all_probs[torch.cat(seen)] = torch.cat(probs)  # back into dataset order
        loss = nn.functional.nll_loss(all_probs.clamp_min(1e-12).log(), labels)
        return all_probs, float(loss)


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}
