"""Decoding: any image file to the preprocessed uint8 [3, H, W] tensor, once per data set (``decode_images``,
optionally cached on disk) or per batch when the data does not fit in memory (``StreamedImages``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps

from bcbench.config import DataConfig
from bcbench.data.cache import DecodeCache
from bcbench.data.discover import ImageRecord
from bcbench.data.scan import (
    DECODE_THREADS,
    Skipped,
    bad_image_error,
    describe_error,
    file_sha256,
    pillow_bomb_check_suspended,
)
from bcbench.errors import DataError

HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


ALPHA_MODES = frozenset({"LA", "PA", "RGBA", "RGBa"})


Progress = Callable[[int, int], None]


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
        raise UnreadableImage(path, describe_error(error)) from None


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
    """RGB PIL image -> uint8 tensor [3, image_size, image_size], shaped by ``resize_geometry``."""
    resized = resize_geometry(image, mode, image_size, resize_shorter)
    return torch.from_numpy(np.array(resized.convert("RGB"))).permute(2, 0, 1).contiguous()


def resize_geometry(
    image: Image.Image,
    mode: Literal["square", "shorter_crop"],
    image_size: int,
    resize_shorter: int = 256,
) -> Image.Image:
    """The geometric part of ``preprocess``, for any PIL mode (lesion masks get it too, as float images).

    ``square``: bilinear (antialiased) resize to image_size x image_size, aspect not kept.
    ``shorter_crop``: torchvision's ``Resize(resize_shorter)`` then ``CenterCrop(image_size)``, pixel for
    pixel.
    """
    if mode == "square":
        return image.resize((image_size, image_size), Image.Resampling.BILINEAR)
    if mode == "shorter_crop":
        return center_crop(resize_shorter_side(image, resize_shorter), image_size)
    raise DataError(f"unknown preprocess mode {mode!r}; use 'square' or 'shorter_crop'")


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


def decode_file(path: Path, data_config: DataConfig) -> torch.Tensor:
    """One image file as the preprocessed uint8 [3, H, W] tensor; UnreadableImage when it cannot be."""
    config = data_config
    return preprocess(load_rgb(path), config.preprocess, config.image_size, config.resize_shorter)


@dataclass
class DecodedImages:
    """Every usable image of a data set, decoded and preprocessed once, in discovery order."""

    pixels: torch.Tensor | StreamedImages  # uint8 [N, 3, H, W], or decoded per batch (storage: stream)
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
        pixels=images,
        labels=labels[kept],
        relpaths=[relpaths[index] for index in kept],
        classes=list(classes),
        sha256=[digests[index] for index in kept],
        skipped=skipped,
    )


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


@functools.cache
def _streaming_pool() -> ThreadPoolExecutor:
    """One pool for every streamed batch (not a new one per batch in the training loop)."""
    return ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="bcbench-decode")


SMALL_CROP_SHARE = 0.5


def crop_warning(data_config: DataConfig) -> str:
    """One line when ``shorter_crop`` keeps less than half of the resized shorter-side square ("" else):
    ``image_size=32`` with the study's ``resize_shorter=256`` keeps 1.6% of it, the centre only."""
    if data_config.preprocess != "shorter_crop":
        return ""
    share = (data_config.image_size / data_config.resize_shorter) ** 2
    if share >= SMALL_CROP_SHARE:
        return ""
    size, shorter = data_config.image_size, data_config.resize_shorter
    return (
        f"data.image_size={size} with data.resize_shorter={shorter} keeps the central {size} x {size} px of "
        f"the resized image ({share:.1%} of its shorter-side square): set data.resize_shorter="
        f"{round(size * 256 / 224)} (256 -> 224, scaled) or preprocess: square"
    )
