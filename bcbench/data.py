"""Data: discover an ImageFolder tree, vet and hash its files, split it, decode every image once to uint8
tensors, augment batches.

``build_data`` = ``discover_images`` -> ``scan_files`` (read each file once: sha256 of its bytes, header
check, no pixel decoding) -> set aside unreadable files (``data.on_bad_image``) -> find byte-identical
duplicates and drop them when ``data.dedupe`` -> split (stratified by ``split_seed``, or a manifest CSV) ->
``decode_images`` (optionally cached on disk). What was left out and why, and the duplicates found, go in
``DataBundle.audit``. Training code takes uint8 tensors from ``DataBundle.tensors`` and runs
``BatchAugmenter`` and ``Normalizer`` on whole batches on whatever device holds them; nothing after decoding
touches PIL.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import math
import os
import stat
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

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
CACHE_FORMAT = 2  # 2: the cache also holds the files skipped while decoding
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale

Progress = Callable[[int, int], None]
Skipped = dict[str, str]  # {"path": relpath, "reason": why the file was left out}


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
    """Files under ``folder``, sorted, hidden and junk names left out. Symbolic links to files are listed
    (and followed when read); symbolic links to folders are not followed (they could loop or reach other
    classes), with a warning."""
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not _is_skipped_name(name))
        for name in subfolders:
            if os.path.islink(os.path.join(directory, name)):
                logger.warning(
                    "not following symbolic link to a folder %s; link the image files themselves instead",
                    os.path.join(directory, name),
                )
        for name in sorted(files):
            if not _is_skipped_name(name):
                yield Path(directory) / name


def _is_skipped_name(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or lowered in JUNK_FILES or lowered in JUNK_FOLDERS


def _normalised_extensions(extensions: Sequence[str]) -> frozenset[str]:
    return frozenset(ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions)


# ------------------------------------------------------------------------------ scanning and duplicates


class StreamedImages:
    """Images decoded from their files whenever a batch is gathered (``data.storage: stream``).

    Stands in for the resident uint8 tensor wherever the training loop reads images:
    ``index_select(0, index)`` and ``[index]`` decode the requested files (in threads: PIL releases the
    GIL) and return a uint8 [n, 3, H, W] tensor on ``device``. Memory use is one batch, not the data set.
    The scan before the split catches unreadable files; a file damaged past its header fails here with
    the usual one-line error, whatever ``on_bad_image`` says, because a split cannot change mid-training.
    """

    def __init__(self, files: Sequence[Path], data_config: DataConfig, device: torch.device | str = "cpu"):
        self.files = list(files)
        self.data_config = data_config
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        size = self.data_config.image_size
        return (len(self.files), 3, size, size)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> StreamedImages:
        return StreamedImages(self.files, self.data_config, device)

    def subset(self, index: torch.Tensor) -> StreamedImages:
        """The images at ``index``, still undecoded."""
        return StreamedImages([self.files[i] for i in index.tolist()], self.data_config, self.device)

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        if dim != 0:
            raise ValueError("StreamedImages can only be indexed along the first dimension")
        paths = [self.files[i] for i in index.tolist()]
        with pillow_bomb_check_suspended():
            decoded = list(_streaming_pool().map(self._decode, paths))
        if not decoded:
            return torch.empty((0, *self.shape[1:]), dtype=torch.uint8, device=self.device)
        return torch.stack(decoded).to(self.device, non_blocking=True)

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        return self.index_select(0, index)

    def _decode(self, path: Path) -> torch.Tensor:
        try:
            return decode_file(path, self.data_config)
        except UnreadableImage as error:
            raise bad_image_error(path, error.reason) from None


# PIL releases the GIL while decoding and resampling, so threads overlap well
DECODE_THREADS = min(8, os.cpu_count() or 1)


@functools.cache
def _streaming_pool() -> ThreadPoolExecutor:
    """One pool for every streamed batch (not a new one per batch in the training loop)."""
    return ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="bcbench-decode")


def decode_file(path: Path, data_config: DataConfig) -> torch.Tensor:
    """One image file as the preprocessed uint8 [3, H, W] tensor; UnreadableImage when it cannot be."""
    config = data_config
    return preprocess(load_rgb(path), config.preprocess, config.image_size, config.resize_shorter)


@dataclass(frozen=True)
class ScannedFile:
    """One discovered file after ``scan_files``: its content hash, or why it cannot be used."""

    record: ImageRecord
    sha256: str | None  # None when the file is unusable
    problem: str | None = None  # why the file is unusable, without its path


def scan_files(records: Sequence[ImageRecord], max_pixels: int | None) -> list[ScannedFile]:
    """Read every file once: sha256 of its bytes and a look at its image header (format and size; no
    pixel is decoded). Catches broken links, empty files, files that are not images and images over
    ``max_pixels``; damage further into a file only shows when it is decoded."""
    pool = ThreadPoolExecutor(max_workers=DECODE_THREADS)
    try:
        with pillow_bomb_check_suspended():
            return list(pool.map(lambda record: _scan_file(record, max_pixels), records))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _scan_file(record: ImageRecord, max_pixels: int | None) -> ScannedFile:
    problem = _file_problem(record.path)
    if problem is not None:
        return ScannedFile(record, None, problem)
    try:
        with open(record.path, "rb") as handle:
            problem = _header_problem(handle, max_pixels)
            if problem is not None:
                return ScannedFile(record, None, problem)
            handle.seek(0)
            return ScannedFile(record, _stream_sha256(handle))
    except OSError as error:
        return ScannedFile(record, None, f"the file cannot be read ({error.strerror or _describe(error)})")


def _file_problem(path: Path) -> str | None:
    """Why ``path`` is not a non-empty regular file (following symbolic links), or None."""
    if path.is_symlink() and not path.exists():
        return f"broken symbolic link (points to {os.readlink(path)}, which does not exist)"
    try:
        status = path.stat()
    except OSError as error:
        return f"the file cannot be read ({error.strerror or _describe(error)})"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if status.st_size == 0:
        return "the file is empty (0 bytes)"
    return None


def _header_problem(handle: IO[bytes], max_pixels: int | None) -> str | None:
    try:
        with Image.open(handle) as image:
            size = image.size
    except UnidentifiedImageError:
        return "not an image file Pillow can read (unknown format or damaged header)"
    except Exception as error:  # header parsers raise all sorts of errors
        return f"damaged image header ({_describe(error)})"
    return pixel_limit_problem(size, max_pixels)


_pillow_limit_lock = threading.Lock()
_pillow_limit_state: dict[str, Any] = {"users": 0, "saved": None}


@contextmanager
def pillow_bomb_check_suspended() -> Iterator[None]:
    """Turn Pillow's own decompression-bomb check (``Image.MAX_IMAGE_PIXELS``) off while bcbench reads
    images, so that ``data.max_image_pixels``, checked on every header by ``scan_files``, is the one limit
    that applies, higher or lower than Pillow's. Restored when the last nested or concurrent user leaves."""
    with _pillow_limit_lock:
        if _pillow_limit_state["users"] == 0:
            _pillow_limit_state["saved"] = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pillow_limit_state["users"] += 1
    try:
        yield
    finally:
        with _pillow_limit_lock:
            _pillow_limit_state["users"] -= 1
            if _pillow_limit_state["users"] == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_limit_state["saved"]


def set_aside_unusable(
    root: Path, scanned: Sequence[ScannedFile], on_bad_image: Literal["error", "skip"]
) -> tuple[list[ScannedFile], list[Skipped]]:
    """(usable files, skipped files); with ``on_bad_image: error`` the first unusable file is an error."""
    unusable = [file for file in scanned if file.problem is not None]
    if unusable and on_bad_image == "error":
        first = unusable[0]
        raise bad_image_error(root / first.record.relpath, str(first.problem), len(unusable) - 1)
    skipped = [{"path": file.record.relpath, "reason": str(file.problem)} for file in unusable]
    return [file for file in scanned if file.problem is None], skipped


def duplicate_groups(files: Sequence[ScannedFile]) -> list[list[ScannedFile]]:
    """Groups of two or more byte-identical files (same sha256), each sorted by relpath, groups sorted by
    their first relpath."""
    by_hash: dict[str | None, list[ScannedFile]] = {}
    for file in files:
        by_hash.setdefault(file.sha256, []).append(file)
    groups = [sorted(group, key=_relpath) for group in by_hash.values() if len(group) > 1]
    return sorted(groups, key=lambda group: _relpath(group[0]))


def duplicates_to_drop(groups: Sequence[Sequence[ScannedFile]]) -> list[str]:
    """Relpaths that ``data.dedupe`` removes: all but the first copy of each group, or every copy when
    the copies are filed under different classes (their label is ambiguous)."""
    dropped: list[str] = []
    for group in groups:
        conflicting = len({file.record.label for file in group}) > 1
        dropped.extend(_relpath(file) for file in (group if conflicting else group[1:]))
    return sorted(dropped)


def _relpath(file: ScannedFile) -> str:
    return file.record.relpath


# ---------------------------------------------------------------------------------------- decoding


class UnreadableImage(DataError):
    """An image file that cannot be used: ``reason`` says why without naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot read image {path}: {reason}; replace or remove the file")
        self.path = Path(path)
        self.reason = reason


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image, apply its EXIF orientation and convert it to 8-bit RGB (see ``to_rgb``); raises
    ``UnreadableImage`` for files that cannot be decoded. Image size is checked earlier, by ``scan_files``."""
    try:
        with Image.open(path) as opened:
            return to_rgb(ImageOps.exif_transpose(opened))
    # decoders of broken files raise all sorts of errors (OSError, SyntaxError, struct.error, ...)
    except Exception as error:
        raise UnreadableImage(path, _describe(error)) from None


def pixel_limit_problem(size: tuple[int, int], max_pixels: int | None) -> str | None:
    """Why an image of ``size`` (width, height) is refused as a possible decompression bomb, or None."""
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return None
    return (
        f"its header claims {width}x{height} = {width * height:,} pixels, more than data.max_image_pixels "
        f"({max_pixels:,}), the decompression-bomb guard (raise it if the image is genuine)"
    )


def _describe(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


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
    """Every usable image of a data set, decoded and preprocessed once, in discovery order."""

    images: torch.Tensor | StreamedImages  # uint8 [N, 3, H, W], or decoded per batch (storage: stream)
    labels: torch.Tensor  # int64 [N]
    relpaths: list[str]
    classes: list[str]
    sha256: list[str]  # content hash of each file
    skipped: list[Skipped] = field(default_factory=list)  # files that failed to decode (on_bad_image=skip)


def decode_images(
    root: str | Path,
    records: Sequence[ImageRecord],
    classes: Sequence[str],
    data_config: DataConfig,
    progress: Progress | None = None,
    hashes: Sequence[str] | None = None,
) -> DecodedImages:
    """Decode and preprocess each file exactly once, or load the result from ``data_config.cache_dir``.

    ``hashes`` are the files' sha256 when already known (``scan_files``); otherwise each file is hashed
    here. A file that fails to decode raises a ``DataError`` naming it, or with ``on_bad_image: skip`` is
    left out of the result and listed in ``skipped``. The cache file is keyed by the content hash, relative
    path and label of every file, ``on_bad_image`` and the preprocessing that shaped the pixels, so any
    change to the data or the preprocessing misses it; it also remembers the files skipped.
    """
    files = [Path(root) / record.relpath for record in records]
    digests = list(hashes) if hashes is not None else [file_sha256(path) for path in files]
    relpaths = [record.relpath for record in records]
    labels = torch.tensor([record.label for record in records], dtype=torch.int64)
    cache = DecodeCache.for_files(data_config, relpaths, labels.tolist(), classes, digests)
    cached = cache.load(relpaths, data_config.image_size) if cache is not None else None
    if cached is None:
        images, skipped = _decode_all(files, relpaths, data_config, progress)
        if cache is not None:
            cache.save(images, skipped)
    else:
        images, skipped = cached
        if progress is not None:
            progress(len(files), len(files))
    left_out = {entry["path"] for entry in skipped}
    kept = [index for index, relpath in enumerate(relpaths) if relpath not in left_out]
    return DecodedImages(
        images=images,
        labels=labels[kept],
        relpaths=[relpaths[index] for index in kept],
        classes=list(classes),
        sha256=[digests[index] for index in kept],
        skipped=skipped,
    )


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as handle:
            return _stream_sha256(handle, chunk_size)
    except OSError as error:
        raise DataError(
            f"cannot read image {path}: {error.strerror or error}; check its permissions"
        ) from None


def _stream_sha256(handle: IO[bytes], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(chunk_size):
        digest.update(chunk)
    return digest.hexdigest()


def decode_cache_key(
    relpaths: Sequence[str],
    labels: Sequence[int],
    classes: Sequence[str],
    hashes: Sequence[str],
    data_config: DataConfig,
) -> str:
    """sha256 over the files (relpath, label, content hash), what happens to files that fail to decode and
    the preprocessing that produced the pixels."""
    shorter = data_config.resize_shorter if data_config.preprocess == "shorter_crop" else None
    payload = {
        "format": CACHE_FORMAT,
        "pillow": PIL.__version__,  # resampling filters have changed between Pillow releases
        "classes": list(classes),
        "files": [
            [path, int(label), digest] for path, label, digest in zip(relpaths, labels, hashes, strict=True)
        ],
        "on_bad_image": data_config.on_bad_image,
        "preprocess": data_config.preprocess,
        "image_size": data_config.image_size,
        "resize_shorter": shorter,
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def _decode_all(
    files: Sequence[Path], relpaths: Sequence[str], data_config: DataConfig, progress: Progress | None
) -> tuple[torch.Tensor, list[Skipped]]:
    """uint8 images of the files that decode, in order, and the files skipped (``on_bad_image: skip``)."""
    size = data_config.image_size
    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    failed: dict[int, str] = {}

    def decode(path: Path) -> torch.Tensor | UnreadableImage:
        try:
            return decode_file(path, data_config)
        except UnreadableImage as error:
            if data_config.on_bad_image == "error":
                raise bad_image_error(path, error.reason) from None
            return error

    pool = ThreadPoolExecutor(max_workers=DECODE_THREADS)
    try:
        for index, result in enumerate(pool.map(decode, files)):
            if isinstance(result, UnreadableImage):
                failed[index] = result.reason
            else:
                images[index] = result
            if progress is not None:
                progress(index + 1, len(files))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if not failed:
        return images, []
    kept = [index for index in range(len(files)) if index not in failed]
    skipped = [{"path": relpaths[index], "reason": reason} for index, reason in sorted(failed.items())]
    return images[kept], skipped


def bad_image_error(path: str | Path, reason: str, others: int = 0) -> DataError:
    """The one-line error for an unusable image file when ``data.on_bad_image`` is ``error``."""
    more = f" ({others} more unusable file(s) found)" if others else ""
    return DataError(
        f"cannot read image {path}: {reason}{more}; replace or remove the file, or set "
        "data.on_bad_image=skip to leave unusable images out (they are listed in the run record)"
    )


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

    def load(self, relpaths: Sequence[str], size: int) -> tuple[torch.Tensor, list[Skipped]] | None:
        """(images, skipped files) saved for these files, or None when missing, stale or damaged."""
        if not self.path.is_file():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
            images, skipped = payload["images"], payload["skipped"]
            skipped_paths = {entry["path"] for entry in skipped}
            if (
                payload["key"] == self.key
                and skipped_paths <= set(relpaths)
                and all(isinstance(entry["reason"], str) for entry in skipped)
                and images.dtype == torch.uint8
                and images.shape == (len(relpaths) - len(skipped_paths), 3, size, size)
            ):
                return images, [{"path": entry["path"], "reason": entry["reason"]} for entry in skipped]
        except Exception as error:  # a damaged cache file is only a miss
            logger.warning("ignoring unreadable decode cache %s: %s", self.path, error)
        return None

    def save(self, images: torch.Tensor, skipped: Sequence[Skipped] = ()) -> None:
        """Write a temporary file then rename it, so readers never see half a file; failures only warn."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"key": self.key, "images": images, "skipped": list(skipped)}, temporary)
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


def manifest_split(
    relpaths: Sequence[str], manifest_path: str | Path, excluded: Collection[str] = ()
) -> dict[str, np.ndarray]:
    """Split from a CSV with header ``path,split``: path relative to the data root, split train|val|test.

    Every image on disk must be listed exactly once and every listed path must be on disk, except the
    ``excluded`` paths (files left out as unusable or duplicate): the manifest may list them or not.
    """
    manifest, assigned = read_manifest(manifest_path)
    return splits_from_manifest(manifest, assigned, relpaths, excluded)


def read_manifest(manifest_path: str | Path) -> tuple[Path, dict[str, tuple[str, int]]]:
    """(manifest path, {relpath: (split, row)}), checking split names and that no path is listed twice."""
    manifest = Path(manifest_path).expanduser()
    if not manifest.is_file():
        raise DataError(
            f"split manifest {manifest} does not exist; set data.manifest to a CSV with columns path,split"
        )
    assigned: dict[str, tuple[str, int]] = {}
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
        assigned[path] = (split, row)
    return manifest, assigned


def splits_from_manifest(
    manifest: Path,
    assigned: dict[str, tuple[str, int]],
    relpaths: Sequence[str],
    excluded: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """Index arrays into ``relpaths`` from a manifest read by ``read_manifest``."""
    positions = {relpath: index for index, relpath in enumerate(relpaths)}
    for path, (_, row) in assigned.items():
        if path not in positions and path not in excluded:
            raise DataError(
                f"split manifest {manifest} row {row}: {path!r} is not among the {len(positions)} "
                "images found under the data root; fix the path or data.root"
            )
    unlisted = [relpath for relpath in relpaths if relpath not in assigned]
    if unlisted:
        raise DataError(
            f"split manifest {manifest} does not list {len(unlisted)} image(s) found on disk, "
            f"e.g. {unlisted[0]!r}; add them to the manifest or remove them from the data root"
        )
    return {
        name: np.array(
            sorted(positions[p] for p, (split, _) in assigned.items() if split == name and p in positions),
            dtype=np.int64,
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


@dataclass(frozen=True)
class AugmentDecisions:
    """One batch's random decisions, per sample ([B] tensors on the batch's device).

    The parameters are neutral where an op was not drawn (``angles`` 0, ``brightness`` and ``contrast``
    1), and ``rotate`` and ``jitter`` are false where the augmenter's config turns the op off. Running
    every op with neutral parameters leaves a sample bit-identical (a 0-degree nearest rotation copies
    each pixel; x * 1 + 0, clamping and rounding whole values change nothing), which is what lets the
    whole-batch path skip ``torch.where``.
    """

    flip: torch.Tensor  # bool
    rotate: torch.Tensor  # bool
    angles: torch.Tensor  # float32 degrees, counter-clockwise
    jitter: torch.Tensor  # bool
    brightness: torch.Tensor  # float32 factor >= 0
    contrast: torch.Tensor  # float32 factor >= 0

    def rows(self, start: int, end: int) -> AugmentDecisions:
        """The decisions of samples ``start:end`` (views)."""
        return AugmentDecisions(*(getattr(self, name)[start:end] for name in self.__dataclass_fields__))

    def touched(self) -> torch.Tensor:
        return self.flip | self.rotate | self.jitter


class BatchAugmenter:
    """Random flips, rotations and brightness/contrast jitter on whole uint8 batches, on their device.

    ``none``: identity. ``batch``: each op decided per sample with its own probability, only for samples
    whose class is in ``config.classes`` (every class when empty). ``study``: the reference study's
    ``RandomApply([RandomHorizontalFlip(), RandomRotation(d), ColorJitter(b, c)], p=block_p)`` on every
    sample. Rotation is nearest-neighbour with zero fill about the image centre, as torchvision's
    ``RandomRotation`` does by default; a flip comes before the rotation. Jitter applies brightness then
    contrast (torchvision picks the order at random; the two commute except where pixels saturate) and
    rounds back to whole pixel values. Samples no op was drawn for come out bit-identical.

    Every random number comes from ``generator``, drawn for the whole batch first in one fixed layout
    (``torch.rand((7, B))``), so the same generator state gives the same decisions on every device and
    the same output on the CPU whichever path runs. Off the CPU every op runs on the whole batch with
    neutral parameters for the samples it was not drawn for: fixed shapes, no host sync. On the CPU the
    masks are read on the host (free there) and only runs of touched samples are processed, as views,
    written straight into the output: about half the work in ``study`` mode, and no gathering of samples
    into temporaries (fresh large buffers cost page faults on every batch).

    ``augment_normalized`` fuses augmentation with a ``Normalizer``: touched samples go from the rotated
    uint8 through jitter to normalisation in one float buffer instead of a round trip through uint8.
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
        study = config.mode == "study"
        self._ops = _Ops(
            flips=study or config.hflip_p > 0,
            rotates=config.rotation_degrees > 0 and (study or config.rotation_p > 0),
            jitters=(config.brightness > 0 or config.contrast > 0) and (study or config.jitter_p > 0),
        )
        # None: choose by device (CPU: touched runs only); True forces the whole-batch (GPU) path and
        # False the CPU one, so tests can check on the CPU that both agree
        self._whole_batch: bool | None = None

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Augmented uint8 images [B, 3, H, W] (``images`` itself when no sample is touched; the input is
        never written to)."""
        return self._augment(images, labels, generator, None)

    def augment_normalized(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator,
        normalizer: Normalizer,
    ) -> torch.Tensor:
        """``normalizer(self(images, labels, generator))``, bit-identical to it, in fewer passes."""
        if images.device != normalizer.scale.device:
            return normalizer(self(images, labels, generator))
        return self._augment(images, labels, generator, normalizer)

    def decide(self, draws: torch.Tensor, labels: torch.Tensor) -> AugmentDecisions:
        """Per-sample decisions from uniform ``draws`` [7, B]: rows block, flip, rotate?, angle, jitter?,
        brightness, contrast (``study`` mode ignores rows 2 and 4, ``batch`` mode row 0)."""
        config = self.config
        if config.mode == "study":
            block = draws[0] < config.block_p
            flip, rotate, jitter = block & (draws[1] < 0.5), block, block
        else:
            if self._eligible.device != labels.device:
                self._eligible = self._eligible.to(labels.device)
            eligible = self._eligible[labels]
            flip = eligible & (draws[1] < config.hflip_p)
            rotate = eligible & (draws[2] < config.rotation_p)
            jitter = eligible & (draws[4] < config.jitter_p)
        rotate = rotate & self._ops.rotates
        jitter = jitter & self._ops.jitters
        brightness = (1 + (2 * draws[5] - 1) * config.brightness).clamp(min=0)
        contrast = (1 + (2 * draws[6] - 1) * config.contrast).clamp(min=0)
        return AugmentDecisions(
            flip=flip,
            rotate=rotate,
            angles=torch.where(rotate, (2 * draws[3] - 1) * config.rotation_degrees, 0.0),
            jitter=jitter,
            brightness=torch.where(jitter, brightness, 1.0),
            contrast=torch.where(jitter, contrast, 1.0),
        )

    def _augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator,
        normalizer: Normalizer | None,
    ) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images [B, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        if self.config.mode == "none" or images.shape[0] == 0:
            return images if normalizer is None else normalizer(images)
        draws = torch.rand((7, images.shape[0]), generator=generator, device=images.device)
        decisions = self.decide(draws, labels.to(images.device))
        whole_batch = self._whole_batch
        if whole_batch is None:
            whole_batch = images.device.type != "cpu"
        dtype = torch.uint8 if normalizer is None else torch.float32
        if whole_batch:
            out = torch.empty(images.shape, dtype=dtype, device=images.device)
            _augment_into(out, images, decisions, self._ops)
        else:
            out = _augment_touched_runs(images, decisions, self._ops, dtype)
        if normalizer is None:
            return out
        if out is images:  # nothing touched
            return normalizer(images)
        return normalizer.formatted(normalizer.normalize_(out))


@dataclass(frozen=True)
class _Ops:
    """Which ops a config can draw at all (known without looking at the data)."""

    flips: bool
    rotates: bool
    jitters: bool


# untouched samples between two runs of touched ones are processed too (exact identity, wasted work)
# when they hold at most this many pixels: cheaper than the ~30 extra op calls of another run
_MERGE_PIXELS = 32_768


def _augment_touched_runs(
    images: torch.Tensor, decisions: AugmentDecisions, ops: _Ops, dtype: torch.dtype
) -> torch.Tensor:
    """CPU: each run of touched samples is augmented from a view of ``images`` into the same rows of one
    output buffer, untouched rows are copied; ``images`` itself when no sample is touched."""
    flips, rotates, jitters = torch.stack([decisions.flip, decisions.rotate, decisions.jitter]).tolist()
    touched = [any(ops) for ops in zip(flips, rotates, jitters, strict=True)]
    runs = _runs(touched, images.shape[-2] * images.shape[-1])
    if not runs:
        return images
    out = torch.empty(images.shape, dtype=dtype)
    copied = 0
    for start, end in runs:
        out[copied:start].copy_(images[copied:start])
        used = _Ops(any(flips[start:end]), any(rotates[start:end]), any(jitters[start:end]))
        _augment_into(out[start:end], images[start:end], decisions.rows(start, end), used)
        copied = end
    out[copied:].copy_(images[copied:])
    return out


def _runs(touched: list[bool], image_pixels: int) -> list[tuple[int, int]]:
    """[start, end) runs of touched samples, runs with short gaps between them merged."""
    runs: list[tuple[int, int]] = []
    for index, hit in enumerate(touched):
        if not hit:
            continue
        if runs and (index - runs[-1][1]) * image_pixels <= _MERGE_PIXELS:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _augment_into(
    out: torch.Tensor, images: torch.Tensor, decisions: AugmentDecisions, ops: _Ops
) -> torch.Tensor:
    """Augment every sample of ``images`` (neutral parameters where nothing was drawn) into ``out``
    (uint8, or float32 pixel values in [0, 255]); ``ops`` says which ops can be skipped outright."""
    if ops.rotates:
        moved = rotate_batch(images, decisions.angles, decisions.flip if ops.flips else None)
    elif ops.flips:
        moved = torch.where(_per_sample(decisions.flip), images.flip(-1), images)
    else:
        moved = images
    if not ops.jitters:
        return out.copy_(moved)
    if out.dtype == torch.uint8:
        return out.copy_(_jitter_round_(moved.float(), decisions.brightness, decisions.contrast))
    return _jitter_round_(out.copy_(moved), decisions.brightness, decisions.contrast)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def rotate_batch(
    images: torch.Tensor, degrees: torch.Tensor, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """Rotate images [B, C, H, W] of any dtype counter-clockwise by ``degrees`` [B] about their centres,
    nearest neighbour with zero fill, same size: torchvision's ``rotate`` with its default
    ``InterpolationMode.NEAREST`` (what ``RandomRotation`` does). Samples where ``flip`` [B] (bool) are
    mirrored left-right first.

    One gather per image from precomputed integer source positions: nearest sampling copies pixels, so it
    can stay in uint8 (4x less memory traffic than float), and the flip folds into the same index map. A
    0-degree angle without flip is an exact identity, a flip alone an exact ``flip(-1)``.
    """
    batch, channels, height, width = images.shape
    source = _rotation_source(degrees, flip, height, width)
    # the source image gets a one-pixel zero border: positions outside the image clamp onto it
    padded = F.pad(images.contiguous(), (1, 1, 1, 1)).reshape(batch, channels, -1)
    index = source.view(batch, 1, height * width).expand(batch, channels, height * width)
    return padded.gather(2, index).view(batch, channels, height, width)


def _rotation_source(
    degrees: torch.Tensor, flip: torch.Tensor | None, height: int, width: int
) -> torch.Tensor:
    """Flat index [B, H * W] into the zero-bordered image [B, C, (H + 2) * (W + 2)] that each output pixel
    copies: output pixel centres about the image centre, rotated back (clockwise) to where they come
    from, mirrored for flipped samples, rounded half to even (as ``grid_sample``'s nearest mode)."""
    count = degrees.shape[0]
    radians = torch.deg2rad(degrees.to(torch.float32)).view(count, 1, 1)
    cos, sin = radians.cos(), radians.sin()
    xs = torch.arange(width, dtype=torch.float32, device=degrees.device).sub_((width - 1) / 2)
    ys = torch.arange(height, dtype=torch.float32, device=degrees.device).sub_((height - 1) / 2)
    xs, ys = xs.view(1, 1, width), ys.view(1, height, 1)
    source_x = cos * xs - sin * ys
    if flip is not None:
        source_x.mul_(1 - 2 * flip.view(count, 1, 1).to(torch.float32))  # -1: mirror
    # +1: the zero border; indices past it land on it too
    source_x = source_x.add_((width + 1) / 2).round_().clamp_(0, width + 1)
    source_y = (sin * xs + cos * ys).add_((height + 1) / 2).round_().clamp_(0, height + 1)
    if (height + 2) * (width + 2) < 1 << 24:  # float32 holds every flat index exactly
        return source_y.mul_(width + 2).add_(source_x).long().view(count, -1)
    return (source_y.long() * (width + 2) + source_x.long()).view(count, -1)


def jitter_batch(pixels: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """Brightness then contrast on float images in [0, 255], per-sample factors [B], as torchvision does:
    scale, clamp, then blend with the per-image grayscale mean, clamp. Not rounded; ``pixels`` is kept."""
    return jitter_batch_(pixels.clone(), brightness, contrast)


def jitter_batch_(pixels: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """``jitter_batch`` in place on ``pixels`` (float, [B, 3, H, W], contiguous): no temporaries the size
    of the batch."""
    pixels.mul_(_per_sample(brightness)).clamp_(0, 255)
    factor = _per_sample(contrast)
    blend = _gray_mean(pixels) * (1 - factor)  # the mean of the brightened image, before scaling it
    return pixels.mul_(factor).add_(blend).clamp_(0, 255)


def _jitter_round_(pixels: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    return jitter_batch_(pixels, brightness, contrast).round_()


def _gray_mean(pixels: torch.Tensor) -> torch.Tensor:
    """Per-image mean of torchvision's grayscale [B, 1, 1, 1]: channel means weighted afterwards (the same
    value up to rounding, without a grayscale image), with Python-float weights, so no host-to-device
    copy (a sync on CUDA)."""
    means = pixels.mean(dim=(-2, -1))
    red, green, blue = GRAY_WEIGHTS
    return (means[:, 0] * red + means[:, 1] * green + means[:, 2] * blue).view(-1, 1, 1, 1)


class Normalizer:
    """uint8 batch -> float32 batch on ``device``: ImageNet mean/std (``imagenet``) or x / 255 (``none``),
    with precomputed per-channel scale and shift, as one conversion and two in-place passes (a mixed-dtype
    multiply-add is several times slower on the CPU)."""

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
        if self.channels_last:  # convert the uint8 (a quarter of the bytes); .to keeps the layout
            images = images.contiguous(memory_format=torch.channels_last)
        return self.normalize_(images.to(torch.float32, copy=True))

    def normalize_(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalise float32 pixel values in [0, 255] in place (on this normaliser's device)."""
        return pixels.mul_(self.scale).add_(self.shift)

    def formatted(self, pixels: torch.Tensor) -> torch.Tensor:
        """``pixels`` in this normaliser's memory format."""
        return pixels.contiguous(memory_format=torch.channels_last) if self.channels_last else pixels


# ------------------------------------------------------------------------------------------------ bundle


@dataclass
class DataBundle:
    """A decoded data set and its split, ready for training, with an audit of what was left out.

    ``skipped``: unusable files left out with ``data.on_bad_image: skip``, as ``{"path", "reason"}``
    (path relative to ``root``). ``audit``: JSON-serialisable summary, see ``data_audit``.
    """

    root: Path
    classes: list[str]
    images: DecodedImages
    splits: dict[str, np.ndarray]
    split_hash: str
    audit: dict[str, Any] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

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
        images = self.images.images
        selected = (
            images.subset(index) if isinstance(images, StreamedImages) else images.index_select(0, index)
        )
        return selected, self.images.labels.index_select(0, index)

    def relpaths(self, split: str) -> list[str]:
        return [self.images.relpaths[int(i)] for i in self.indices(split)]


def build_data(data_config: DataConfig, progress: Progress | None = None) -> DataBundle:
    """Resolve the root (None = the embedded synthetic set), discover, scan and hash, set aside unusable
    files, find (and with ``data.dedupe`` drop) duplicates, split, then decode once.

    Files that only fail when decoded (damage past the header) are found after the split; with
    ``on_bad_image: skip`` the split is then made again without them, exactly as if they had been caught
    by the scan or were not on disk, so every class keeps its place in every split.
    """
    with pillow_bomb_check_suspended():
        return _build_data(data_config, progress)


def _build_data(data_config: DataConfig, progress: Progress | None) -> DataBundle:
    root = resolve_root(data_config)
    classes, records = discover_images(root, data_config.mask_patterns, data_config.extensions)
    _require_two_classes(root, classes)
    scanned = scan_files(records, data_config.max_image_pixels)
    usable, skipped = set_aside_unusable(root, scanned, data_config.on_bad_image)
    if skipped:
        _warn_skipped(skipped, "scanning")
    groups = duplicate_groups(usable)
    removed = duplicates_to_drop(groups) if data_config.dedupe else []
    kept = _without(usable, removed)
    _require_images_in_every_class(root, classes, kept, skipped, removed)
    excluded = {entry["path"] for entry in skipped} | set(removed)
    splits: dict[str, np.ndarray] | None = None
    manifest_dropped: list[str] = []
    try:  # before decoding, so that a bad manifest or split fails fast
        splits, manifest_dropped = _make_splits(data_config, root, kept, classes, excluded)
    except DataError:
        if data_config.on_bad_image == "error":
            raise
        # the split may fail because of files that decoding will skip: try again after decoding
    hashes = [str(f.sha256) for f in kept]
    if data_config.storage == "stream":
        decoded = _streamed(root, [file.record for file in kept], classes, data_config, hashes)
    else:
        decoded = decode_images(root, [file.record for file in kept], classes, data_config, progress, hashes)
    if decoded.skipped:
        _warn_skipped(decoded.skipped, "decoding")
        skipped = skipped + decoded.skipped
        kept = _without(kept, [entry["path"] for entry in decoded.skipped])
        _require_images_in_every_class(root, classes, kept, skipped, removed)
        excluded |= {entry["path"] for entry in decoded.skipped}
    if decoded.skipped or splits is None:
        splits, manifest_dropped = _make_splits(data_config, root, kept, classes, excluded)
    relpaths = [_relpath(file) for file in kept]
    audit = data_audit(len(records), kept, splits, groups, removed, skipped, manifest_dropped)
    _warn_about_audit(audit, data_config.dedupe)
    return DataBundle(
        root=root,
        classes=classes,
        images=decoded,
        splits=splits,
        split_hash=split_sha256(relpaths, splits),
        audit=audit,
        skipped=[dict(entry) for entry in skipped],
    )


def _streamed(
    root: Path,
    records: Sequence[ImageRecord],
    classes: Sequence[str],
    data_config: DataConfig,
    hashes: list[str],
) -> DecodedImages:
    """The data set without decoding anything: batches are decoded when the training loop gathers them."""
    return DecodedImages(
        images=StreamedImages([root / record.relpath for record in records], data_config),
        labels=torch.tensor([record.label for record in records], dtype=torch.int64),
        relpaths=[record.relpath for record in records],
        classes=list(classes),
        sha256=hashes,
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


def _without(files: Sequence[ScannedFile], relpaths: Collection[str]) -> list[ScannedFile]:
    left_out = set(relpaths)
    return [file for file in files if _relpath(file) not in left_out]


def _require_two_classes(root: Path, classes: Sequence[str]) -> None:
    if len(classes) < 2:
        raise DataError(
            f"data root {root} has only one class folder, {classes[0]!r}; a classifier needs at least 2 "
            "classes: add a subfolder of images for each other class"
        )


def _require_images_in_every_class(
    root: Path,
    classes: Sequence[str],
    kept: Sequence[ScannedFile],
    skipped: Sequence[Skipped],
    removed: Sequence[str],
) -> None:
    present = {file.record.label for file in kept}
    for label, name in enumerate(classes):
        if label not in present:
            raise DataError(
                f"class {name!r} has no usable images left ({len(skipped)} unusable file(s) skipped, "
                f"{len(removed)} duplicate(s) removed in all); fix its images in {root / name} "
                "or remove the folder"
            )


def _make_splits(
    data_config: DataConfig,
    root: Path,
    files: Sequence[ScannedFile],
    classes: list[str],
    excluded: Collection[str],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """(index arrays into ``files``, excluded paths that the manifest lists and that were dropped)."""
    relpaths = [_relpath(file) for file in files]
    dropped: list[str] = []
    if data_config.manifest is not None:
        manifest, assigned = read_manifest(resolve_manifest(data_config.manifest, root))
        splits = splits_from_manifest(manifest, assigned, relpaths, excluded)
        dropped = sorted(path for path in assigned if path in excluded)
        remedy = f"list some images as {{split}} in {data_config.manifest}"
    else:
        labels = [file.record.label for file in files]
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
    return splits, dropped


def data_audit(
    n_found: int,
    kept: Sequence[ScannedFile],
    splits: dict[str, np.ndarray],
    groups: Sequence[Sequence[ScannedFile]],
    removed: Sequence[str],
    skipped: Sequence[Skipped],
    manifest_dropped: Sequence[str],
) -> dict[str, Any]:
    """JSON-serialisable summary of the data set as used; relpaths are relative to the data root.

    ``n_found``: image files discovered; ``n_images``: images used. ``duplicate_groups``: byte-identical
    files as found (before ``dedupe``); ``label_conflicts``: those of them filed under different classes;
    ``cross_split_duplicates``: identical images among those used that sit in different splits (leakage);
    ``removed_duplicates``: files ``dedupe`` dropped; ``skipped``: unusable files left out, with the
    reason; ``manifest_dropped``: paths the manifest lists that were left out as skipped or duplicate.
    """
    split_of = {int(index): name for name, indices in splits.items() for index in indices}
    kept_groups = duplicate_groups(kept)
    position = {_relpath(file): index for index, file in enumerate(kept)}
    cross_split = [
        group for group in kept_groups if len({split_of.get(position[_relpath(f)]) for f in group}) > 1
    ]
    return {
        "n_found": n_found,
        "n_images": len(kept),
        "duplicate_groups": [[_relpath(file) for file in group] for group in groups],
        "cross_split_duplicates": [[_relpath(file) for file in group] for group in cross_split],
        "label_conflicts": [
            [_relpath(file) for file in group]
            for group in groups
            if len({file.record.label for file in group}) > 1
        ],
        "removed_duplicates": list(removed),
        "skipped": [dict(entry) for entry in skipped],
        "manifest_dropped": list(manifest_dropped),
    }


def _warn_skipped(skipped: Sequence[Skipped], stage: str) -> None:
    first = skipped[0]
    logger.warning(
        "skipping %d unusable image file(s) found while %s, e.g. %s: %s",
        len(skipped),
        stage,
        first["path"],
        first["reason"],
    )


def _warn_about_audit(audit: dict[str, Any], dedupe: bool) -> None:
    if audit["label_conflicts"] and not dedupe:
        logger.warning(
            "%d group(s) of identical images are filed under different classes, e.g. %s; set data.dedupe "
            "to drop them",
            len(audit["label_conflicts"]),
            " = ".join(audit["label_conflicts"][0]),
        )
    if audit["cross_split_duplicates"]:
        logger.warning(
            "%d group(s) of identical images sit in different splits (leakage), e.g. %s; set data.dedupe "
            "to drop the copies",
            len(audit["cross_split_duplicates"]),
            " = ".join(audit["cross_split_duplicates"][0]),
        )
