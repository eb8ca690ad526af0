"""What every corruption promises: deterministic per image key whatever the batch, uint8 of the same
shape, the identity at severity 0, further from the clean image at each severity; and the whole-set
iterator equals one big call whatever its memory bound."""

from __future__ import annotations

import pytest
import torch

from bcbench.robustness import CORRUPTIONS, SEVERITIES, chunk_size, corrupt, corrupted_sets
from tests.robustness.images import ultrasound_like

NAMES = list(CORRUPTIONS)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return ultrasound_like(4, 128)


@pytest.fixture(scope="module")
def keys() -> list[str]:
    return ["busi/benign/1.png", "busi/benign/2.png", "busi/malignant/3.png", "busi/normal/4.png"]


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_across_calls_orders_and_splits(images, keys, name):
    whole = corrupt(images, keys, name, 3)
    assert torch.equal(corrupt(images, keys, name, 3), whole)
    order = [2, 0, 3, 1]
    assert torch.equal(corrupt(images[order], [keys[i] for i in order], name, 3), whole[order])
    halves = [corrupt(images[part], keys[part], name, 3) for part in (slice(0, 1), slice(1, 4))]
    assert torch.equal(torch.cat(halves), whole)


@pytest.mark.parametrize("name", ["gaussian_noise", "motion_blur", "acoustic_shadow"])
def test_the_key_decides_the_draw(images, keys, name):
    same_image_twice = images[[0, 0]]
    out = corrupt(same_image_twice, ["one key", "another key"], name, 3)
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("name", NAMES)
def test_uint8_same_shape_and_device_and_identity_at_severity_0(images, keys, name):
    assert corrupt(images, keys, name, 0) is images
    for severity in SEVERITIES:
        out = corrupt(images, keys, name, severity)
        assert out.dtype == torch.uint8 and out.shape == images.shape and out.device == images.device
        assert not torch.equal(out, images), severity  # uint8 holds [0, 255]: range needs no check


@pytest.mark.parametrize("name", NAMES)
def test_distance_to_the_clean_images_grows_with_severity(images, keys, name):
    clean = images.to(torch.float64)
    distances = [
        (corrupt(images, keys, name, s).to(torch.float64) - clean).abs().mean().item() for s in range(6)
    ]
    assert distances[0] == 0.0
    assert all(later > earlier for earlier, later in zip(distances, distances[1:], strict=False)), distances


def test_single_channel_images(keys):
    gray = ultrasound_like(4, 40)[:, :1]
    for name in NAMES:
        out = corrupt(gray, keys, name, 5)
        assert out.shape == gray.shape and out.dtype == torch.uint8


def test_whole_set_iterator_is_chunk_independent(images, keys):
    names = ["speckle_noise", "motion_blur", "pixelate", "jpeg_compression"]
    one_chunk = list(corrupted_sets(images, keys, names, [0, 2, 5]))
    assert chunk_size(images.shape[1:], max_bytes=1) == 1
    per_image = list(corrupted_sets(images, keys, names, [0, 2, 5], max_bytes=1))
    assert [(s.corruption, s.severity) for s in one_chunk] == [(n, v) for n in names for v in (0, 2, 5)]
    for whole, chunked in zip(one_chunk, per_image, strict=True):
        assert torch.equal(whole.images, chunked.images)
        assert torch.equal(whole.images, corrupt(images, keys, whole.corruption, whole.severity))
    assert one_chunk[0].images is images


class IndexOnly:
    """Stands in for bcbench's StreamedImages: images only through ``index_select``."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.shape = images, images.shape

    def __len__(self) -> int:
        return len(self.images)

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        return self.images.index_select(dim, index)


def test_whole_set_iterator_reads_streamed_images_in_chunks(images, keys):
    streamed = list(corrupted_sets(IndexOnly(images), keys, "depth_gain", [4], max_bytes=2 * 2**20))
    assert torch.equal(streamed[0].images, corrupt(images, keys, "depth_gain", 4))
