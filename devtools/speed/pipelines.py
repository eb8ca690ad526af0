"""The two pipelines side by side: the study's torchvision ImageFolder/DataLoader reference and bcbench's
resident, batch-augmented path (``bcbench.train.Trainer`` itself)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from bcbench.config import DataConfig, TrainConfig
from bcbench.data import IMAGENET_MEAN, IMAGENET_STD, BatchAugmenter, Normalizer
from devtools.speed.settings import (
    STUDY_AUGMENT,
    STUDY_IMAGE_SIZE,
    STUDY_RESIZE_SHORTER,
    SpeedError,
    SpeedSettings,
)

if TYPE_CHECKING:
    from devtools.speed.timing import Prepared


def data_config(settings: SpeedSettings, cache_dir: str | None = None) -> DataConfig:
    """bcbench's data settings for the study's preprocessing at ``settings.image_size``."""
    return DataConfig(
        root=settings.data_root,
        manifest=settings.manifest,
        preprocess="shorter_crop",
        resize_shorter=settings.shorter_side(),
        image_size=settings.image_size,
        normalize="imagenet",
        cache_dir=cache_dir,
    )


def train_config(settings: SpeedSettings) -> TrainConfig:
    return TrainConfig(
        epochs=max(settings.epochs, 1),
        batch_size=settings.batch_size,
        optimizer="adam",
        lr=settings.lr,
        scheduler="none",
        mixed_precision="no",
    )


def reference_transform(
    image_size: int = STUDY_IMAGE_SIZE, resize_shorter: int = STUDY_RESIZE_SHORTER
) -> Any:
    """The study's training transform, torchvision v1 on PIL images."""
    from torchvision import transforms

    augment = transforms.RandomApply(
        [
            transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(STUDY_AUGMENT.rotation_degrees),
            transforms.ColorJitter(brightness=STUDY_AUGMENT.brightness, contrast=STUDY_AUGMENT.contrast),
        ],
        p=STUDY_AUGMENT.block_p,
    )
    return transforms.Compose(
        [
            transforms.Resize(resize_shorter),
            transforms.CenterCrop(image_size),
            augment,
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def is_image_not_mask(path: str) -> bool:
    """ImageFolder's ``is_valid_file``: torchvision's image extensions, ``_mask`` files skipped."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    return has_file_allowed_extension(path, IMG_EXTENSIONS) and "_mask" not in Path(path).name.lower()


def reference_dataset(
    root: str | Path,
    relpaths: Sequence[str],
    classes: Sequence[str] | None = None,
    image_size: int = STUDY_IMAGE_SIZE,
    resize_shorter: int = STUDY_RESIZE_SHORTER,
) -> torch.utils.data.Subset:
    """ImageFolder over ``root`` with the study's transform, restricted to ``relpaths`` (in that order).

    Raises SpeedError when ImageFolder does not find one of the paths or sees other classes, so the
    two pipelines never silently train on different images.
    """
    from torchvision.datasets import ImageFolder

    root = Path(root)
    folder = ImageFolder(
        str(root),
        transform=reference_transform(image_size, resize_shorter),
        is_valid_file=is_image_not_mask,
    )
    if classes is not None and list(folder.classes) != list(classes):
        raise SpeedError(
            f"ImageFolder finds classes {folder.classes} under {root} but bcbench finds {list(classes)}; "
            "remove hidden or junk folders from the data root so both see the same classes"
        )
    positions = {
        Path(path).relative_to(root).as_posix(): index for index, (path, _) in enumerate(folder.samples)
    }
    missing = [relpath for relpath in relpaths if relpath not in positions]
    if missing:
        raise SpeedError(
            f"ImageFolder does not find {len(missing)} of bcbench's images under {root}, "
            f"e.g. {missing[0]!r}; use extensions torchvision reads"
        )
    return torch.utils.data.Subset(folder, [positions[relpath] for relpath in relpaths])


def reference_loader(
    dataset: torch.utils.data.Dataset, batch_size: int, workers: int, seed: int
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )


def reference_batches(
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The reference loader's batches moved to ``device`` (plain ``.to``, as a plain training loop does)."""
    for images, labels in loader:
        yield images.to(device), labels.to(device)


def bcbench_generators(seed: int, device: torch.device) -> dict[str, torch.Generator]:
    """Batch order on the CPU, augmentation on the data's device, as ``bcbench.train`` seeds them."""
    from bcbench.train import make_generators

    return make_generators(seed, device)


def bcbench_steps(
    augment: BatchAugmenter,
    normalize: Normalizer,
    batch_size: int,
    generators: dict[str, torch.Generator],
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    criterion: nn.Module | None = None,
) -> Any:
    """``bcbench.train.Trainer`` for one process in fp32: the code every training run executes."""
    from bcbench.train import MixedPrecision, ProcessShare, Trainer

    device = generators["augment"].device
    return Trainer(
        model=model,
        optimizer=optimizer,
        criterion=criterion,
        precision=MixedPrecision("no", device),
        augment=augment,
        normalize=normalize,
        processes=ProcessShare(None, together=False),
        train_cfg=TrainConfig(batch_size=batch_size),
        generators=generators,
    )


def bcbench_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    augment: BatchAugmenter,
    normalize: Normalizer,
    batch_size: int,
    generators: dict[str, torch.Generator],
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of bcbench's training batches, through ``Trainer.batches`` itself."""
    return bcbench_steps(augment, normalize, batch_size, generators).batches(images, labels)


def fresh_model(settings: SpeedSettings, num_classes: int, device: torch.device) -> nn.Module:
    """The model with the same initial weights every call (seeded construction)."""
    from bcbench.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = build_model(settings.model, num_classes, None, settings.image_size)
    return model.to(device)


def reference_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    limit: int | None = None,
) -> int:
    """A plain training loop over ``batches``; returns the number of images trained on."""
    model.train()
    seen = 0
    for step, (images, labels) in enumerate(batches, start=1):
        loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += int(labels.shape[0])
        if limit is not None and step >= limit:
            break
    return seen


def bcbench_epoch_runner(
    model: nn.Module,
    criterion: nn.Module,
    prepared: Prepared,
    train_cfg: TrainConfig,
    seed: int,
) -> Callable[[torch.Tensor, torch.Tensor], int]:
    """``epoch(images, labels) -> images trained on``: one epoch of ``bcbench.train``'s own training loop
    (``Trainer.train_epoch``, single process, fp32), with its optimizer and generators."""
    from bcbench.train import make_optimizer

    device = prepared.device
    steps = bcbench_steps(
        prepared.augment,
        prepared.normalize,
        train_cfg.batch_size,
        bcbench_generators(seed, device),
        model=model,
        optimizer=make_optimizer(model, train_cfg, device),
        criterion=criterion,
    )

    def epoch(images: torch.Tensor, labels: torch.Tensor) -> int:
        return int(steps.train_epoch(images, labels)[2])

    return epoch
