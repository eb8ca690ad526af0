"""Presets, names and severities: what resolves, and the one-line errors for what does not."""

from __future__ import annotations

import pytest
import torch

from bcbench.errors import BcbenchError
from bcbench.robustness import CORRUPTIONS, PRESETS, check_severities, corrupt, resolve_corruptions


def test_presets_hold_what_the_issue_and_medmnist_c_name():
    assert len(resolve_corruptions("ultrasound")) == 11
    assert resolve_corruptions("medmnist-c-breast") == (
        "pixelate",
        "jpeg_compression",
        "speckle_noise",
        "motion_blur",
        "brightness_up",
        "brightness_down",
        "contrast_down",
    )
    assert set(PRESETS["medmnist-c-breast"]) <= set(PRESETS["ultrasound"])
    # MedMNIST-C's BreastMNIST table (registry.py of medmnistc-api)
    assert CORRUPTIONS["pixelate"].parameters == (0.30, 0.25, 0.20, 0.15, 0.10)
    assert CORRUPTIONS["motion_blur"].parameters == ((5, 5), (9, 7), (9, 10), (13, 10), (17, 12))
    assert CORRUPTIONS["brightness_down"].parameters == (0.55, 0.5, 0.45, 0.4, 0.3)


def test_lists_expand_presets_and_keep_each_name_once():
    assert resolve_corruptions(["pixelate", "medmnist-c-breast"])[:2] == ("pixelate", "jpeg_compression")
    assert resolve_corruptions("depth_gain") == ("depth_gain",)
    assert len(resolve_corruptions(["ultrasound", "medmnist-c-breast"])) == 11


@pytest.mark.parametrize("spec", ["snow", ["pixelate", "fog"], []])
def test_unknown_names_are_one_line_errors_listing_the_valid_ones(spec):
    with pytest.raises(BcbenchError) as caught:
        resolve_corruptions(spec)
    message = str(caught.value)
    assert "\n" not in message and "ultrasound" in message and "acoustic_shadow" in message


@pytest.mark.parametrize("severity", [6, -1, 2.5, True])
def test_bad_severities_are_errors(severity):
    with pytest.raises(BcbenchError, match="severity must be an integer from 0 to 5"):
        check_severities([severity])


@pytest.mark.parametrize(
    ("images", "keys", "match"),
    [
        (torch.zeros((2, 3, 8, 8)), [0, 1], "uint8 images"),
        (torch.zeros((2, 4, 8, 8), dtype=torch.uint8), [0, 1], "1 or 3 channels"),
        (torch.zeros((2, 3, 8, 8), dtype=torch.uint8), [0], "1 image keys for 2 images"),
    ],
)
def test_bad_batches_are_errors(images, keys, match):
    with pytest.raises(BcbenchError, match=match):
        corrupt(images, keys, "pixelate", 1)
    with pytest.raises(BcbenchError, match="unknown corruption 'fog'"):
        corrupt(torch.zeros((1, 3, 8, 8), dtype=torch.uint8), [0], "fog", 1)
