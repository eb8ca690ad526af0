"""Robustness: image corruptions as torch ops on bcbench's decoded uint8 images, for corruption curves.

A trained run predicts every (corruption, severity) of its test set; the curves say how fast accuracy
falls as the image gets noisier, blurrier, darker or more compressed than in training. Each corruption
is deterministic per (image key, corruption, severity), whatever the batch or the device (``seeding``).

Presets (``resolve_corruptions``): ``ultrasound`` = all eleven below; ``medmnist-c-breast`` = MedMNIST-C's
BreastMNIST set (pixelate, jpeg_compression, speckle_noise, motion_blur, brightness_up,
brightness_down, contrast_down) with its severities (Di Salvo, Doerrich & Ledig, "MedMNIST-C:
Comprehensive benchmark and improved classifier robustness by simulating realistic image corruptions",
2024, arXiv:2406.17536; github.com/francescodisalvo05/medmnistc-api, Apache-2.0; reimplemented, not
copied).

==================  ==============================  =====================================  =================
name                parameter                       severities 1..5                        source
==================  ==============================  =====================================  =================
speckle_noise       std of n in x + x n             0.10 0.15 0.20 0.25 0.30               MedMNIST-C breast
gaussian_noise      std of n in x + 255 n           0.04 0.08 0.12 0.16 0.20               MedMNIST-C retina
gaussian_blur       kernel k (sigma 0.15k+0.35)     3 5 7 9 11                             MedMNIST-C chest
motion_blur         (radius, sigma), random angle   (5,5) (9,7) (9,10) (13,10) (17,12)     MedMNIST-C breast
contrast_down       Pillow contrast factor          0.9 0.8 0.7 0.6 0.4                    MedMNIST-C breast
brightness_up       Pillow brightness factor        1.4 1.5 1.6 1.8 2.0                    MedMNIST-C breast
brightness_down     Pillow brightness factor        0.55 0.5 0.45 0.4 0.3                  MedMNIST-C breast
jpeg_compression    JPEG quality                    50 30 15 10 7                          MedMNIST-C breast
pixelate            BOX down/up resize factor       0.30 0.25 0.20 0.15 0.10               MedMNIST-C breast
depth_gain          gain ramp, dB top to bottom     2 4 6 9 12                             bcbench
acoustic_shadow     (band width / W, darkening)     (.06,.5) (.09,.6) (.12,.7) (.15,.8)    bcbench
                                                    (.18,.9)
==================  ==============================  =====================================  =================

Lengths in pixels (blur kernels, motion radius and sigma) are given at 224 px, MedMNIST-C's size, and
scale with the image's shorter side (``lengths="pixels"``: read as pixels of the image). Definitions, and
where they differ from MedMNIST-C, are in ``corruptions``. A run's corruption evaluation is summarised in
its record's ``robustness`` block (``RobustnessBlock``).
"""

from bcbench.robustness.block import CORRUPTED_PREFIX, RobustnessBlock, corrupted_set, parse_corrupted_set
from bcbench.robustness.corruptions import LENGTHS
from bcbench.robustness.registry import (
    CORRUPTIONS,
    PRESETS,
    SEVERITIES,
    CorruptedSet,
    Corruption,
    check_severities,
    chunk_size,
    corrupt,
    corrupted_sets,
    resolve_corruptions,
)
from bcbench.robustness.seeding import SEED_DOMAIN, Key, image_seed

__all__ = [
    "CORRUPTED_PREFIX",
    "CORRUPTIONS",
    "LENGTHS",
    "PRESETS",
    "SEED_DOMAIN",
    "SEVERITIES",
    "CorruptedSet",
    "Corruption",
    "Key",
    "RobustnessBlock",
    "check_severities",
    "chunk_size",
    "corrupt",
    "corrupted_set",
    "corrupted_sets",
    "image_seed",
    "parse_corrupted_set",
    "resolve_corruptions",
]
