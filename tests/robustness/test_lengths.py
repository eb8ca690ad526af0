"""Blur lengths read at a 224-px scan (scaled to the image, the default) or as pixels of the image; the names
of the stored rows of corrupted sets."""

from __future__ import annotations

import pytest
import torch

from bcbench.errors import ConfigError
from bcbench.robustness import corrupt, corrupted_set, corrupted_sets, parse_corrupted_set
from bcbench.robustness import corruptions as ops
from tests.robustness.images import ultrasound_like

KEYS = ["a", "b"]
BLURS = ["gaussian_blur", "motion_blur"]


@pytest.mark.parametrize("name", BLURS)
def test_pixels_reads_the_lengths_as_if_the_image_were_the_reference_size(monkeypatch, name):
    images = ultrasound_like(2, 40)
    as_pixels = corrupt(images, KEYS, name, 3, lengths="pixels")
    monkeypatch.setattr(ops, "REFERENCE_SIZE", 40)  # scaling by 40 / 40: the lengths as written
    assert torch.equal(as_pixels, corrupt(images, KEYS, name, 3, lengths="scan"))


@pytest.mark.parametrize("name", BLURS)
def test_at_the_reference_size_both_readings_agree_and_below_it_pixels_blur_more(name):
    large = ultrasound_like(2, 224)
    assert torch.equal(corrupt(large, KEYS, name, 2, lengths="pixels"), corrupt(large, KEYS, name, 2))
    small = ultrasound_like(2, 40)
    clean = small.double()
    distance = {
        lengths: [
            (corrupt(small, KEYS, name, s, lengths=lengths).double() - clean).abs().mean().item()
            for s in range(1, 6)
        ]
        for lengths in ("scan", "pixels")
    }
    assert all(p > s for p, s in zip(distance["pixels"], distance["scan"], strict=True))
    assert distance["pixels"] == sorted(distance["pixels"]) and distance["pixels"][0] > 0


def test_lengths_leave_other_corruptions_alone_and_pass_through_the_whole_set_iterator():
    images = ultrasound_like(3, 40)
    assert torch.equal(
        corrupt(images, KEYS + ["c"], "pixelate", 2, lengths="pixels"),
        corrupt(images, KEYS + ["c"], "pixelate", 2),
    )
    (item,) = corrupted_sets(images, KEYS + ["c"], ["gaussian_blur"], [4], lengths="pixels")
    assert torch.equal(item.images, corrupt(images, KEYS + ["c"], "gaussian_blur", 4, lengths="pixels"))


def test_an_unknown_reading_is_a_one_line_error():
    with pytest.raises(ConfigError, match="scan, pixels"):
        corrupt(ultrasound_like(1, 16), ["a"], "gaussian_blur", 1, lengths="mm")


def test_stored_set_names_round_trip_and_other_sets_are_not_corrupted_sets():
    assert corrupted_set("jpeg_compression", 5) == "corrupted:jpeg_compression:5"
    assert parse_corrupted_set("corrupted:jpeg_compression:5") == ("jpeg_compression", 5)
    for other in ("test", "val", "external:corrupted", "corrupted:pixelate", "corrupted::2", float("nan")):
        assert parse_corrupted_set(other) is None
