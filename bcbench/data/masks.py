"""Lesion masks as data: found beside their images (or named in a CSV index), shaped exactly as their
images are shaped, kept as packed bits.

Localisation scores (``bcbench.explain``) compare a model's explanation map with the lesion, pixel for
pixel, so a mask must sit on exactly the pixels of its preprocessed image. A mask therefore gets the
image's EXIF orientation and the same ``resize_geometry`` as its image (same PIL filter, same sizes, same
crop), never a colour operation. Masks are resampled as images of 0.0 / 1.0 floats with the image's own
antialiased bilinear filter and thresholded at one half: a preprocessed pixel is lesion when lesion
pixels carry at least half of the weights that formed the image pixel under it, so the mask covers what
the image shows of the lesion at least half-strong. Along a straight edge this agrees with
nearest-neighbour sampling (a symmetric filter gives half the weight where a pixel's centre crosses the
edge); at corners and thin parts nearest-neighbour keeps or drops a part by where its sampling grid
happens to fall (a 1 px line shrunk 3x survives in some rows and not others), the threshold by how
strongly the image still shows it.

BUSI's layout: ``benign (3).png`` has ``benign (3)_mask.png`` beside it, and an image with several
lesions also ``_mask_1.png``, ``_mask_2.png``; the lesion is their union. Any non-zero pixel of a mask
file is lesion (BUSI's originals are 1-bit, 8-bit RGB or RGBA). An image without a mask file gets an
empty mask; ``PackedMasks.annotated`` tells the two apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from bcbench.config import DataConfig
from bcbench.data.decode import resize_geometry
from bcbench.data.scan import DECODE_THREADS, describe_error
from bcbench.data.split import CommentedCsv
from bcbench.errors import DataError

MASK_PATTERN = "_mask"
MASK_EXTENSIONS = (".png",)
# EXIF orientation tag (0x0112) -> the transpose that shows the image upright (EXIF 2.3, section 4.6.4)
EXIF_ORIENTATION = 0x0112
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
Geometry = Literal["square", "shorter_crop"]


@dataclass(frozen=True)
class PackedMasks:
    """N boolean masks of height x width, eight pixels a byte (``np.packbits`` of each flattened mask).

    ``annotated[i]`` says whether image i had a mask file at all; ``has_lesion`` whether its mask has a
    lesion pixel after preprocessing. Store ``to_arrays()`` (e.g. in an npz beside the decoded images)
    and read it back with ``from_arrays``.
    """

    bits: np.ndarray  # uint8 [N, ceil(height * width / 8)]
    height: int
    width: int
    annotated: np.ndarray  # bool [N]

    @classmethod
    def pack(cls, masks: torch.Tensor | np.ndarray, annotated: Sequence[bool] | None = None) -> PackedMasks:
        array = np.asarray(masks.cpu() if isinstance(masks, torch.Tensor) else masks).astype(bool)
        if array.ndim != 3:
            raise ValueError(f"masks must be [N, height, width], got shape {array.shape}")
        count, height, width = array.shape
        flags = np.ones(count, bool) if annotated is None else np.asarray(annotated, dtype=bool)
        return cls(np.packbits(array.reshape(count, -1), axis=1), height, width, flags)

    def __len__(self) -> int:
        return int(self.bits.shape[0])

    def subset(self, index: Sequence[int] | np.ndarray | torch.Tensor) -> PackedMasks:
        """The masks at ``index``, still packed (e.g. one split's)."""
        rows = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index, dtype=np.int64)
        return PackedMasks(self.bits[rows], self.height, self.width, self.annotated[rows])

    def unpack(self, index: Sequence[int] | np.ndarray | torch.Tensor | None = None) -> torch.Tensor:
        """bool [n, height, width] of the masks at ``index`` (all when None), on the CPU."""
        rows = self.bits if index is None else self.bits[np.asarray(index, dtype=np.int64)]
        flat = np.unpackbits(rows, axis=1, count=self.height * self.width).astype(bool)
        return torch.from_numpy(flat.reshape(-1, self.height, self.width))

    @property
    def lesion_pixels(self) -> np.ndarray:
        """int64 [N]: lesion pixels of each mask."""
        return np.unpackbits(self.bits, axis=1, count=self.height * self.width).sum(axis=1, dtype=np.int64)

    @property
    def has_lesion(self) -> np.ndarray:
        return self.lesion_pixels > 0

    def to_arrays(self, prefix: str = "mask_") -> dict[str, np.ndarray]:
        shape = np.asarray([self.height, self.width], dtype=np.int64)
        return {f"{prefix}bits": self.bits, f"{prefix}shape": shape, f"{prefix}annotated": self.annotated}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "mask_") -> PackedMasks:
        height, width = (int(v) for v in arrays[f"{prefix}shape"])
        return cls(
            np.asarray(arrays[f"{prefix}bits"]), height, width, np.asarray(arrays[f"{prefix}annotated"])
        )


def mask_files_beside(
    image_paths: Sequence[Path], pattern: str = MASK_PATTERN, extensions: Sequence[str] = MASK_EXTENSIONS
) -> list[tuple[Path, ...]]:
    """For each image, its mask files: ``<stem><pattern>[_N]<ext>`` in the image's folder, case-insensitive,
    sorted. Each folder is listed once, so this stays linear in the number of files."""
    listings: dict[Path, list[str]] = {}
    found: list[tuple[Path, ...]] = []
    suffixes = "|".join(
        re.escape(ext.lower() if ext.startswith(".") else f".{ext.lower()}") for ext in extensions
    )
    for image in image_paths:
        folder = Path(image).parent
        if folder not in listings:
            listings[folder] = sorted(os.listdir(folder)) if folder.is_dir() else []
        name = re.compile(
            re.escape(Path(image).stem) + re.escape(pattern) + rf"(_\d+)?({suffixes})", re.IGNORECASE
        )
        found.append(tuple(folder / entry for entry in listings[folder] if name.fullmatch(entry)))
    return found


def csv_mask_files(index: Path, root: Path) -> dict[str, tuple[Path, ...]]:
    """relpath -> mask files of an index CSV's optional ``mask`` column (paths relative to ``root``; several
    masks of one image separated by ``;``; empty = no mask). No ``mask`` column gives an empty dict."""
    with index.open(newline="", encoding="utf-8-sig") as handle:
        commented = CommentedCsv(handle)
        columns = commented.require_columns(("path",), f"data.index {index}", "path,label[,mask]", lower=True)
        if "mask" not in columns:
            return {}
        masks: dict[str, tuple[Path, ...]] = {}
        for record in commented.reader:
            relpath = (record.get("path") or "").strip().replace("\\", "/").removeprefix("./")
            cells = [cell.strip() for cell in (record.get("mask") or "").split(";") if cell.strip()]
            masks[relpath] = tuple(_mask_in_root(index, commented.row, root, cell) for cell in cells)
        return masks


def _mask_in_root(index: Path, row: int, root: Path, relpath: str) -> Path:
    path = Path(os.path.normpath(root / relpath.replace("\\", "/")))
    if Path(relpath).is_absolute() or not path.is_relative_to(os.path.normpath(root)):
        raise DataError(
            f"data.index {index} row {row}: mask {relpath!r} is not inside data.root {root}; "
            "use a path relative to it"
        )
    if not path.is_file():
        raise DataError(
            f"data.index {index} row {row}: mask {relpath!r} does not exist under {root}; fix the path"
        )
    return path


def read_mask(path: Path) -> Image.Image:
    """A mask file as a mode ``F`` image of 0.0 / 1.0 (any non-zero colour value is lesion, alpha ignored)."""
    try:
        with Image.open(path) as opened:
            opened.load()
            if opened.mode in ("1", "L", "I", "I;16", "I;16L", "I;16B", "F"):
                values = np.asarray(opened) != 0
            elif opened.mode == "LA":
                values = np.asarray(opened.getchannel("L")) != 0
            else:
                values = np.asarray(opened.convert("RGB")).any(axis=2)
    except Exception as error:  # broken files raise all sorts of errors, as in decode.load_rgb
        raise DataError(
            f"cannot read mask {path}: {describe_error(error)}; replace or remove the file"
        ) from None
    return Image.fromarray(values.astype(np.float32))


def load_mask(
    image_path: Path,
    mask_paths: Sequence[Path],
    mode: Geometry,
    image_size: int,
    resize_shorter: int = 256,
) -> torch.Tensor:
    """bool [image_size, image_size]: the union of ``mask_paths`` after the image's own geometry (see the
    module doc); all False when there is no mask file. A mask whose size differs from its image's is a
    ``DataError`` naming both files."""
    try:
        with Image.open(image_path) as image:
            size, orientation = image.size, image.getexif().get(EXIF_ORIENTATION)
    except Exception as error:
        raise DataError(
            f"cannot read image {image_path}: {describe_error(error)}; replace or remove the file"
        ) from None
    union = np.zeros((size[1], size[0]), dtype=np.float32)
    for path in mask_paths:
        mask = read_mask(path)
        if mask.size != size:
            raise DataError(
                f"mask {path} is {mask.size[0]}x{mask.size[1]} pixels but its image {image_path} is "
                f"{size[0]}x{size[1]}; resize the mask to its image's size (nearest neighbour) or remove it"
            )
        np.maximum(union, np.asarray(mask), out=union)
    shaped = Image.fromarray(union)
    if orientation in UPRIGHT:
        shaped = shaped.transpose(UPRIGHT[orientation])
    resized = np.asarray(resize_geometry(shaped, mode, image_size, resize_shorter))
    return torch.from_numpy(resized >= 0.5)


def load_masks(
    image_paths: Sequence[Path], mask_paths: Sequence[Sequence[Path]], data_config: DataConfig
) -> PackedMasks:
    """The masks of ``image_paths`` (in order) after ``data_config``'s preprocessing, packed; read in
    threads (PIL releases the GIL)."""
    if len(image_paths) != len(mask_paths):
        raise ValueError("one tuple of mask files per image is needed")
    config = data_config

    def load(pair: tuple[Path, Sequence[Path]]) -> torch.Tensor:
        return load_mask(pair[0], pair[1], config.preprocess, config.image_size, config.resize_shorter)

    side = config.image_size
    masks = np.zeros((len(image_paths), side, side), dtype=bool)
    with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
        for row, mask in enumerate(pool.map(load, zip(image_paths, mask_paths, strict=True))):
            masks[row] = mask.numpy()
    return PackedMasks.pack(masks, [len(files) > 0 for files in mask_paths])
