"""The corruptions against the implementations MedMNIST-C calls: Pillow (brightness, contrast, BOX
pixelate: pixel for pixel), torchvision's ``gaussian_blur`` (within one level), and the motion-blur
kernel of the ``imagecorruptions`` package (Apache-2.0; values below computed with imagecorruptions
1.1.2's ``_motion_blur`` in a throwaway venv, since it is not a bcbench dependency)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as tvf
from PIL import Image, ImageEnhance

from bcbench.robustness import CORRUPTIONS, corrupt
from bcbench.robustness.corruptions import motion_blur_at
from tests.robustness.images import colour, to_pil_arrays, ultrasound_like

ENHANCERS = {
    "brightness_up": ImageEnhance.Brightness,
    "brightness_down": ImageEnhance.Brightness,
    "contrast_down": ImageEnhance.Contrast,
}


def pillow_pixelate(array: np.ndarray, factor: float) -> np.ndarray:
    image = Image.fromarray(array)
    width, height = image.size
    small = image.resize((int(width * factor), int(height * factor)), Image.Resampling.BOX)
    return np.array(small.resize((width, height), Image.Resampling.BOX))


def from_arrays(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(array)).permute(2, 0, 1) for array in arrays])


@pytest.mark.parametrize("images", [colour(37), ultrasound_like(2, 50)], ids=["colour", "gray"])
@pytest.mark.parametrize("name", ["brightness_up", "brightness_down", "contrast_down", "pixelate"])
def test_pillow_corruptions_match_pillow_exactly(images, name):
    keys = list(range(len(images)))
    for severity, parameter in enumerate(CORRUPTIONS[name].parameters, start=1):
        if name == "pixelate":
            expected = from_arrays([pillow_pixelate(array, parameter) for array in to_pil_arrays(images)])
        else:
            enhancer = ENHANCERS[name]
            arrays = [enhancer(Image.fromarray(array)).enhance(parameter) for array in to_pil_arrays(images)]
            expected = from_arrays(arrays)
        assert torch.equal(corrupt(images, keys, name, severity), expected), (name, severity)


def test_gaussian_blur_matches_torchvision_at_224_px():
    images = ultrasound_like(1, 224)
    for severity, kernel_size in enumerate(CORRUPTIONS["gaussian_blur"].parameters, start=1):
        expected = tvf.gaussian_blur(images, kernel_size=kernel_size).to(torch.int32)
        difference = (corrupt(images, [0], "gaussian_blur", severity).to(torch.int32) - expected).abs()
        # float32 sums in another order: a value at x.5 may round the other way
        assert difference.max() <= 1 and (difference > 0).float().mean() < 1e-3, kernel_size


PATTERN = (np.arange(48).reshape(6, 8) * 37) % 256
IMAGECORRUPTIONS_MOTION = {  # _motion_blur(PATTERN (uint8), radius=3, sigma=2.0, angle)
    30.0: [
        [62.326, 95.582, 121.049, 130.245, 114.88, 145.537, 93.518, 20.617],
        [98.582, 124.049, 133.382, 118.558, 154.88, 110.332, 48.3, 60.617],
        [127.049, 136.382, 121.695, 158.558, 119.676, 65.114, 88.3, 100.617],
        [139.234, 124.547, 161.547, 123.206, 74.31, 104.966, 128.152, 140.469],
        [125.012, 162.012, 123.808, 75.453, 111.775, 142.431, 165.617, 177.934],
        [150.078, 111.874, 63.656, 100.519, 136.841, 167.497, 190.683, 203.0],
    ],
    -40.0: [
        [41.657, 78.657, 114.71, 147.829, 172.618, 127.92, 75.901, 3.0],
        [54.972, 91.972, 128.026, 161.145, 185.934, 141.235, 3.999, 16.315],
        [88.114, 125.114, 161.168, 194.287, 167.388, 13.955, 37.141, 49.457],
        [125.579, 162.579, 198.633, 180.064, 16.765, 51.42, 74.606, 86.922],
        [165.432, 202.432, 183.053, 20.295, 56.617, 91.272, 114.458, 126.775],
        [205.432, 186.053, 23.432, 60.295, 96.617, 131.272, 154.458, 166.775],
    ],
}


def test_motion_blur_kernel_matches_imagecorruptions():
    angles = list(IMAGECORRUPTIONS_MOTION)
    pixels = torch.tensor(PATTERN, dtype=torch.float32).view(1, 1, 6, 8).repeat(len(angles), 1, 1, 1)
    blurred = motion_blur_at(pixels, 3, 2.0, torch.tensor(angles, dtype=torch.float64))
    expected = torch.tensor([IMAGECORRUPTIONS_MOTION[angle] for angle in angles]).unsqueeze(1)
    assert torch.allclose(blurred, expected, atol=2e-3)


def test_noise_has_the_defined_spread_on_a_flat_image():
    flat = torch.full((2, 3, 64, 64), 100, dtype=torch.uint8)
    for name, expected_std in (("gaussian_noise", 255 * 0.04), ("speckle_noise", 100 * 0.10)):
        noisy = corrupt(flat, ["a", "b"], name, 1).to(torch.float64)
        assert torch.equal(noisy[:, 0], noisy[:, 2])  # one plane for the three channels
        assert abs(noisy.mean().item() - 100) < 0.5
        assert noisy[:, 0].std().item() == pytest.approx(expected_std, rel=0.05)


def test_depth_gain_by_hand():
    flat = torch.full((1, 1, 5, 3), 100, dtype=torch.uint8)
    out = corrupt(flat, [0], "depth_gain", 5)[0, 0, :, 0]  # 12 dB: x 10^(-6/20) at the top, 10^(6/20) below
    expected = [round(100 * 10 ** (12 * (row / 4 - 0.5) / 20)) for row in range(5)]
    assert out.tolist() == expected == [50, 71, 100, 141, 200]


def test_acoustic_shadow_darkens_a_band_below_a_point_and_nothing_else():
    size = 100
    flat = torch.full((8, 1, size, size), 200, dtype=torch.uint8)
    out = corrupt(flat, list(range(8)), "acoustic_shadow", 5)[:, 0].to(torch.int64)  # width 0.18, x 0.1
    for image in out:
        dark_rows, dark_cols = torch.nonzero(image < 200, as_tuple=True)
        assert (image[: int(0.15 * (size - 1))] == 200).all()  # above the highest possible point
        assert (image[-1][dark_cols.unique()] < 200).all()  # the band runs to the bottom
        assert image.min() == 20  # 200 x (1 - 0.9) at full strength
        band = dark_cols.max() - dark_cols.min() + 1  # width 18 px plus two soft edges of 4.5 px
        assert 18 <= band <= 28 and dark_cols.min() >= int(0.2 * (size - 1)) - 14
