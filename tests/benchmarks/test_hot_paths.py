"""pytest-benchmark suite over bcbench's hot paths. Skipped in the normal test run (pyproject's addopts has
``--benchmark-skip``); run them with

    pytest tests/benchmarks --benchmark-only                       # run and print the table
    pytest tests/benchmarks --benchmark-only --benchmark-autosave  # also save to .benchmarks/
    pytest tests/benchmarks --benchmark-only --benchmark-compare   # compare with the last saved run

See BENCHMARKS.md. Inputs are random but seeded, so every run times the same work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bcbench.config import AugmentConfig, DataConfig, TrainConfig
from bcbench.data import BatchAugmenter, Normalizer, build_data
from bcbench.metrics import BOOTSTRAP_METHOD, classification_metrics, evaluate
from bcbench.models import build_model
from bcbench.train.recipe import MixedPrecision, make_criterion, make_optimizer

CLASSES = ["benign", "malignant", "normal"]
STUDY_AUGMENT = AugmentConfig(mode="study", block_p=0.5, rotation_degrees=10.0, brightness=0.2, contrast=0.2)
BATCH_AUGMENT = AugmentConfig(mode="batch")  # the default: each op per sample with p=0.5


def _images(count: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, len(CLASSES), (count,), generator=generator)
    return images, labels


@pytest.mark.parametrize("config", [BATCH_AUGMENT, STUDY_AUGMENT], ids=["batch", "study"])
def test_augment_64_images_224px(benchmark, config):
    """BatchAugmenter on one batch of 64 uint8 images at 224 px (CPU)."""
    images, labels = _images(64, 224)
    augment = BatchAugmenter(config, CLASSES)
    generator = torch.Generator().manual_seed(1)
    out = benchmark.pedantic(augment, args=(images, labels, generator), rounds=5, warmup_rounds=1)
    assert out.shape == images.shape and out.dtype == torch.uint8


def test_normalize_64_images_224px(benchmark):
    """Normalizer (uint8 -> ImageNet-normalised float32) on 64 images at 224 px."""
    images, _ = _images(64, 224)
    normalize = Normalizer("imagenet", "cpu")
    out = benchmark.pedantic(normalize, args=(images,), rounds=10, warmup_rounds=1)
    assert out.dtype == torch.float32


def test_train_step_simple_cnn_64px_batch_32(benchmark):
    """One bcbench training step: augment (batch mode), normalise, forward, backward, Adam step."""
    torch.manual_seed(0)
    images, labels = _images(32, 64)
    train = TrainConfig(batch_size=32, mixed_precision="no")
    device = torch.device("cpu")
    model = build_model("simple_cnn", len(CLASSES), None, 64)
    optimizer = make_optimizer(model, train, device)
    criterion = make_criterion(train, [1, 1, 1], device)
    precision = MixedPrecision("no", device)
    augment = BatchAugmenter(BATCH_AUGMENT, CLASSES)
    normalize = Normalizer("imagenet", device)
    generator = torch.Generator().manual_seed(1)
    model.train()

    def step() -> float:
        batch = normalize(augment(images, labels, generator))
        with precision.autocast():
            loss = criterion(model(batch), labels)
        optimizer.zero_grad(set_to_none=True)
        precision.backward_and_step(loss, optimizer)
        return float(loss.detach())

    loss = benchmark.pedantic(step, rounds=20, warmup_rounds=2)
    assert np.isfinite(loss)


@pytest.fixture(scope="module")
def test_probs() -> tuple[torch.Tensor, torch.Tensor]:
    """117 x 3 softmax probabilities (the size of BUSI's test split) and their targets."""
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 3, (117,), generator=generator)
    logits = torch.randn(117, 3, generator=generator) + 2.0 * torch.nn.functional.one_hot(targets, 3)
    return torch.softmax(logits, dim=1), targets


def test_classification_metrics_117x3(benchmark, test_probs):
    probs, targets = test_probs
    metrics = benchmark(classification_metrics, probs, targets, CLASSES)
    assert metrics["n"] == 117


def test_test_block_117_images_2000_stratified_resamples(benchmark, test_probs):
    """The whole test block of a run: every score, its stratified bootstrap and temperature scaling."""
    probs, targets = test_probs
    block = benchmark(evaluate, probs, targets, probs, targets, CLASSES)
    assert block.bootstrap_method == BOOTSTRAP_METHOD
    assert all(0.0 <= low <= high <= 1.0 for low, high in block.bootstrap.values())


@pytest.fixture(scope="module")
def cached_folder(tmp_path_factory: pytest.TempPathFactory) -> DataConfig:
    """60 PNGs (3 classes) and a DataConfig whose decode cache has been filled by a first build_data."""
    from PIL import Image

    root = tmp_path_factory.mktemp("cache-bench") / "data"
    rng = np.random.default_rng(0)
    for name, count in zip(CLASSES, (30, 18, 12), strict=True):
        (root / name).mkdir(parents=True)
        for number in range(1, count + 1):
            pixels = rng.integers(0, 256, size=(72, 96), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name} ({number}).png")
    config = DataConfig(root=str(root), image_size=64, cache_dir=str(Path(root).parent / "cache"))
    build_data(config)  # first call: decodes and writes the cache
    return config


def test_build_data_from_the_decode_cache(benchmark, cached_folder):
    """build_data when the decoded tensors are already cached: discover, hash, split, load the cache."""
    bundle = benchmark.pedantic(build_data, args=(cached_folder,), rounds=5, warmup_rounds=1)
    assert bundle.decoded.pixels.shape == (60, 3, 64, 64)
    assert any(Path(cached_folder.cache_dir).glob("decoded-*.pt"))
