"""Vet and hash files before anything is decoded: read each once (sha256 of its bytes, a look at its image
header), set aside unusable files, group byte-identical duplicates.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from PIL import Image, UnidentifiedImageError

from bcbench.data.discover import ImageRecord
from bcbench.errors import DataError

# PIL releases the GIL while decoding and resampling, so threads overlap well


# PIL releases the GIL while decoding and resampling, so threads overlap well
DECODE_THREADS = min(8, os.cpu_count() or 1)


Skipped = dict[str, str]  # {"path": relpath, "reason": why the file was left out}


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
            return ScannedFile(record, stream_sha256(handle))
    except OSError as error:
        return ScannedFile(
            record, None, f"the file cannot be read ({error.strerror or describe_error(error)})"
        )


def _file_problem(path: Path) -> str | None:
    """Why ``path`` is not a non-empty regular file (following symbolic links), or None."""
    if path.is_symlink() and not path.exists():
        return f"broken symbolic link (points to {os.readlink(path)}, which does not exist)"
    try:
        status = path.stat()
    except OSError as error:
        return f"the file cannot be read ({error.strerror or describe_error(error)})"
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
        return f"damaged image header ({describe_error(error)})"
    return pixel_limit_problem(size, max_pixels)


def pixel_limit_problem(size: tuple[int, int], max_pixels: int | None) -> str | None:
    """Why an image of ``size`` (width, height) is refused as a possible decompression bomb, or None."""
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return None
    return (
        f"its header claims {width}x{height} = {width * height:,} pixels, more than data.max_image_pixels "
        f"({max_pixels:,}), the decompression-bomb guard (raise it if the image is genuine)"
    )


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


def bad_image_error(path: str | Path, reason: str, others: int = 0) -> DataError:
    """The one-line error for an unusable image file when ``data.on_bad_image`` is ``error``."""
    more = f" ({others} more unusable file(s) found)" if others else ""
    return DataError(
        f"cannot read image {path}: {reason}{more}; replace or remove the file, or set "
        "data.on_bad_image=skip to leave unusable images out (they are listed in the run record)"
    )


def duplicate_groups(files: Sequence[ScannedFile]) -> list[list[ScannedFile]]:
    """Groups of two or more byte-identical files (same sha256), each sorted by relpath, groups sorted by
    their first relpath."""
    by_hash: dict[str | None, list[ScannedFile]] = {}
    for file in files:
        by_hash.setdefault(file.sha256, []).append(file)
    groups = [sorted(group, key=relpath_of) for group in by_hash.values() if len(group) > 1]
    return sorted(groups, key=lambda group: relpath_of(group[0]))


def duplicates_to_drop(groups: Sequence[Sequence[ScannedFile]]) -> list[str]:
    """Relpaths that ``data.dedupe`` removes: all but the first copy of each group, or every copy when
    the copies are filed under different classes (their label is ambiguous)."""
    dropped: list[str] = []
    for group in groups:
        conflicting = len({file.record.label for file in group}) > 1
        dropped.extend(relpath_of(file) for file in (group if conflicting else group[1:]))
    return sorted(dropped)


def relpath_of(file: ScannedFile) -> str:
    return file.record.relpath


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as handle:
            return stream_sha256(handle, chunk_size)
    except OSError as error:
        raise DataError(
            f"cannot read image {path}: {error.strerror or error}; check its permissions"
        ) from None


def stream_sha256(handle: IO[bytes], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(chunk_size):
        digest.update(chunk)
    return digest.hexdigest()


def describe_error(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
