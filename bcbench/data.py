"""Data: discover an ImageFolder tree, split it, decode every image once to uint8 tensors, augment batches.

``build_data`` = ``discover_images`` -> split (stratified by ``split_seed``, or a manifest CSV) ->
``decode_images`` (optionally cached on disk). Training code takes uint8 tensors from
``DataBundle.tensors`` and runs ``BatchAugmenter`` and ``Normalizer`` on whole batches on whatever device
holds them; nothing after decoding touches PIL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from bcbench.config import AugmentConfig, DataConfig
from bcbench.errors import DataError
from bcbench.synthetic import ensure_synthetic_dataset

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DEFAULT_EXTENSIONS: tuple[str, ...] = DataConfig().extensions
JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
JUNK_FOLDERS = frozenset({"__macosx"})
HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
ALPHA_MODES = frozenset({"LA", "PA", "RGBA", "RGBa"})
CACHE_FORMAT = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale

Progress = Callable[[int, int], None]


# ----------------------------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class ImageRecord:
    """One image file: its path (under the root as given), posix path relative to the root, class index."""

    path: Path
    relpath: str
    label: int


def discover_images(
    root: str | Path,
    mask_patterns: Sequence[str] = ("_mask",),
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
) -> tuple[list[str], list[ImageRecord]]:
    """Classes (sorted subfolder names) and their images, found recursively, sorted by relative path.

    Skipped: files whose name contains a mask pattern (case-insensitive), other extensions (matched
    case-insensitively), hidden files and folders, and OS junk (Thumbs.db, desktop.ini, __MACOSX).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data root {root} does not exist or is not a folder; set data.root to a folder "
            "with one subfolder of images per class"
        )
    classes = sorted(
        entry.name for entry in root.iterdir() if entry.is_dir() and not _is_skipped_name(entry.name)
    )
    if not classes:
        raise DataError(
            f"data root {root} has no class folders; put each class's images in its own "
            f"subfolder, e.g. {root / 'benign'}"
        )
    suffixes = _normalised_extensions(extensions)
    patterns = tuple(pattern.lower() for pattern in mask_patterns if pattern)
    records: list[ImageRecord] = []
    for label, name in enumerate(classes):
        records.extend(_class_images(root, name, label, suffixes, patterns))
    return classes, records


def _class_images(
    root: Path, name: str, label: int, suffixes: frozenset[str], patterns: tuple[str, ...]
) -> list[ImageRecord]:
    images: list[ImageRecord] = []
    masks = others = 0
    for path in _walk_files(root / name):
        if path.suffix.lower() not in suffixes:
            others += 1
        elif any(pattern in path.name.lower() for pattern in patterns):
            masks += 1
        else:
            images.append(ImageRecord(path=path, relpath=path.relative_to(root).as_posix(), label=label))
    if not images:
        raise DataError(
            f"class folder {root / name} has no images (skipped {masks} mask file(s) matching "
            f"{', '.join(patterns) or 'no pattern'} and {others} file(s) with other extensions); "
            f"add {', '.join(sorted(suffixes))} images or remove the folder"
        )
    return sorted(images, key=lambda record: record.relpath)


def _walk_files(folder: Path) -> Iterator[Path]:
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not _is_skipped_name(name))
        for name in sorted(files):
            if not _is_skipped_name(name):
                yield Path(directory) / name


def _is_skipped_name(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or lowered in JUNK_FILES or lowered in JUNK_FOLDERS


def _normalised_extensions(extensions: Sequence[str]) -> frozenset[str]:
    return frozenset(ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions)


# ---------------------------------------------------------------------------------------- decoding


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image, apply its EXIF orientation and convert it to 8-bit RGB (see ``to_rgb``)."""
    try:
        with Image.open(path) as opened:
            return to_rgb(ImageOps.exif_transpose(opened))
    except DataError:
        raise
    # decoders of broken files raise all sorts of errors (OSError, SyntaxError, struct.error, ...)
    except Exception as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"cannot read image {path}: {reason}; replace or remove the file") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    Alpha (LA, RGBA, PA, palette transparency) is dropped and the colours kept as stored, exactly as
    torchvision's ImageFolder loader does, so pixels match the reference pipelines; palette images with
    transparency go through RGBA first to resolve it. 16/32-bit integer and float images are scaled by
    ``high_depth_to_uint8``. CMYK and the rest use PIL's own conversion.
    """
    if image.mode == "RGB":
        return image
    if image.mode in HIGH_DEPTH_MODES:
        return Image.fromarray(high_depth_to_uint8(np.asarray(image))).convert("RGB")
    if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
    return image.convert("RGB")


def high_depth_to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale a 16/32-bit integer or float grayscale array to uint8, keeping relative intensities.

    Non-negative integers are divided by the full scale of the smallest bit depth (at least 8) that holds
    the maximum: 8-bit data in a 16-bit file stays unchanged, 12-bit data (common in medical images) is not
    left nearly black as ``>> 8`` would leave it, and 16-bit data maps 65535 to 255. Floats within [0, 1]
    are multiplied by 255; any other range (negative or larger floats, negative integers) is min-max scaled.
    """
    is_float = np.issubdtype(values.dtype, np.floating)
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if is_float and low >= 0.0 and high <= 1.0:
        scaled = data * 255.0
    elif not is_float and low >= 0:
        scaled = data * (255.0 / (2 ** max(8, int(high).bit_length()) - 1))
    elif high > low:
        scaled = (data - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(data)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def preprocess(
    image: Image.Image,
    mode: Literal["square", "shorter_crop"],
    image_size: int,
    resize_shorter: int = 256,
) -> torch.Tensor:
    """RGB PIL image -> uint8 tensor [3, image_size, image_size].

    ``square``: bilinear (antialiased) resize to image_size x image_size, aspect not kept.
    ``shorter_crop``: torchvision's ``Resize(resize_shorter)`` then ``CenterCrop(image_size)``, pixel for
    pixel.
    """
    if mode == "square":
        resized = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    elif mode == "shorter_crop":
        resized = center_crop(resize_shorter_side(image, resize_shorter), image_size)
    else:
        raise DataError(f"unknown preprocess mode {mode!r}; use 'square' or 'shorter_crop'")
    return torch.from_numpy(np.array(resized.convert("RGB"))).permute(2, 0, 1).contiguous()


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Bilinear resize so the shorter side is ``size``; same output size as torchvision's int ``Resize``."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    new_size = (size, new_long) if width <= height else (new_long, size)
    return image.resize(new_size, Image.Resampling.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Central size x size crop, offsets rounded as torchvision's ``CenterCrop`` rounds them."""
    width, height = image.size
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


@dataclass
class DecodedImages:
    """Every image of a data set, decoded and preprocessed once, in discovery order."""

    images: torch.Tensor  # uint8 [N, 3, H, W]
    labels: torch.Tensor  # int64 [N]
    relpaths: list[str]
    classes: list[str]
    sha256: list[str]  # content hash of each file


def decode_images(
    root: str | Path,
    records: Sequence[ImageRecord],
    classes: Sequence[str],
    data_config: DataConfig,
    progress: Progress | None = None,
) -> DecodedImages:
    """Decode and preprocess each file exactly once, or load the result from ``data_config.cache_dir``.

    The cache file is keyed by the content hash, relative path and label of every file plus the
    preprocessing that shaped the pixels, so any change to the data or the preprocessing misses it.
    """
    files = [Path(root) / record.relpath for record in records]
    hashes = [file_sha256(path) for path in files]
    relpaths = [record.relpath for record in records]
    labels = torch.tensor([record.label for record in records], dtype=torch.int64)
    cache = DecodeCache.for_files(data_config, relpaths, labels.tolist(), classes, hashes)
    images = cache.load(len(files), data_config.image_size) if cache is not None else None
    if images is None:
        images = _decode_all(files, data_config, progress)
        if cache is not None:
            cache.save(images)
    elif progress is not None:
        progress(len(files), len(files))
    return DecodedImages(
        images=images, labels=labels, relpaths=relpaths, classes=list(classes), sha256=hashes
    )


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
    except OSError as error:
        raise DataError(
            f"cannot read image {path}: {error.strerror or error}; check its permissions"
        ) from None
    return digest.hexdigest()


def decode_cache_key(
    relpaths: Sequence[str],
    labels: Sequence[int],
    classes: Sequence[str],
    hashes: Sequence[str],
    data_config: DataConfig,
) -> str:
    """sha256 over the files (relpath, label, content hash) and the preprocessing that produced the pixels."""
    shorter = data_config.resize_shorter if data_config.preprocess == "shorter_crop" else None
    payload = {
        "format": CACHE_FORMAT,
        "pillow": PIL.__version__,  # resampling filters have changed between Pillow releases
        "classes": list(classes),
        "files": [
            [path, int(label), digest] for path, label, digest in zip(relpaths, labels, hashes, strict=True)
        ],
        "preprocess": data_config.preprocess,
        "image_size": data_config.image_size,
        "resize_shorter": shorter,
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def _decode_all(files: Sequence[Path], data_config: DataConfig, progress: Progress | None) -> torch.Tensor:
    size = data_config.image_size
    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)

    def decode(path: Path) -> torch.Tensor:
        return preprocess(load_rgb(path), data_config.preprocess, size, data_config.resize_shorter)

    # PIL releases the GIL while decoding and resampling, so threads overlap well
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    try:
        for index, tensor in enumerate(pool.map(decode, files)):
            images[index] = tensor
            if progress is not None:
                progress(index + 1, len(files))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return images


@dataclass(frozen=True)
class DecodeCache:
    """One ``.pt`` file of decoded images in ``data_config.cache_dir``, named after its key."""

    path: Path
    key: str

    @classmethod
    def for_files(
        cls,
        data_config: DataConfig,
        relpaths: Sequence[str],
        labels: Sequence[int],
        classes: Sequence[str],
        hashes: Sequence[str],
    ) -> DecodeCache | None:
        if data_config.cache_dir is None:
            return None
        key = decode_cache_key(relpaths, labels, classes, hashes, data_config)
        name = f"decoded-{data_config.preprocess}-{data_config.image_size}-{key[:24]}.pt"
        return cls(path=Path(data_config.cache_dir).expanduser() / name, key=key)

    def load(self, count: int, size: int) -> torch.Tensor | None:
        if not self.path.is_file():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
            images = payload["images"]
            if (
                payload["key"] == self.key
                and images.dtype == torch.uint8
                and images.shape == (count, 3, size, size)
            ):
                return images
        except Exception as error:  # a damaged cache file is only a miss
            logger.warning("ignoring unreadable decode cache %s: %s", self.path, error)
        return None

    def save(self, images: torch.Tensor) -> None:
        """Write a temporary file then rename it, so readers never see half a file; failures only warn."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"key": self.key, "images": images}, temporary)
            os.replace(temporary, self.path)
        except OSError as error:
            logger.warning("could not write decode cache %s: %s", self.path, error)
        finally:
            temporary.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ splits


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    class_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Stratified train/val/test index arrays (sorted) that depend only on the labels, fractions and seed.

    Sizes follow sklearn's ``train_test_split``: n_test = ceil(test_fraction * N), then
    n_val = ceil(val_fraction * (N - n_test)). Each size is shared among classes in proportion to their
    counts (largest remainder, so totals are exact), with at least one image of every class in every
    non-empty split. ``class_names`` only make error messages readable.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and labels.min() < 0:
        raise DataError(f"labels must be non-negative class indices, got {int(labels.min())}")
    names = list(class_names) if class_names is not None else []
    counts = np.bincount(labels, minlength=len(names))
    n_test = _split_size(test_fraction, labels.size)
    n_val = _split_size(val_fraction, labels.size - n_test)
    nonempty = ["train"] + [name for name, n in (("val", n_val), ("test", n_test)) if n > 0]
    _require_enough_per_class(counts, names, nonempty)
    test_counts = _allocate(counts, n_test, reserve=len(nonempty) - 1, split="test")
    val_counts = _allocate(counts - test_counts, n_val, reserve=1, split="val")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for label in range(counts.size):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_class_test, n_class_val = int(test_counts[label]), int(val_counts[label])
        parts["test"].append(members[:n_class_test])
        parts["val"].append(members[n_class_test : n_class_test + n_class_val])
        parts["train"].append(members[n_class_test + n_class_val :])
    return {name: np.sort(np.concatenate(parts[name] or [np.empty(0, np.int64)])) for name in SPLITS}


def _split_size(fraction: float, total: int) -> int:
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"split fraction must be in [0, 1), got {fraction!r}")
    return math.ceil(fraction * total)


def _class_name(label: int, names: Sequence[str]) -> str:
    return repr(names[label]) if label < len(names) else f"with index {label}"


def _require_enough_per_class(counts: np.ndarray, names: Sequence[str], nonempty: Sequence[str]) -> None:
    for label, count in enumerate(counts):
        if 0 < count < len(nonempty):
            raise DataError(
                f"class {_class_name(label, names)} has only {count} image(s) but the split needs at least "
                f"{len(nonempty)} (one each in {', '.join(nonempty)}); add images of that class or remove it"
            )


def _allocate(counts: np.ndarray, total: int, reserve: int, split: str) -> np.ndarray:
    """Share ``total`` among classes in proportion to ``counts`` by largest remainder, giving each present
    class at least one (when ``total`` allows) and leaving at least ``reserve`` of it for the other splits."""
    allocation = np.zeros_like(counts)
    if total == 0:
        return allocation
    present = counts > 0
    upper = np.where(present, counts - reserve, 0)
    lower = present.astype(counts.dtype) if total >= present.sum() else np.zeros_like(counts)
    if total > upper.sum():
        raise DataError(
            f"cannot put {total} of {int(counts.sum())} images in the {split} split and keep every class in "
            "the other splits; lower data.test_fraction or data.val_fraction"
        )
    quota = counts * (total / counts.sum())
    allocation = np.clip(np.floor(quota).astype(counts.dtype), lower, upper)
    while allocation.sum() < total:
        allocation[np.argmax(np.where(allocation < upper, quota - allocation, -np.inf))] += 1
    while allocation.sum() > total:
        allocation[np.argmax(np.where(allocation > lower, allocation - quota, -np.inf))] -= 1
    return allocation


def manifest_split(relpaths: Sequence[str], manifest_path: str | Path) -> dict[str, np.ndarray]:
    """Split from a CSV with header ``path,split``: path relative to the data root, split train|val|test.

    Every image on disk must be listed exactly once and every listed path must be on disk.
    """
    manifest = Path(manifest_path).expanduser()
    if not manifest.is_file():
        raise DataError(
            f"split manifest {manifest} does not exist; set data.manifest to a CSV with columns path,split"
        )
    positions = {relpath: index for index, relpath in enumerate(relpaths)}
    assigned: dict[str, tuple[str, int]] = {}  # relpath -> (split, row)
    for row, path, split in _manifest_rows(manifest):
        if split not in SPLITS:
            raise DataError(
                f"split manifest {manifest} row {row}: unknown split {split!r} for {path!r}; "
                "use train, val or test"
            )
        if path in assigned:
            raise DataError(
                f"split manifest {manifest} row {row}: {path!r} is listed twice "
                f"(first on row {assigned[path][1]}); keep one row per image"
            )
        if path not in positions:
            raise DataError(
                f"split manifest {manifest} row {row}: {path!r} is not among the {len(positions)} "
                "images found under the data root; fix the path or data.root"
            )
        assigned[path] = (split, row)
    unlisted = [relpath for relpath in relpaths if relpath not in assigned]
    if unlisted:
        raise DataError(
            f"split manifest {manifest} does not list {len(unlisted)} image(s) found on disk, "
            f"e.g. {unlisted[0]!r}; add them to the manifest or remove them from the data root"
        )
    return {
        name: np.array(
            sorted(positions[p] for p, (split, _) in assigned.items() if split == name), dtype=np.int64
        )
        for name in SPLITS
    }


def _manifest_rows(manifest: Path) -> Iterator[tuple[int, str, str]]:
    """(row number in the file, normalised path, lower-case split) for each data row."""
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [(name or "").strip() for name in reader.fieldnames or []]
        missing = [name for name in ("path", "split") if name not in columns]
        if missing:
            raise DataError(
                f"split manifest {manifest} lacks column(s) {', '.join(missing)}; its header must be "
                f"path,split (found: {','.join(columns) or 'nothing'})"
            )
        reader.fieldnames = columns
        for record in reader:
            path = (record.get("path") or "").strip().replace("\\", "/").removeprefix("./")
            if not path:
                raise DataError(f"split manifest {manifest} row {reader.line_num} has an empty path")
            yield reader.line_num, path, (record.get("split") or "").strip().lower()


def split_sha256(relpaths: Sequence[str], splits: dict[str, np.ndarray]) -> str:
    """Order-independent fingerprint of a split: sha256 of the sorted ``relpath,split`` lines.

    For a manifest in that form it equals ``tail -n +2 manifest.csv | LC_ALL=C sort | sha256sum``.
    """
    lines = sorted(f"{relpaths[int(index)]},{name}" for name, indices in splits.items() for index in indices)
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()


# ---------------------------------------------------------------------------------------- augmentation


class BatchAugmenter:
    """Random flips, rotations and brightness/contrast jitter on whole uint8 batches, on their device.

    ``none``: identity. ``batch``: each op decided per sample with its own probability, only for samples
    whose class is in ``config.classes`` (every class when empty). ``study``: the reference study's
    ``RandomApply([RandomHorizontalFlip(), RandomRotation(d), ColorJitter(b, c)], p=block_p)`` on every
    sample. Rotation is bilinear with zero fill about the image centre. Jitter applies brightness then
    contrast (torchvision picks the order at random; the two commute except where pixels saturate).
    Every random number comes from ``generator``, drawn in one fixed layout per batch, so the same
    generator state gives the same output.
    """

    def __init__(self, config: AugmentConfig, classes: Sequence[str]) -> None:
        unknown = [name for name in config.classes if name not in classes]
        if unknown:
            raise DataError(
                f"augment.classes names unknown class(es) {', '.join(map(repr, unknown))}; "
                f"valid classes: {', '.join(classes)}"
            )
        self.config = config
        selected = [classes.index(name) for name in config.classes] if config.classes else range(len(classes))
        self._eligible = torch.zeros(max(len(classes), 1), dtype=torch.bool)
        self._eligible[list(selected)] = True

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images [B, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        if self.config.mode == "none" or images.shape[0] == 0:
            return images
        draws = torch.rand((7, images.shape[0]), generator=generator, device=images.device)
        if self.config.mode == "study":
            flip, rotate, jitter = self._study_decisions(draws)
        else:
            flip, rotate, jitter = self._batch_decisions(draws, labels.to(images.device))
        angles = (2 * draws[3] - 1) * self.config.rotation_degrees
        brightness = (1 + (2 * draws[5] - 1) * self.config.brightness).clamp(min=0)
        contrast = (1 + (2 * draws[6] - 1) * self.config.contrast).clamp(min=0)
        return self._apply(images, flip, rotate, angles, jitter, brightness, contrast)

    def _study_decisions(self, draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        block = draws[0] < self.config.block_p
        return block & (draws[1] < 0.5), block, block

    def _batch_decisions(
        self, draws: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._eligible.device != labels.device:
            self._eligible = self._eligible.to(labels.device)
        eligible = self._eligible[labels]
        return (
            eligible & (draws[1] < self.config.hflip_p),
            eligible & (draws[2] < self.config.rotation_p),
            eligible & (draws[4] < self.config.jitter_p),
        )

    def _apply(
        self,
        images: torch.Tensor,
        flip: torch.Tensor,
        rotate: torch.Tensor,
        angles: torch.Tensor,
        jitter: torch.Tensor,
        brightness: torch.Tensor,
        contrast: torch.Tensor,
    ) -> torch.Tensor:
        # every op runs on the whole batch and torch.where keeps unselected samples: no host sync, fixed
        # shapes, and untouched samples stay bit-identical
        out = torch.where(_per_sample(flip), images.flip(-1), images)
        rotates = self.config.rotation_degrees > 0 and (
            self.config.mode == "study" or self.config.rotation_p > 0
        )
        jitters = (self.config.brightness > 0 or self.config.contrast > 0) and (
            self.config.mode == "study" or self.config.jitter_p > 0
        )
        if not (rotates or jitters):
            return out
        pixels = out.float()
        if rotates:
            pixels = torch.where(_per_sample(rotate), rotate_batch(pixels, angles), pixels)
        if jitters:
            pixels = torch.where(_per_sample(jitter), jitter_batch(pixels, brightness, contrast), pixels)
        return pixels.round_().clamp_(0, 255).to(torch.uint8)


def _per_sample(mask: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, 1, 1, 1)


def rotate_batch(pixels: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate float images [B, C, H, W] counter-clockwise by ``degrees`` [B] about their centres
    (bilinear, zero fill, same size), like torchvision's ``rotate``, with one affine_grid + grid_sample."""
    height, width = pixels.shape[-2:]
    radians = torch.deg2rad(degrees.to(pixels.dtype))
    cos, sin = radians.cos(), radians.sin()
    zero = torch.zeros_like(cos)
    # maps output to input positions in normalised coordinates; the aspect terms keep angles true on
    # non-square images
    theta = torch.stack(
        [
            torch.stack([cos, -sin * (height / width), zero], -1),
            torch.stack([sin * (width / height), cos, zero], -1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    return F.grid_sample(pixels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def jitter_batch(pixels: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """Brightness then contrast on float images in [0, 255], per-sample factors [B], as torchvision does:
    scale, clamp, then blend with the per-image grayscale mean, clamp."""
    brightened = (pixels * _per_sample(brightness)).clamp(0, 255)
    weights = torch.tensor(GRAY_WEIGHTS, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    mean = (brightened * weights).sum(dim=1, keepdim=True).mean(dim=(-2, -1), keepdim=True)
    factor = _per_sample(contrast)
    return (brightened * factor + mean * (1 - factor)).clamp(0, 255)


class Normalizer:
    """uint8 batch -> float32 batch on ``device``: ImageNet mean/std (``imagenet``) or x / 255 (``none``),
    as one fused multiply-add with precomputed per-channel scale and shift."""

    def __init__(
        self,
        kind: Literal["imagenet", "none"] = "imagenet",
        device: torch.device | str = "cpu",
        channels_last: bool = False,
    ) -> None:
        if kind == "imagenet":
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        elif kind == "none":
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        else:
            raise DataError(f"unknown normalisation {kind!r}; use 'imagenet' or 'none'")
        mean_t = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.scale = (1.0 / (255.0 * std_t)).to(self.device, torch.float32)
        self.shift = (-mean_t / std_t).to(self.device, torch.float32)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        normalised = torch.addcmul(self.shift, images, self.scale)  # uint8 promotes to float32
        if self.channels_last:
            normalised = normalised.contiguous(memory_format=torch.channels_last)
        return normalised


# ------------------------------------------------------------------------------------------------ bundle


@dataclass
class DataBundle:
    """A decoded data set and its split, ready for training."""

    root: Path
    classes: list[str]
    images: DecodedImages
    splits: dict[str, np.ndarray]
    split_hash: str

    def indices(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise DataError(f"unknown split {split!r}; use one of {', '.join(self.splits)}")
        return self.splits[split]

    def counts(self) -> dict[str, int]:
        return {name: int(indices.size) for name, indices in self.splits.items()}

    def class_counts(self, split: str) -> list[int]:
        labels = self.images.labels.numpy()[self.indices(split)]
        return np.bincount(labels, minlength=len(self.classes)).tolist()

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images [n, 3, H, W], int64 labels [n]) of one split, in index order."""
        index = torch.from_numpy(self.indices(split))
        return self.images.images.index_select(0, index), self.images.labels.index_select(0, index)

    def relpaths(self, split: str) -> list[str]:
        return [self.images.relpaths[int(i)] for i in self.indices(split)]


def build_data(data_config: DataConfig, progress: Progress | None = None) -> DataBundle:
    """Resolve the root (None = the embedded synthetic set), discover, split, then decode once."""
    root = resolve_root(data_config)
    classes, records = discover_images(root, data_config.mask_patterns, data_config.extensions)
    relpaths = [record.relpath for record in records]
    splits = _make_splits(data_config, root, relpaths, [record.label for record in records], classes)
    decoded = decode_images(
        root, records, classes, data_config, progress
    )  # after the split: bad manifests fail fast
    return DataBundle(
        root=root, classes=classes, images=decoded, splits=splits, split_hash=split_sha256(relpaths, splits)
    )


def resolve_root(data_config: DataConfig) -> Path:
    if data_config.root is None:
        return ensure_synthetic_dataset(data_config.synthetic_dir)
    return Path(data_config.root).expanduser()


def resolve_manifest(manifest: str, root: Path) -> Path:
    """A relative manifest path is looked up in the data root first, then the working directory."""
    path = Path(manifest).expanduser()
    if not path.is_absolute() and (root / path).is_file():
        return root / path
    return path


def _make_splits(
    data_config: DataConfig, root: Path, relpaths: list[str], labels: list[int], classes: list[str]
) -> dict[str, np.ndarray]:
    if data_config.manifest is not None:
        splits = manifest_split(relpaths, resolve_manifest(data_config.manifest, root))
        remedy = f"list some images as {{split}} in {data_config.manifest}"
    else:
        splits = stratified_split(
            labels, data_config.test_fraction, data_config.val_fraction, data_config.split_seed, classes
        )
        remedy = "set data.{split}_fraction above 0"
    for name in SPLITS:
        if splits[name].size == 0:
            raise DataError(
                f"the {name} split is empty but training needs train, val and test images; "
                + remedy.format(split=name)
            )
    return splits
