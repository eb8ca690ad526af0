"""The embedded default data set: a deterministic, BUSI-like set of synthetic breast-ultrasound PNG files.

BUSI's classes and counts (benign 437 / malignant 210 / normal 133) in ImageFolder layout with BUSI's file
names (``benign (1).png``): mostly 8-bit grayscale, about 3% RGB with coloured caliper marks, widths 1.0-1.4x
the height, and beside every image its lesion mask ``<stem>_mask.png`` (the region the lesion was drawn
in; all empty for normal images; ``malignant (1)`` also has a second, identical ``_mask_1.png`` as BUSI's
multi-lesion images do), which class-folder loaders must skip as images. As in the real data, lesion shape
tells the classes apart: no lesion (normal), a smooth dark oval (benign), an irregular dark lesion that
usually casts a posterior acoustic shadow (malignant), all under multiplicative speckle over a
depth-attenuated tissue texture, with hypoechoic fat lobules in every class as look-alikes.

The set is written once per (version, size) into a temporary folder that is renamed into place together
with a marker file, so an interrupted generation is never mistaken for a complete one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bcbench.errors import DataError, storage_errors

# bump whenever the generated files change, so caches keyed on the folder name stay valid (v2: a mask
# beside every image, not only the first five of each class; the images are byte-identical to v1's)
VERSION = 2
SEED = 20200213
CLASS_COUNTS = {"benign": 437, "malignant": 210, "normal": 133}
RGB_FRACTION = 0.03
MARKER = ".bcbench-synthetic.json"
STALE_TEMP_SECONDS = 3600.0
CALIPER_COLOURS = ((255, 255, 0), (0, 255, 255), (0, 255, 0))


@dataclass(frozen=True)
class Rendered:
    """One generated image: grayscale pixels, its lesion mask and where calipers would be drawn."""

    pixels: np.ndarray  # uint8 [H, W]
    mask: np.ndarray  # bool [H, W]
    calipers: tuple[tuple[float, float], ...]  # (x, y) in pixels


def default_synthetic_dir(image_size: int = 96) -> Path:
    """``$BCBENCH_CACHE/synthetic-v<VERSION>-<size>``, else the same under ``~/.cache/bcbench``."""
    cache = os.environ.get("BCBENCH_CACHE")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache" / "bcbench"
    return base / f"synthetic-v{VERSION}-{image_size}"


def ensure_synthetic_dataset(directory: str | Path | None = None, image_size: int = 96) -> Path:
    """Return the root of the synthetic data set at ``directory``, generating it first if needed.

    ``image_size`` is the height (shorter side) of every image. A second call reuses the complete set.
    """
    if image_size < 16:
        raise DataError(f"synthetic image_size must be at least 16 pixels, got {image_size}")
    target = Path(directory).expanduser() if directory is not None else default_synthetic_dir(image_size)
    if _is_complete(target, image_size):
        return target
    _refuse_foreign_folder(target)
    with storage_errors(target, then="rerun (or point data.synthetic_dir at a folder with room)"):
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(target)
        temporary = Path(tempfile.mkdtemp(prefix=_temporary_prefix(target), dir=target.parent))
        try:
            write_synthetic_dataset(temporary, image_size)
            _publish(temporary, target, image_size)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return target


def write_synthetic_dataset(root: Path, image_size: int) -> None:
    """Write every image, mask and the completion marker into the existing folder ``root``."""
    for class_index, (name, count) in enumerate(CLASS_COUNTS.items()):
        folder = root / name
        folder.mkdir()
        rgb_numbers = _rgb_numbers(class_index, count)
        for number in range(1, count + 1):
            rng = np.random.default_rng([SEED, class_index, number])
            rendered = render_image(name, rng, image_size)
            _save_image(folder / f"{name} ({number}).png", rendered, rng, number in rgb_numbers)
            Image.fromarray(rendered.mask).save(folder / f"{name} ({number})_mask.png")  # 1-bit, as BUSI's
    # BUSI also has second masks for images with two lesions; loaders must skip those as well
    shutil.copyfile(
        root / "malignant" / "malignant (1)_mask.png", root / "malignant" / "malignant (1)_mask_1.png"
    )
    marker = {"version": VERSION, "image_size": image_size, "seed": SEED, "counts": CLASS_COUNTS}
    (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def render_image(class_name: str, rng: np.random.Generator, height: int) -> Rendered:
    """Draw one ultrasound-like image of ``class_name`` with ``height`` rows and a random width."""
    width = int(round(height * rng.uniform(1.0, 1.4)))
    y = ((np.arange(height) + 0.5) / height)[:, None]
    x = ((np.arange(width) + 0.5) / height)[None, :]  # in units of the height, so shapes are not stretched
    echo = _tissue(rng, y, x, height, width)
    echo *= _fat_lobules(rng, y, x, width / height)
    mask = np.zeros((height, width), dtype=bool)
    calipers: tuple[tuple[float, float], ...] = ()
    if class_name == "benign":
        lesion, shading, calipers = _benign_lesion(rng, y, x, width / height)
    elif class_name == "malignant":
        lesion, shading, calipers = _malignant_lesion(rng, y, x, width / height, height, width)
    else:
        lesion, shading = np.zeros_like(echo), np.ones_like(echo)
    if class_name != "normal":
        echo *= 1.0 - (1.0 - _lesion_echo(rng, height, width)) * lesion
        echo *= shading
        mask = lesion > 0.5
    pixels = np.clip(255.0 * echo * _speckle(rng, height, width), 0, 255).round().astype(np.uint8)
    scaled = tuple((cx * height, cy * height) for cx, cy in calipers)
    return Rendered(pixels=pixels, mask=mask, calipers=scaled)


def _tissue(rng: np.random.Generator, y: np.ndarray, x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Smooth echo level: dark near-field band on top, attenuation with depth, stretched tissue layers."""
    skin_depth = rng.uniform(0.05, 0.12)
    near_field = 0.2 + 0.8 * _sigmoid((y - skin_depth) / 0.015)
    attenuation = rng.uniform(0.5, 1.3)
    depth = rng.uniform(0.45, 0.6) * np.exp(-attenuation * y)
    layers = 1.0 + 0.3 * _smooth_noise(rng, height, width, cells=(7, 3))
    texture = 1.0 + 0.12 * _smooth_noise(rng, height, width, cells=(14, 12))
    return np.clip(near_field * depth * layers * texture, 0.02, None)


def _fat_lobules(rng: np.random.Generator, y: np.ndarray, x: np.ndarray, aspect: float) -> np.ndarray:
    """Multiplicative darkening by flat hypoechoic fat lobules: lesion look-alikes present in every class."""
    factor = np.ones((y.shape[0], x.shape[1]))
    for _ in range(int(rng.integers(0, 4))):
        across = rng.uniform(0.06, 0.16)
        shape = _ellipse(
            y, x, rng.uniform(0.2, 0.75), rng.uniform(0.0, aspect), across, across / rng.uniform(2.2, 3.5)
        )
        factor *= 1.0 - rng.uniform(0.15, 0.4) * _sigmoid((1.0 - shape) / 0.12)
    return factor


def _benign_lesion(
    rng: np.random.Generator, y: np.ndarray, x: np.ndarray, aspect: float
) -> tuple[np.ndarray, np.ndarray, tuple[tuple[float, float], ...]]:
    """Smooth, wider-than-tall oval with a soft margin; sometimes posterior enhancement, rarely a shadow."""
    across = rng.uniform(0.08, 0.19)
    down = across / rng.uniform(1.15, 1.9)
    cy, cx = rng.uniform(0.35, 0.68), rng.uniform(0.3, 0.7) * aspect
    angle = rng.uniform(-0.4, 0.4)
    radius = _ellipse(y, x, cy, cx, across, down, angle)
    radius = radius / (1.0 + _lobulation(rng, y, x, cy, cx, amplitude=0.05))
    lesion = _sigmoid((1.0 - radius) / 0.06)
    shading = np.ones_like(lesion)
    if rng.random() < 0.5:
        shading *= 1.0 + rng.uniform(0.1, 0.3) * _posterior_band(y, x, cy, cx, across * 0.8, down)
    if rng.random() < 0.1:
        shading *= 1.0 - rng.uniform(0.15, 0.3) * _posterior_band(y, x, cy, cx, across * 0.6, down)
    ends = (
        (cx - across * np.cos(angle), cy - across * np.sin(angle)),
        (cx + across * np.cos(angle), cy + across * np.sin(angle)),
    )
    return lesion, shading, ends


def _malignant_lesion(
    rng: np.random.Generator, y: np.ndarray, x: np.ndarray, aspect: float, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, tuple[tuple[float, float], ...]]:
    """Irregular lesion: lobulated and spiculated margin, often taller than wide, usually with a shadow."""
    across = rng.uniform(0.07, 0.15)
    down = across * rng.uniform(0.85, 1.35)
    cy, cx = rng.uniform(0.33, 0.62), rng.uniform(0.3, 0.7) * aspect
    radius = _ellipse(y, x, cy, cx, across, down, rng.uniform(-0.5, 0.5))
    boundary = 1.0 + _lobulation(rng, y, x, cy, cx, amplitude=rng.uniform(0.12, 0.28))
    boundary += _spiculation(rng, y, x, cy, cx)
    lesion = _sigmoid((1.0 - radius / boundary) / 0.04)
    lesion *= 1.0 + 0.25 * _smooth_noise(rng, height, width, cells=(10, 10))  # heterogeneous interior
    lesion = np.clip(lesion, 0.0, 1.0)
    shading = np.ones_like(lesion)
    if rng.random() < 0.85:
        shading *= 1.0 - rng.uniform(0.3, 0.6) * _posterior_band(
            y, x, cy, cx, across * rng.uniform(0.6, 1.0), down
        )
    ends = ((cx - across, cy), (cx + across, cy), (cx, cy - down), (cx, cy + down))
    return lesion, shading, ends


def _lobulation(
    rng: np.random.Generator, y: np.ndarray, x: np.ndarray, cy: float, cx: float, amplitude: float
) -> np.ndarray:
    """Relative radius change from a few low angular harmonics (a lobulated margin)."""
    theta = np.arctan2(y - cy, x - cx)
    harmonics = range(2, 6)
    weights = rng.uniform(0.0, 1.0, len(harmonics))
    weights *= amplitude / max(weights.sum(), 1e-9)
    phases = rng.uniform(0.0, 2 * np.pi, len(harmonics))
    return sum(w * np.cos(k * theta + p) for w, k, p in zip(weights, harmonics, phases, strict=True))


def _spiculation(rng: np.random.Generator, y: np.ndarray, x: np.ndarray, cy: float, cx: float) -> np.ndarray:
    """Relative radius change from sharp spikes: an angular (spiculated) margin."""
    theta = np.arctan2(y - cy, x - cx)
    spikes = int(rng.integers(5, 11))
    return rng.uniform(0.2, 0.5) * np.maximum(0.0, np.cos(spikes * (theta - rng.uniform(0, np.pi)))) ** 6


def _posterior_band(
    y: np.ndarray, x: np.ndarray, cy: float, cx: float, half_width: float, down: float
) -> np.ndarray:
    """Soft vertical band below a lesion, in [0, 1], fading slowly with depth."""
    lateral = _sigmoid((half_width - np.abs(x - cx)) / 0.02)
    below = _sigmoid((y - cy - 0.5 * down) / 0.03) * np.exp(-0.8 * np.clip(y - cy, 0.0, None))
    return lateral * below


def _lesion_echo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Echo level inside a lesion relative to its surroundings (hypoechoic, slightly uneven)."""
    return np.clip(
        rng.uniform(0.1, 0.4) * (1.0 + 0.2 * _smooth_noise(rng, height, width, cells=(8, 8))), 0.03, 1.0
    )


def _speckle(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Multiplicative speckle with mean 1: Rayleigh amplitude of a laterally correlated complex field."""
    real = rng.standard_normal((height, width + 2))
    imaginary = rng.standard_normal((height, width + 2))
    real = real[:, :-2] + 2 * real[:, 1:-1] + real[:, 2:]  # speckle cells are wider than they are tall
    imaginary = imaginary[:, :-2] + 2 * imaginary[:, 1:-1] + imaginary[:, 2:]
    amplitude = np.hypot(real, imaginary)
    return amplitude / (np.sqrt(6.0) * np.sqrt(np.pi / 2))  # Rayleigh mean for per-part variance 6


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-scale smooth random field: coarse Gaussian noise upsampled bicubically."""
    coarse = rng.standard_normal(cells).astype(np.float32)
    return np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float64
    )


def _ellipse(
    y: np.ndarray, x: np.ndarray, cy: float, cx: float, across: float, down: float, angle: float = 0.0
) -> np.ndarray:
    """Normalised elliptic radius: 1 on the boundary of the (rotated) ellipse, < 1 inside."""
    cos, sin = np.cos(angle), np.sin(angle)
    u = (x - cx) * cos + (y - cy) * sin
    v = -(x - cx) * sin + (y - cy) * cos
    return np.sqrt((u / across) ** 2 + (v / down) ** 2)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _rgb_numbers(class_index: int, count: int) -> set[int]:
    """Which image numbers of a class are stored as RGB with caliper marks (about 3%)."""
    rng = np.random.default_rng([SEED, class_index])
    chosen = rng.choice(count, size=max(1, round(RGB_FRACTION * count)), replace=False)
    return {int(n) + 1 for n in chosen}


def _save_image(path: Path, rendered: Rendered, rng: np.random.Generator, as_rgb: bool) -> None:
    image = Image.fromarray(rendered.pixels)
    if as_rgb:
        image = _draw_calipers(image.convert("RGB"), rendered.calipers, rng)
    image.save(path)


def _draw_calipers(
    image: Image.Image, points: tuple[tuple[float, float], ...], rng: np.random.Generator
) -> Image.Image:
    """Coloured '+' marks like BUSI's measurement calipers (at random places when there is no lesion)."""
    width, height = image.size
    if not points:
        points = tuple((rng.uniform(0.2, 0.8) * width, rng.uniform(0.3, 0.7) * height) for _ in range(2))
    colour = CALIPER_COLOURS[int(rng.integers(len(CALIPER_COLOURS)))]
    arm = max(2, height // 32)
    draw = ImageDraw.Draw(image)
    for px, py in points:
        draw.line([(px - arm, py), (px + arm, py)], fill=colour)
        draw.line([(px, py - arm), (px, py + arm)], fill=colour)
    return image


def _is_complete(target: Path, image_size: int) -> bool:
    try:
        marker = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("version") != VERSION or marker.get("image_size") != image_size:
        raise DataError(
            f"folder {target} holds synthetic data set v{marker.get('version')} at size "
            f"{marker.get('image_size')}, not v{VERSION} at size {image_size}; "
            "choose another data.synthetic_dir"
        )
    return True


def _refuse_foreign_folder(target: Path) -> None:
    """Never overwrite a non-empty folder we did not complete: it may be the user's own data."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataError(
            f"{target} exists but is not a complete bcbench synthetic data set (no {MARKER}); "
            "delete it or set data.synthetic_dir to another folder"
        )


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _remove_stale_temporaries(target: Path) -> None:
    """Delete leftovers of generations interrupted long ago (a live one finishes in seconds)."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for leftover in target.parent.glob(_temporary_prefix(target) + "*"):
        try:
            if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def _publish(temporary: Path, target: Path, image_size: int) -> None:
    """Rename the finished folder into place; if another process got there first, keep theirs."""
    try:
        os.rename(temporary, target)  # atomic; replaces only a missing or empty target
    except OSError:
        if not _is_complete(target, image_size):
            raise
