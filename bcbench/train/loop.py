"""One training run: seed, build, train with early stopping, restore the best weights, predict.

The whole split lives on the run's device as uint8 tensors; batches are assembled by indexing,
augmented as whole batches and normalised at the end (no DataLoader, no PIL). The loop returns
predictions (softmax probabilities); turning them into metrics is the sweep's job.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bcbench.config import Config, TrainConfig
from bcbench.data import BatchAugmenter, DataBundle, Normalizer
from bcbench.device import synchronize
from bcbench.models import build_model
from bcbench.train import recipe
from bcbench.train.parallel import ProcessShare
from bcbench.train.recipe import EarlyStopping, MixedPrecision, RunSpec, Selection, TrainingDiverged


@dataclass
class RunOutcome:
    """What one run produced: the best-validation model, its history and its predictions.

    Probabilities are softmax outputs [N, C] on the CPU, rows in the split's index order.
    """

    model: nn.Module
    history: list[dict[str, Any]]
    best_epoch: int
    epochs_run: int
    val_probs: torch.Tensor
    val_targets: torch.Tensor
    test_probs: torch.Tensor
    test_targets: torch.Tensor
    train_seconds: float
    train_images_per_second: float


EpochCallback = Callable[[dict[str, Any]], None]


def train_run(
    spec: RunSpec,
    config: Config,
    data: DataBundle,
    accelerator: Any,
    on_epoch: EpochCallback | None = None,
    together: bool = False,
    selection: Selection | None = None,
) -> RunOutcome:
    """Train ``spec.model`` on ``data`` with the recipe of ``config`` (the run's resolved config, see
    ``resolve_run_config``), restore the best-validation weights, predict val and test.

    ``together``: all launched processes train this one run (strategy ddp). ``selection``: what picks
    the best epoch (default: the validation loss).
    """
    device = accelerator.device
    share = ProcessShare(accelerator, together)
    recipe.seed_everything(spec.seed, config.train.deterministic)
    base_model = _build_model(spec, config, len(data.classes), device)
    trainer = _trainer(spec, config, data, base_model, share, device)
    fit = _fit(trainer, base_model, data, config.train, on_epoch, selection or Selection())
    base_model.load_state_dict(fit.best_state)
    val_probs, val_y = _predict(trainer, data, "val", device)
    test_probs, test_y = _predict(trainer, data, "test", device)
    return RunOutcome(
        model=base_model,
        history=fit.history,
        best_epoch=fit.best_epoch,
        epochs_run=len(fit.history),
        val_probs=val_probs,
        val_targets=val_y,
        test_probs=test_probs,
        test_targets=test_y,
        train_seconds=fit.train_seconds,
        train_images_per_second=fit.images / fit.train_seconds if fit.train_seconds > 0 else 0.0,
    )


def _build_model(spec: RunSpec, config: Config, num_classes: int, device: torch.device) -> nn.Module:
    size, options = config.data.image_size, config.options_for(spec.model)
    model = build_model(spec.model, num_classes, options.weights, size, options.small_input_stem).to(device)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _trainer(
    spec: RunSpec,
    config: Config,
    data: DataBundle,
    base_model: nn.Module,
    share: ProcessShare,
    device: torch.device,
) -> Trainer:
    train_cfg = config.train
    model = share.wrap(base_model)
    if train_cfg.compile:
        model = torch.compile(model)
    optimizer = recipe.make_optimizer(model, train_cfg, device)
    return Trainer(
        model=model,
        optimizer=optimizer,
        criterion=recipe.make_criterion(train_cfg, data.class_counts("train"), device),
        precision=MixedPrecision(train_cfg.mixed_precision or "no", device),
        augment=BatchAugmenter(config.augment, data.classes),
        normalize=Normalizer.for_data(config.data, device, channels_last=train_cfg.channels_last),
        processes=share,
        train_cfg=train_cfg,
        generators=make_generators(spec.seed, device, share.rank),
        scheduler=recipe.make_scheduler(optimizer, train_cfg),
    )


@dataclass
class _Fit:
    history: list[dict[str, Any]]
    best_epoch: int
    best_state: dict[str, torch.Tensor]
    train_seconds: float
    images: int


def _fit(
    trainer: Trainer,
    base_model: nn.Module,
    data: DataBundle,
    train_cfg: TrainConfig,
    on_epoch: EpochCallback | None,
    selection: Selection,
) -> _Fit:
    """Epochs until the budget or early stopping; the best weights by ``selection`` are kept."""
    device = trainer.normalize.device
    train_x, train_y = (t.to(device, non_blocking=True) for t in data.tensors("train"))
    val_x, val_y = (t.to(device, non_blocking=True) for t in data.tensors("val"))
    stopper = EarlyStopping(
        train_cfg.early_stopping_patience, train_cfg.min_epochs, selection.higher_is_better
    )
    fit = _Fit(history=[], best_epoch=0, best_state=_copy_state(base_model), train_seconds=0.0, images=0)
    for epoch in range(1, train_cfg.epochs + 1):
        entry, seconds, seen = trainer.epoch(epoch, train_x, train_y, val_x, val_y, selection.score)
        if selection.score is not None:
            entry[selection.name] = entry.pop("val_score")
        fit.train_seconds += seconds
        fit.images += seen
        fit.history.append(entry)
        if stopper.update(epoch, entry[selection.name]):
            fit.best_state = _copy_state(base_model)
        if on_epoch is not None:
            on_epoch(entry)
        if stopper.should_stop(epoch):
            break
    fit.best_epoch = stopper.best_epoch
    return fit


def _predict(
    trainer: Trainer, data: DataBundle, split: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = (t.to(device) for t in data.tensors(split))
    probs, _ = trainer.evaluate(images, labels)
    return probs.cpu(), labels.cpu()


def make_generators(seed: int, device: torch.device, rank: int = 0) -> dict[str, torch.Generator]:
    """Batch order (CPU, the same on every process) and augmentation (on the data's device, per process)."""
    order = torch.Generator().manual_seed(seed)
    augment = torch.Generator(device=device).manual_seed(seed + 1 + 1000 * rank)
    return {"order": order, "augment": augment}


@dataclass
class Trainer:
    """The pieces of one run that every epoch uses: model, optimiser, data transforms, processes.

    ``optimizer`` and ``criterion`` may be None when only ``batches`` or ``evaluate`` are used.
    """

    model: nn.Module | None
    optimizer: torch.optim.Optimizer | None
    criterion: nn.Module | None
    precision: MixedPrecision
    augment: BatchAugmenter
    normalize: Normalizer
    processes: ProcessShare
    train_cfg: TrainConfig
    generators: dict[str, torch.Generator]
    scheduler: Any = None

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

    def epoch(
        self,
        number: int,
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        val_x: torch.Tensor,
        val_y: torch.Tensor,
        val_score: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
    ) -> tuple[dict[str, Any], float, int]:
        """Train one epoch, step the scheduler, validate: (history entry, training seconds, images).
        With ``val_score`` the entry also holds ``val_score`` of the validation predictions."""
        start = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        train_loss, train_acc, seen = self.train_epoch(train_x, train_y)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training loss became {train_loss} at epoch {number}; lower the learning rate"
            )
        if self.scheduler is not None:
            self.scheduler.step()
        synchronize(train_x.device)
        train_seconds = time.perf_counter() - start
        val_probs, val_loss = self.evaluate(val_x, val_y)
        entry = {
            "epoch": number,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": float((val_probs.argmax(1) == val_y).float().mean()),
            "lr": lr,
        }
        if val_score is not None:
            entry["val_score"] = val_score(val_probs.cpu(), val_y.cpu())
        entry["seconds"] = time.perf_counter() - start
        return entry, train_seconds, seen

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


@torch.inference_mode()
def predict_probs(
    model: nn.Module, images: torch.Tensor | Any, config: Config, device: torch.device
) -> torch.Tensor:
    """Softmax probabilities [N, C] (on the CPU) of a trained model for uint8 images [N, 3, H, W] (resident
    or streamed), with the run's normalisation, precision and evaluation batch size: how external test
    sets are predicted."""
    train = config.train
    normalize = Normalizer.for_data(config.data, device, channels_last=train.channels_last)
    precision = MixedPrecision(train.mixed_precision or "no", device)
    model.eval()
    probs = []
    for start in range(0, len(images), train.eval_batch_size):
        index = torch.arange(start, min(start + train.eval_batch_size, len(images)))
        batch = images.index_select(0, index.to(images.device) if hasattr(images, "device") else index)
        with precision.autocast():
            logits = model(normalize(batch))
        probs.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(probs) if probs else torch.empty(0, 0)
