"""Batch augmentation and normalisation against torchvision, class filters, reproducibility."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from bcbench.config import AugmentConfig
from bcbench.data import (
    BatchAugmenter,
    Normalizer,
)
from bcbench.data.augment import jitter_batch_, rotate_batch
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error

CLASSES = ["benign", "malignant", "normal"]


def random_batch(size: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (size, 3, 16, 20), dtype=torch.uint8, generator=generator)
    return images, torch.arange(size) % 3


ALWAYS = {"hflip_p": 1.0, "rotation_p": 1.0, "jitter_p": 1.0, "block_p": 1.0}


def test_batch_augmenter_touches_only_listed_classes() -> None:
    images, labels = random_batch()
    augmenter = BatchAugmenter(AugmentConfig(mode="batch", classes=("normal",), **ALWAYS), CLASSES)
    generator = torch.Generator().manual_seed(0)
    untouched = labels != 2

    for _ in range(20):
        out = augmenter(images, labels, generator)
        assert torch.equal(out[untouched], images[untouched])
        assert all(not torch.equal(out[i], images[i]) for i in torch.nonzero(~untouched).flatten())


def test_study_augmenter_touches_every_class() -> None:
    images, labels = random_batch()
    augmenter = BatchAugmenter(AugmentConfig(mode="study", classes=("normal",), **ALWAYS), CLASSES)
    out = augmenter(images, labels, torch.Generator().manual_seed(0))
    assert all(not torch.equal(out[i], images[i]) for i in range(len(labels)))


def test_study_augmenter_block_probability_zero_is_identity() -> None:
    images, labels = random_batch()
    augmenter = BatchAugmenter(AugmentConfig(mode="study", block_p=0.0), CLASSES)
    assert torch.equal(augmenter(images, labels, torch.Generator().manual_seed(0)), images)


@pytest.mark.parametrize(
    "config",
    [
        AugmentConfig(mode="none", **ALWAYS),
        AugmentConfig(mode="batch", hflip_p=0.0, rotation_p=0.0, jitter_p=0.0),
    ],
    ids=["mode-none", "zero-probabilities"],
)
def test_augmenter_identity_configs(config: AugmentConfig) -> None:
    images, labels = random_batch()
    assert torch.equal(
        BatchAugmenter(config, CLASSES)(images, labels, torch.Generator().manual_seed(0)), images
    )


def test_augmenter_flip_only_flips_exactly() -> None:
    images, labels = random_batch()
    config = AugmentConfig(mode="batch", hflip_p=1.0, rotation_p=0.0, jitter_p=0.0)
    out = BatchAugmenter(config, CLASSES)(images, labels, torch.Generator().manual_seed(0))
    assert torch.equal(out, images.flip(-1))


@pytest.mark.parametrize("mode", ["batch", "study"])
def test_augmenter_is_reproducible_keeps_shape_and_input(mode: str) -> None:
    images, labels = random_batch()
    original = images.clone()
    augmenter = BatchAugmenter(AugmentConfig(mode=mode), CLASSES)

    first = augmenter(images, labels, torch.Generator().manual_seed(7))
    again = augmenter(images, labels, torch.Generator().manual_seed(7))
    other = augmenter(images, labels, torch.Generator().manual_seed(8))

    assert first.dtype == torch.uint8 and first.shape == images.shape and first.device == images.device
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(images, original)


def test_augmenter_rejects_unknown_class_names() -> None:
    with pytest.raises(DataError) as error:
        BatchAugmenter(AugmentConfig(classes=("malignent",)), CLASSES)
    assert_one_line_error(error, "'malignent'", "benign, malignant, normal")


@pytest.mark.parametrize("size", [(24, 36), (31, 17), (224, 224)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_rotate_batch_matches_torchvision_nearest_rotate(size: tuple[int, int]) -> None:
    """Nearest, as RandomRotation's default; a rounding tie may go either way, hence 99.9% of pixels."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, *size), dtype=torch.uint8, generator=generator)
    angles = [7.0, -25.0, 10.0, -3.3]
    flips = torch.tensor([False, True, False, True])
    ours = rotate_batch(images, torch.tensor(angles), flips)
    assert ours.dtype == torch.uint8
    for i, angle in enumerate(angles):
        flipped = images[i].flip(-1) if flips[i] else images[i]
        reference = TF.rotate(flipped, angle, interpolation=InterpolationMode.NEAREST)
        assert (ours[i] == reference).float().mean() >= 0.999


def test_jitter_batch_matches_torchvision_brightness_then_contrast() -> None:
    pixels = torch.rand(2, 3, 10, 12, generator=torch.Generator().manual_seed(0)) * 255
    brightness, contrast = torch.tensor([1.2, 0.8]), torch.tensor([0.7, 1.3])
    ours = jitter_batch_(pixels.clone(), brightness, contrast)
    for i in range(2):
        brightened = TF.adjust_brightness(pixels[i] / 255, float(brightness[i]))
        reference = TF.adjust_contrast(brightened, float(contrast[i])) * 255
        assert (ours[i] - reference).abs().max() < 0.01


def test_normalizer_imagenet_matches_manual_formula() -> None:
    images, _ = random_batch()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = Normalizer("imagenet", "cpu")(images)
    assert out.dtype == torch.float32
    assert torch.allclose(out, (images.float() / 255 - mean) / std, atol=1e-5)


def test_normalizer_none_scales_to_unit_range_and_supports_channels_last() -> None:
    images, _ = random_batch()
    out = Normalizer("none", "cpu", channels_last=True)(images)
    assert torch.allclose(out, images.float() / 255, atol=1e-6)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_given_normalisation_matches_torchvisions_normalize_after_to_tensor() -> None:
    """MedMNIST's script: ToTensor (x / 255) then Normalize(mean=[.5], std=[.5]); one value serves every
    channel, three values one each."""
    from bcbench.config import load_config

    images, _ = random_batch()
    data = load_config(
        None, ["data.normalize=given", "data.normalize_mean=[0.5]", "data.normalize_std=[0.5]"]
    ).data
    reference = TF.normalize(images.float() / 255, mean=[0.5] * 3, std=[0.5] * 3)
    assert torch.allclose(Normalizer.for_data(data, "cpu")(images), reference, atol=1e-6)
    three = Normalizer("given", "cpu", mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7))(images)
    assert torch.allclose(
        three, TF.normalize(images.float() / 255, (0.1, 0.2, 0.3), (0.5, 0.6, 0.7)), atol=1e-6
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.normalize=given"], "needs 1 or 3 values"),
        (["data.normalize_mean=[0.5]"], "only read with normalize: given"),
        (["data.normalize=given", "data.normalize_mean=[0.5]", "data.normalize_std=[0]"], "must be positive"),
    ],
)
def test_given_normalisation_is_checked(overrides, message) -> None:
    from bcbench.config import load_config
    from bcbench.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)
