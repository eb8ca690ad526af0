"""BatchAugmenter's two ways of applying the same decisions: the CPU path (touched samples only, indexed
out and written back) and the whole-batch ``torch.where`` path (GPU, forced here on the CPU) must agree
bit for bit, with and without the fused normalisation; plus exact cases of the nearest rotation."""

from __future__ import annotations

import pytest
import torch

from bcbench.config import AugmentConfig
from bcbench.data import BatchAugmenter, Normalizer
from bcbench.data import augment as data
from bcbench.data.augment import jitter_batch_, rotate_batch

CLASSES = ["benign", "malignant", "normal"]


ALWAYS = {"hflip_p": 1.0, "rotation_p": 1.0, "jitter_p": 1.0, "block_p": 1.0}


CONFIGS = {
    "study": AugmentConfig(mode="study"),
    "study-always": AugmentConfig(mode="study", **ALWAYS),
    "study-no-rotation": AugmentConfig(mode="study", rotation_degrees=0.0),
    "study-no-jitter": AugmentConfig(mode="study", brightness=0.0, contrast=0.0),
    "batch": AugmentConfig(mode="batch"),
    "batch-always": AugmentConfig(mode="batch", **ALWAYS),
    "batch-normal-only": AugmentConfig(mode="batch", classes=("normal",)),
    "batch-flip-only": AugmentConfig(mode="batch", rotation_p=0.0, jitter_p=0.0),
    "batch-strong": AugmentConfig(mode="batch", rotation_degrees=45.0, brightness=0.9, contrast=0.9),
    "none": AugmentConfig(mode="none"),
}


def random_batch(
    size: int = 12, seed: int = 0, shape: tuple[int, int] = (16, 20)
) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (size, 3, *shape), dtype=torch.uint8, generator=generator)
    return images, torch.arange(size) % 3


def augmenter(config: AugmentConfig, whole_batch: bool | None = None) -> BatchAugmenter:
    augment = BatchAugmenter(config, CLASSES)
    augment._whole_batch = whole_batch
    return augment


@pytest.fixture(params=[0, 10**9], ids=["separate-runs", "merged-runs"])
def merge_pixels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU path merges runs of touched samples across short gaps; test both extremes."""
    monkeypatch.setattr(data, "_MERGE_PIXELS", request.param)


@pytest.mark.usefixtures("merge_pixels")
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("fused", [False, True], ids=["uint8", "fused"])
def test_touched_only_path_equals_whole_batch_path(name: str, fused: bool) -> None:
    images, labels = random_batch(shape=(30, 26))
    original = images.clone()
    touched, whole = augmenter(CONFIGS[name], False), augmenter(CONFIGS[name], True)
    normalizer = Normalizer("imagenet")
    for seed in range(8):
        runs = []
        for augment in (touched, whole):
            generator = torch.Generator().manual_seed(seed)
            if fused:
                runs.append(augment.augment_normalized(images, labels, generator, normalizer))
            else:
                runs.append(augment(images, labels, generator))
            runs.append(torch.rand(1, generator=generator))  # both consumed the same random numbers
        assert torch.equal(runs[0], runs[2]) and torch.equal(runs[1], runs[3])
        assert runs[0].dtype == (torch.float32 if fused else torch.uint8)
    assert torch.equal(images, original)


@pytest.mark.usefixtures("merge_pixels")
@pytest.mark.parametrize("whole_batch", [False, True], ids=["touched", "whole-batch"])
@pytest.mark.parametrize("name", ["study", "batch", "batch-normal-only", "study-no-jitter"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_equals_normalizing_the_augmented_batch(
    name: str, whole_batch: bool, channels_last: bool
) -> None:
    images, labels = random_batch(size=9)
    augment = augmenter(CONFIGS[name], whole_batch)
    normalizer = Normalizer("imagenet", channels_last=channels_last)
    for seed in range(6):
        fused = augment.augment_normalized(images, labels, torch.Generator().manual_seed(seed), normalizer)
        apart = normalizer(augment(images, labels, torch.Generator().manual_seed(seed)))
        assert torch.equal(fused, apart)
        assert fused.is_contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format
        )


@pytest.mark.usefixtures("merge_pixels")
@pytest.mark.parametrize("whole_batch", [False, True], ids=["touched", "whole-batch"])
def test_class_filter_leaves_other_classes_bit_identical(whole_batch: bool) -> None:
    images, labels = random_batch()
    augment = augmenter(AugmentConfig(mode="batch", classes=("normal",), **ALWAYS), whole_batch)
    normalizer = Normalizer("imagenet")
    generator = torch.Generator().manual_seed(0)
    others = labels != 2
    for _ in range(10):
        out = augment(images, labels, generator)
        assert torch.equal(out[others], images[others])
        assert all(not torch.equal(out[i], images[i]) for i in torch.nonzero(~others).flatten())
        fused = augment.augment_normalized(images, labels, generator, normalizer)
        assert torch.equal(fused[others], normalizer(images[others]))


@pytest.mark.usefixtures("merge_pixels")
@pytest.mark.parametrize("whole_batch", [False, True], ids=["touched", "whole-batch"])
def test_study_mode_touches_every_class(whole_batch: bool) -> None:
    images, labels = random_batch()
    augment = augmenter(AugmentConfig(mode="study", classes=("normal",), **ALWAYS), whole_batch)
    out = augment(images, labels, torch.Generator().manual_seed(0))
    assert all(not torch.equal(out[i], images[i]) for i in range(len(labels)))


@pytest.mark.parametrize("whole_batch", [False, True], ids=["touched", "whole-batch"])
def test_study_mode_touches_about_block_p_of_the_samples(whole_batch: bool) -> None:
    images, labels = random_batch(size=400, shape=(8, 8))
    out = augmenter(AugmentConfig(mode="study", block_p=0.5), whole_batch)(
        images, labels, torch.Generator().manual_seed(0)
    )
    changed = (out != images).flatten(1).any(1).float().mean()
    assert 0.4 < changed < 0.6


def test_same_seed_same_output_and_decisions_are_drawn_as_one_block() -> None:
    images, labels = random_batch()
    augment = augmenter(CONFIGS["batch"])
    first = augment(images, labels, torch.Generator().manual_seed(3))
    assert torch.equal(first, augment(images, labels, torch.Generator().manual_seed(3)))
    draws = torch.rand((7, len(labels)), generator=torch.Generator().manual_seed(3))
    decisions = augment.decide(draws, labels)
    changed = (first != images).flatten(1).any(1)
    # untouched samples are unchanged; a rotation under about a degree may move no pixel of a small image
    assert not (changed & ~decisions.touched()).any()
    assert changed[decisions.flip].all()


@pytest.mark.parametrize("size", [16, 17])
def test_rotation_by_90_degrees_is_rot90(size: int) -> None:
    images, _ = random_batch(size=3, shape=(size, size))
    out = rotate_batch(images, torch.tensor([90.0, -90.0, 180.0]))
    assert torch.equal(out[0], torch.rot90(images[0], 1, dims=(-2, -1)))
    assert torch.equal(out[1], torch.rot90(images[1], -1, dims=(-2, -1)))
    assert torch.equal(out[2], torch.rot90(images[2], 2, dims=(-2, -1)))


def test_rotation_zero_is_identity_and_flip_is_torch_flip() -> None:
    images, _ = random_batch(size=4, shape=(15, 22))
    zeros = torch.zeros(4)
    assert torch.equal(rotate_batch(images, zeros), images)
    flips = torch.tensor([True, False, True, False])
    out = rotate_batch(images, zeros, flips)
    assert torch.equal(out[flips], images[flips].flip(-1))
    assert torch.equal(out[~flips], images[~flips])


def test_flip_then_rotate_is_rotation_of_the_flipped_image() -> None:
    images, _ = random_batch(size=4, shape=(20, 20))
    angles = torch.tensor([90.0, -90.0, 180.0, 0.0])
    out = rotate_batch(images, angles, torch.ones(4, dtype=torch.bool))
    assert torch.equal(out, rotate_batch(images.flip(-1), angles))


def test_rotation_fills_outside_with_zeros_and_works_on_float() -> None:
    images = torch.full((1, 3, 21, 21), 200, dtype=torch.uint8)
    out = rotate_batch(images, torch.tensor([45.0]))
    assert out[0, :, 0, 0].tolist() == [0, 0, 0] and out[0, :, 10, 10].tolist() == [200, 200, 200]
    assert torch.equal(rotate_batch(images.float(), torch.tensor([45.0])), out.float())


def test_jitter_in_place_writes_into_its_input_and_stays_in_range() -> None:
    pixels = torch.rand(3, 3, 9, 11, generator=torch.Generator().manual_seed(0)) * 255
    brightness, contrast = torch.tensor([1.2, 0.8, 0.0]), torch.tensor([0.7, 1.3, 1.0])
    out = jitter_batch_(pixels, brightness, contrast)
    assert out.data_ptr() == pixels.data_ptr()
    assert out.min() >= 0 and out.max() <= 255 and torch.equal(out[2], torch.zeros_like(out[2]))


def test_normalizer_does_not_write_into_float_input() -> None:
    pixels = torch.rand(2, 3, 4, 4) * 255
    kept = pixels.clone()
    Normalizer("imagenet")(pixels)
    assert torch.equal(pixels, kept)


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["study", "batch", "batch-normal-only"])
def test_cuda_path_never_syncs_and_matches_the_cpu_decisions(name: str) -> None:
    images, labels = random_batch(size=16, shape=(64, 64))
    device = torch.device("cuda")
    augment = augmenter(CONFIGS[name])
    normalizer = Normalizer("imagenet", device)
    on_gpu, gpu_labels = images.to(device), labels.to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    augment(on_gpu, gpu_labels, generator)  # warm-up: lazy initialisation may sync
    augment.augment_normalized(on_gpu, gpu_labels, generator, normalizer)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        state = generator.get_state()
        out = augment(on_gpu, gpu_labels, generator)
        fused = augment.augment_normalized(on_gpu, gpu_labels, generator, normalizer)
        generator.set_state(state)
        draws = torch.rand((7, len(labels)), generator=generator, device=device)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    # the CPU path given the GPU's draws: same decisions, the same pixels up to rounding ties
    cpu = augmenter(CONFIGS[name])
    decisions = cpu.decide(draws.cpu(), labels)
    changed = (out.cpu() != images).flatten(1).any(1)
    assert not (changed & ~decisions.touched()).any()
    assert changed[decisions.flip].all()
    assert fused.dtype == torch.float32 and fused.device.type == "cuda"
