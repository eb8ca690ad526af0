"""Hostile inputs to bcbench.data: unusable files, odd but valid images, broken folders, duplicates.

Every case writes its own small files; each build decodes a handful of tiny images.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import struct
import warnings
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

import bcbench.data.decode as data
from bcbench.config import DataConfig
from bcbench.data import build_data
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error

BENIGN_MALIGNANT = {"benign": 4, "malignant": 4}


BAD = "benign/bad.png"


SPLIT_ORDER = ("train", "val", "test")


def config(root: Path, **changes: object) -> DataConfig:
    return DataConfig(root=str(root), image_size=8, **changes)  # type: ignore[arg-type]


def png_bytes(seed: int = 0, size: int = 32) -> bytes:
    """A valid random grayscale PNG."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def write_not_an_image(path: Path) -> None:
    path.write_text("patient notes, not pixels\n")


def write_empty(path: Path) -> None:
    path.write_bytes(b"")


def write_truncated(path: Path) -> None:
    path.write_bytes(png_bytes()[:200])  # header intact: only decoding finds it


def write_corrupt_pixels(path: Path) -> None:
    content = bytearray(png_bytes())
    content[100:300] = bytes(200)  # zeroes over the compressed pixel data
    path.write_bytes(bytes(content))


def write_bomb(path: Path) -> None:
    path.write_bytes(png_claiming_size(100_000, 100_000))


def write_broken_link(path: Path) -> None:
    path.symlink_to(path.parent / "moved-away.png")


BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "not-an-image": (write_not_an_image, "not an image file"),
    "zero-bytes": (write_empty, "empty (0 bytes)"),
    "truncated": (write_truncated, "truncated"),
    "corrupt-pixels": (write_corrupt_pixels, "broken data stream"),
    "bomb-header": (write_bomb, "100000x100000 = 10,000,000,000 pixels"),
    "broken-symlink": (write_broken_link, "broken symbolic link"),
}


def folder_with_bad_file(make_image_folder: Callable[..., Path], kind: str) -> Path:
    root = make_image_folder(BENIGN_MALIGNANT)
    writer, _ = BAD_FILES[kind]
    writer(root / BAD)
    return root


@pytest.fixture
def folder_with_duplicates(make_image_folder: Callable[..., Path]) -> Path:
    """benign 5, malignant 5, plus a same-class copy and a copy filed under the other class."""
    root = make_image_folder({"benign": 5, "malignant": 5})
    shutil.copyfile(root / "benign" / "benign (1).png", root / "benign" / "zz copy.png")
    shutil.copyfile(root / "benign" / "benign (2).png", root / "malignant" / "relabelled.png")
    return root


SAME_CLASS = ["benign/benign (1).png", "benign/zz copy.png"]


CONFLICT = ["benign/benign (2).png", "malignant/relabelled.png"]


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_unusable_file_is_one_error_naming_file_and_reason(
    make_image_folder: Callable[..., Path], kind: str
) -> None:
    root = folder_with_bad_file(make_image_folder, kind)
    with pytest.raises(DataError) as error:
        build_data(config(root))
    assert_one_line_error(error, str(root / BAD), BAD_FILES[kind][1], "data.on_bad_image=skip")


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_skip_leaves_unusable_file_out_and_lists_it(
    make_image_folder: Callable[..., Path], kind: str
) -> None:
    root = folder_with_bad_file(make_image_folder, kind)

    bundle = build_data(config(root, on_bad_image="skip"))

    assert [entry["path"] for entry in bundle.skipped] == [BAD]
    assert BAD_FILES[kind][1] in bundle.skipped[0]["reason"]
    assert bundle.audit["skipped"] == bundle.skipped
    assert (bundle.audit["n_found"], bundle.audit["n_images"]) == (9, 8)
    assert (
        sum(bundle.counts().values()) == 8 == len(bundle.decoded.relpaths) == bundle.decoded.pixels.shape[0]
    )
    assert BAD not in bundle.decoded.relpaths
    json.dumps(bundle.audit)


def test_error_counts_the_other_unusable_files(make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder(BENIGN_MALIGNANT)
    write_empty(root / "benign" / "a-empty.png")
    write_not_an_image(root / "malignant" / "notes.png")
    write_bomb(root / "malignant" / "zz-bomb.png")
    with pytest.raises(DataError) as error:
        build_data(config(root))
    assert_one_line_error(error, str(root / "benign" / "a-empty.png"), "(2 more unusable file(s) found)")


def test_skip_after_decoding_splits_as_if_the_file_were_absent(
    make_image_folder: Callable[..., Path],
) -> None:
    root = make_image_folder({"benign": 9, "malignant": 7})
    write_truncated(root / BAD)  # passes the scan, fails when decoded (after the first split)

    skipped = build_data(config(root, on_bad_image="skip"))
    (root / BAD).unlink()
    clean = build_data(config(root))

    assert skipped.split_hash == clean.split_hash
    for split in ("train", "val", "test"):
        assert skipped.relpaths(split) == clean.relpaths(split)
        assert torch.equal(skipped.tensors(split)[0], clean.tensors(split)[0])
        assert torch.equal(skipped.tensors(split)[1], clean.tensors(split)[1])


def test_skipping_every_image_of_a_class_is_an_error(make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder({"benign": 4, "malignant": 0, "normal": 3})
    (root / "malignant").mkdir()
    write_empty(root / "malignant" / "m1.png")
    write_truncated(root / "malignant" / "m2.png")
    with pytest.raises(DataError) as error:
        build_data(config(root, on_bad_image="skip"))
    assert_one_line_error(error, "class 'malignant' has no usable images left", str(root / "malignant"))


def test_max_image_pixels_is_the_limit_and_pillow_setting_is_restored(
    make_image_folder: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_image_folder(BENIGN_MALIGNANT)  # 20 x 16 = 320 pixels each
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse every image

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        assert sum(build_data(config(root, max_image_pixels=320)).counts().values()) == 8
    assert Image.MAX_IMAGE_PIXELS == 100

    with pytest.raises(DataError) as error:
        build_data(config(root, max_image_pixels=319))
    assert_one_line_error(error, str(root / "benign" / "benign (1).png"), "20x16 = 320 pixels", "(319)")
    assert Image.MAX_IMAGE_PIXELS == 100


def test_pillow_bomb_check_suspension_nests() -> None:
    original = Image.MAX_IMAGE_PIXELS
    with data.pillow_bomb_check_suspended():
        with data.pillow_bomb_check_suspended():
            assert Image.MAX_IMAGE_PIXELS is None
        assert Image.MAX_IMAGE_PIXELS is None
    assert original == Image.MAX_IMAGE_PIXELS


def test_skipped_file_listed_in_manifest_is_dropped_not_an_error(
    make_image_folder: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_image_folder({"benign": 3, "malignant": 3})
    write_not_an_image(root / BAD)
    rows = [
        f"{c}/{c} ({i}).png,{s}"
        for c in BENIGN_MALIGNANT
        for i, s in zip((1, 2, 3), SPLIT_ORDER, strict=True)
    ]
    manifest = tmp_path / "split.csv"
    manifest.write_text("path,split\n" + "\n".join([*rows, f"{BAD},train"]) + "\n")

    bundle = build_data(config(root, manifest=str(manifest), on_bad_image="skip"))

    assert bundle.counts() == {"train": 2, "val": 2, "test": 2}
    assert bundle.audit["manifest_dropped"] == [BAD]
    expected = hashlib.sha256("".join(f"{row}\n" for row in sorted(rows)).encode()).hexdigest()
    assert bundle.split_hash == expected  # over the files used only

    manifest.write_text("path,split\n" + "\n".join([*rows, "benign/elsewhere.png,train"]) + "\n")
    with pytest.raises(DataError) as error:
        build_data(config(root, manifest=str(manifest), on_bad_image="skip"))
    assert_one_line_error(error, "'benign/elsewhere.png' is not among")


def test_decode_cache_remembers_skipped_files_without_poisoning(
    make_image_folder: Callable[..., Path], tmp_path: Path, counted_loads: list[Path]
) -> None:
    root = make_image_folder(BENIGN_MALIGNANT)
    write_truncated(root / BAD)
    skip = config(root, on_bad_image="skip", cache_dir=str(tmp_path / "cache"))

    first = build_data(skip)
    assert len(counted_loads) == 9
    again = build_data(skip)
    assert len(counted_loads) == 9  # cache hit, skipped file included
    assert again.skipped == first.skipped and again.split_hash == first.split_hash
    assert torch.equal(again.decoded.pixels, first.decoded.pixels)

    with pytest.raises(DataError):  # a cache made while skipping never hides the error
        build_data(config(root, cache_dir=str(tmp_path / "cache")))

    (root / BAD).write_bytes(png_bytes(seed=5))  # fixed: new content, new key
    fixed = build_data(skip)
    assert fixed.skipped == [] and BAD in fixed.decoded.relpaths and len(fixed.decoded.relpaths) == 9


def test_images_smaller_than_the_crop_are_upscaled(tmp_path: Path) -> None:
    sizes = [(10, 7), (7, 10), (1, 1)]
    for class_name in ("benign", "malignant"):
        for number, size in enumerate(sizes):
            pixels = np.random.default_rng(number).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            (tmp_path / class_name).mkdir(exist_ok=True)
            Image.fromarray(pixels).save(tmp_path / class_name / f"{number}.png")
    reference = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.PILToTensor()]
    )

    bundle = build_data(
        DataConfig(root=str(tmp_path), preprocess="shorter_crop", image_size=224, resize_shorter=256)
    )

    assert bundle.decoded.pixels.shape == (6, 3, 224, 224)
    for index, relpath in enumerate(bundle.decoded.relpaths):
        with Image.open(tmp_path / relpath) as image:
            expected = reference(image.convert("RGB"))
        assert (bundle.decoded.pixels[index].int() - expected.int()).abs().max() <= 1


def test_unusual_valid_modes_pass_the_whole_pipeline(tmp_path: Path) -> None:
    benign, malignant = tmp_path / "benign", tmp_path / "malignant"
    benign.mkdir()
    malignant.mkdir()
    Image.fromarray(np.full((12, 10), 65535, dtype=np.uint16)).save(benign / "sixteen-bit.png")
    palette = Image.new("P", (10, 12))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.save(benign / "palette.png", transparency=b"\x00\x80")
    Image.new("RGBA", (10, 12), (10, 20, 30, 0)).save(benign / "rgba.png")
    Image.new("CMYK", (10, 12), (0, 255, 255, 0)).save(malignant / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (10, 12), (0, 200, 0)).save(malignant / "exif.jpg", exif=exif.tobytes())
    Image.new("LA", (10, 12), (90, 0)).save(malignant / "la.png")

    bundle = build_data(DataConfig(root=str(tmp_path), image_size=8))

    assert bundle.skipped == [] and bundle.decoded.pixels.shape == (6, 3, 8, 8)
    first_pixel = {
        relpath: bundle.decoded.pixels[i, :, 0, 0].tolist()
        for i, relpath in enumerate(bundle.decoded.relpaths)
    }
    assert first_pixel["benign/sixteen-bit.png"] == [255, 255, 255]
    assert first_pixel["benign/palette.png"] == [255, 0, 0]
    assert first_pixel["benign/rgba.png"] == [10, 20, 30]
    assert first_pixel["malignant/la.png"] == [90, 90, 90]


@pytest.mark.parametrize(
    "junk", [[], [".DS_Store", "Thumbs.db", "._benign (1).png"]], ids=["empty", "only-junk"]
)
def test_class_folder_without_images_is_named(
    make_image_folder: Callable[..., Path], junk: list[str]
) -> None:
    root = make_image_folder(BENIGN_MALIGNANT)
    (root / "normal").mkdir()
    for name in junk:
        (root / "normal" / name).write_bytes(b"junk")
    with pytest.raises(DataError) as error:
        build_data(config(root))
    assert_one_line_error(error, f"class folder {root / 'normal'} has no images")


def test_single_class_is_an_error_naming_it(make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder({"benign": 5})
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "__MACOSX").mkdir()
    with pytest.raises(DataError) as error:
        build_data(config(root))
    assert_one_line_error(error, str(root), "only one class folder, 'benign'", "at least 2 classes")


@pytest.mark.parametrize("on_bad_image", ["error", "skip"])
def test_too_few_images_of_a_class_names_class_and_count(
    make_image_folder: Callable[..., Path], on_bad_image: str
) -> None:
    root = make_image_folder({"benign": 6, "normal": 2})
    with pytest.raises(DataError) as error:
        build_data(config(root, on_bad_image=on_bad_image))
    assert_one_line_error(error, "class 'normal'", "only 2 image(s)")


def test_symlinked_files_are_followed(make_image_folder: Callable[..., Path], tmp_path: Path) -> None:
    root = make_image_folder(BENIGN_MALIGNANT)
    outside = tmp_path / "elsewhere" / "scan.png"
    outside.parent.mkdir()
    outside.write_bytes(png_bytes(seed=9))
    (root / "benign" / "linked.png").symlink_to(outside)

    bundle = build_data(config(root))

    index = bundle.decoded.relpaths.index("benign/linked.png")
    assert bundle.decoded.sha256[index] == hashlib.sha256(outside.read_bytes()).hexdigest()
    with Image.open(outside) as image:
        expected = data.preprocess(image.convert("RGB"), "square", 8)
    assert torch.equal(bundle.decoded.pixels[index], expected)


def test_symlinked_folders_are_not_followed_with_a_warning(
    make_image_folder: Callable[..., Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_image_folder(BENIGN_MALIGNANT)
    (root / "benign" / "loop").symlink_to(root, target_is_directory=True)

    with caplog.at_level(logging.WARNING, logger="bcbench.data"):
        bundle = build_data(config(root))

    assert sum(bundle.counts().values()) == 8
    assert any("not following symbolic link to a folder" in message for message in caplog.messages)


def test_audit_reports_duplicates_and_label_conflicts(folder_with_duplicates: Path) -> None:
    bundle = build_data(config(folder_with_duplicates))

    assert set(bundle.audit) == {
        "n_found",
        "n_images",
        "duplicate_groups",
        "cross_split_duplicates",
        "label_conflicts",
        "removed_duplicates",
        "skipped",
        "manifest_dropped",
    }
    assert bundle.audit["duplicate_groups"] == [SAME_CLASS, CONFLICT]
    assert bundle.audit["label_conflicts"] == [CONFLICT]
    assert bundle.audit["removed_duplicates"] == [] and bundle.audit["n_images"] == 12
    assert json.loads(json.dumps(bundle.audit)) == bundle.audit


def test_dedupe_keeps_first_copy_drops_conflicts_before_splitting(
    folder_with_duplicates: Path, counted_loads: list[Path]
) -> None:
    deduped = build_data(config(folder_with_duplicates, dedupe=True))

    removed = ["benign/benign (2).png", "benign/zz copy.png", "malignant/relabelled.png"]
    assert deduped.audit["removed_duplicates"] == removed
    assert deduped.audit["duplicate_groups"] == [SAME_CLASS, CONFLICT]  # as found
    assert deduped.audit["cross_split_duplicates"] == []
    assert "benign/benign (1).png" in deduped.decoded.relpaths
    assert sorted(counted_loads) == sorted(folder_with_duplicates / p for p in deduped.decoded.relpaths)
    assert len(counted_loads) == 9  # removed copies are never decoded

    for relpath in removed:
        (folder_with_duplicates / relpath).unlink()
    assert deduped.split_hash == build_data(config(folder_with_duplicates)).split_hash


def test_identical_images_in_different_splits_are_flagged_as_leakage(
    folder_with_duplicates: Path, tmp_path: Path
) -> None:
    rows = [f"{c}/{c} ({i}).png,{SPLIT_ORDER[i % 3]}" for c in ("benign", "malignant") for i in range(1, 6)]
    manifest = tmp_path / "split.csv"

    def build(copy_split: str) -> dict[str, object]:
        copies = [f"benign/zz copy.png,{copy_split}", "malignant/relabelled.png,val"]
        manifest.write_text("path,split\n" + "\n".join(rows + copies) + "\n")
        return build_data(config(folder_with_duplicates, manifest=str(manifest))).audit

    # benign (1) is in val, benign (2) in test
    assert build("val")["cross_split_duplicates"] == [CONFLICT]
    assert build("train")["cross_split_duplicates"] == [SAME_CLASS, CONFLICT]


def test_dedupe_with_manifest_needs_no_rows_for_removed_files(
    folder_with_duplicates: Path, tmp_path: Path
) -> None:
    rows = [f"{c}/{c} ({i}).png,{SPLIT_ORDER[i % 3]}" for c in ("benign", "malignant") for i in range(1, 6)]
    manifest = tmp_path / "split.csv"
    manifest.write_text("path,split\n" + "\n".join(row for row in rows if "benign (2)" not in row) + "\n")

    bundle = build_data(config(folder_with_duplicates, manifest=str(manifest), dedupe=True))

    assert sum(bundle.counts().values()) == 9
    assert bundle.audit["manifest_dropped"] == []
    with pytest.raises(DataError) as error:  # without dedupe the copies must be listed
        build_data(config(folder_with_duplicates, manifest=str(manifest)))
    assert_one_line_error(error, "does not list 3 image(s)")


def test_hashes_come_from_the_scan_not_a_second_pass(
    folder_with_duplicates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def second_pass(path: str | Path, chunk_size: int = 0) -> str:
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(data, "file_sha256", second_pass)
    bundle = build_data(config(folder_with_duplicates))
    for relpath, digest in zip(bundle.decoded.relpaths, bundle.decoded.sha256, strict=True):
        assert digest == hashlib.sha256((folder_with_duplicates / relpath).read_bytes()).hexdigest()


def test_decode_cache_key_follows_dedupe(
    folder_with_duplicates: Path, tmp_path: Path, counted_loads: list[Path]
) -> None:
    cache = str(tmp_path / "cache")
    kept = build_data(config(folder_with_duplicates, cache_dir=cache))
    deduped = build_data(config(folder_with_duplicates, cache_dir=cache, dedupe=True))
    assert len(counted_loads) == 12 + 9
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2

    assert build_data(config(folder_with_duplicates, cache_dir=cache, dedupe=True)).decoded.relpaths == (
        deduped.decoded.relpaths
    )
    assert (
        build_data(config(folder_with_duplicates, cache_dir=cache)).decoded.relpaths == kept.decoded.relpaths
    )
    assert len(counted_loads) == 21  # both hit
