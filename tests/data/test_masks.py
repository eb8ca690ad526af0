"""Lesion masks: found beside their images, aligned with them through every preprocess, packed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bcbench.config import DataConfig
from bcbench.data.decode import load_rgb, preprocess
from bcbench.data.masks import (
    EXIF_ORIENTATION,
    PackedMasks,
    csv_mask_files,
    load_mask,
    load_masks,
    mask_files_beside,
)
from bcbench.errors import DataError


def save(path: Path, pixels: np.ndarray, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)
    return path


def marked_image(width: int, height: int, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A black image with a white rectangle (left, top, right, bottom) and the mask of the same pixels."""
    left, top, right, bottom = box
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return (mask * 255).astype(np.uint8), mask


def test_masks_beside_an_image_are_its_own_and_only_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "benign"
    for name in ("benign (1).png", "benign (10).png", "benign (1)_mask.png", "benign (1)_MASK_1.PNG"):
        save(folder / name, np.zeros((4, 4), np.uint8))
    for name in (
        "benign (10)_mask.png",
        "benign (1)_mask.jpg",
        "benign (1)_masked.png",
        "benign (1)_mask_a.png",
    ):
        save(folder / name, np.zeros((4, 4), np.uint8))

    found = mask_files_beside(
        [folder / "benign (1).png", folder / "benign (10).png", tmp_path / "x" / "y.png"]
    )

    assert [p.name for p in found[0]] == ["benign (1)_MASK_1.PNG", "benign (1)_mask.png"]
    assert [p.name for p in found[1]] == ["benign (10)_mask.png"]
    assert found[2] == ()


def test_the_lesion_is_the_union_of_the_masks_and_any_nonzero_colour(tmp_path: Path) -> None:
    image = save(tmp_path / "a.png", np.zeros((6, 8), np.uint8))
    first = np.zeros((6, 8, 4), np.uint8)
    first[1, 2] = (0, 0, 0, 255)  # opaque black: not lesion
    first[2, 3] = (7, 0, 0, 0)  # transparent but coloured: lesion (alpha is ignored)
    second = np.zeros((6, 8), np.uint8)
    second[4, 5] = 1
    paths = [save(tmp_path / "a_mask.png", first), save(tmp_path / "a_mask_1.png", second)]

    mask = load_mask(image, paths, "square", image_size=8)  # 8x6 -> 8x8 stretches rows only

    expected = np.zeros((6, 8), bool)
    expected[2, 3] = expected[4, 5] = True
    rows = np.asarray(Image.fromarray(expected.astype(np.float32)).resize((8, 8), Image.Resampling.BILINEAR))
    assert mask.dtype == torch.bool and mask.shape == (8, 8)
    assert torch.equal(mask, torch.from_numpy(rows >= 0.5))
    assert mask.any()


@pytest.mark.parametrize(
    ("mode", "size", "shorter"),
    [("square", 32, 256), ("square", 160, 256), ("shorter_crop", 32, 40), ("shorter_crop", 48, 64)],
)
def test_a_mask_stays_on_its_marker_through_resize_and_crop(
    tmp_path: Path, mode: str, size: int, shorter: int
) -> None:
    pixels, lesion = marked_image(90, 60, box=(50, 18, 71, 33))  # off-centre, inside every crop here
    pixels[40, 30:60] = 255  # and a thin line, which nearest-neighbour sampling would keep or lose by chance
    lesion[40, 30:60] = True
    image = save(tmp_path / "img.png", pixels)
    mask_file = save(tmp_path / "img_mask.png", lesion)

    shaped = preprocess(load_rgb(image), mode, size, shorter)[0].numpy()  # the image pipeline is the oracle
    mask = load_mask(image, [mask_file], mode, size, shorter).numpy()

    clear = (shaped < 127) | (shaped > 128)  # pixels whose lesion weight is not within rounding of 1/2
    assert np.array_equal(mask[clear], shaped[clear] > 128)
    assert mask.sum() > 0 and clear.mean() > 0.95


def test_a_mask_follows_its_images_exif_orientation(tmp_path: Path) -> None:
    pixels, lesion = marked_image(40, 30, box=(30, 2, 38, 10))  # near the top-right corner as stored
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # shown rotated 90 degrees clockwise
    image = save(tmp_path / "img.png", pixels, exif=exif)
    mask_file = save(tmp_path / "img_mask.png", lesion)

    shaped = preprocess(load_rgb(image), "square", 30)[0].numpy()
    mask = load_mask(image, [mask_file], "square", 30).numpy()

    assert np.array_equal(mask, shaped >= 128)
    rows, columns = np.nonzero(mask)
    assert rows.max() > 15 and columns.max() > 15  # top-right turned clockwise is bottom-right


def test_a_mask_of_another_size_is_a_one_line_error_naming_both_files(tmp_path: Path) -> None:
    image = save(tmp_path / "benign (3).png", np.zeros((30, 40), np.uint8))
    mask = save(tmp_path / "benign (3)_mask.png", np.zeros((40, 30), np.uint8))

    with pytest.raises(DataError) as error:
        load_mask(image, [mask], "square", 16)

    message = str(error.value)
    assert "\n" not in message
    assert str(image) in message and str(mask) in message
    assert "30x40" in message and "40x30" in message and "resize the mask" in message


def test_an_unreadable_mask_is_a_one_line_error(tmp_path: Path) -> None:
    image = save(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "a_mask.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read mask .*a_mask\.png"):
        load_mask(image, [tmp_path / "a_mask.png"], "square", 4)


def test_load_masks_packs_in_order_and_tells_empty_from_missing(tmp_path: Path) -> None:
    lesion = np.zeros((20, 20), np.uint8)
    lesion[5:10, 5:10] = 255
    images = [save(tmp_path / f"{name}.png", np.zeros((20, 20), np.uint8)) for name in ("a", "b", "c")]
    save(tmp_path / "a_mask.png", lesion)
    save(tmp_path / "b_mask.png", np.zeros((20, 20), np.uint8))  # like BUSI's normal images

    packed = load_masks(images, mask_files_beside(images), DataConfig(image_size=20, preprocess="square"))

    assert packed.annotated.tolist() == [True, True, False]
    assert packed.has_lesion.tolist() == [True, False, False]
    assert packed.lesion_pixels.tolist() == [25, 0, 0]
    assert torch.equal(packed.unpack([0])[0], torch.from_numpy(lesion > 0))


def test_packed_masks_round_trip_at_an_eighth_of_the_bytes() -> None:
    masks = np.random.default_rng(0).random((5, 7, 9)) < 0.3  # 63 pixels: not a multiple of 8

    packed = PackedMasks.pack(torch.from_numpy(masks), annotated=[True, True, False, True, True])
    again = PackedMasks.from_arrays(dict(packed.to_arrays()))

    assert packed.bits.shape == (5, 8) and len(again) == 5
    assert torch.equal(again.unpack(), torch.from_numpy(masks))
    assert torch.equal(again.unpack(np.array([3, 1])), torch.from_numpy(masks[[3, 1]]))
    assert again.lesion_pixels.tolist() == masks.reshape(5, -1).sum(axis=1).tolist()
    assert again.annotated.tolist() == [True, True, False, True, True]


def test_a_csv_index_names_masks_in_an_optional_column(tmp_path: Path) -> None:
    for name in ("img/a.png", "img/b.png", "img/c.png", "masks/a1.png", "masks/a2.png", "masks/b.png"):
        save(tmp_path / name, np.zeros((4, 4), np.uint8))
    index = tmp_path / "index.csv"
    index.write_text(
        "# comment\npath,label,mask\nimg/a.png,benign,masks/a1.png; masks/a2.png\n"
        "img/b.png,malignant,masks/b.png\nimg/c.png,normal,\n"
    )

    masks = csv_mask_files(index, tmp_path)

    assert masks == {
        "img/a.png": (tmp_path / "masks/a1.png", tmp_path / "masks/a2.png"),
        "img/b.png": (tmp_path / "masks/b.png",),
        "img/c.png": (),
    }
    index.write_text("path,label\nimg/a.png,benign\n")
    assert csv_mask_files(index, tmp_path) == {}


@pytest.mark.parametrize(
    ("cell", "problem"), [("../x.png", "not inside data.root"), ("masks/z.png", "does not exist")]
)
def test_a_bad_mask_cell_is_an_error_naming_the_row(tmp_path: Path, cell: str, problem: str) -> None:
    save(tmp_path / "img/a.png", np.zeros((4, 4), np.uint8))
    index = tmp_path / "index.csv"
    index.write_text(f"path,label,mask\nimg/a.png,benign,{cell}\n")
    with pytest.raises(DataError, match=f"row 2: mask .*{problem}"):
        csv_mask_files(index, tmp_path)


def test_the_synthetic_sets_masks_load_beside_its_images(synthetic_root: Path) -> None:
    names = ["benign/benign (1).png", "malignant/malignant (1).png", "normal/normal (1).png"]
    images = [synthetic_root / name for name in names]

    files = mask_files_beside(images)
    packed = load_masks(
        images, files, DataConfig(image_size=32, preprocess="shorter_crop", resize_shorter=36)
    )

    assert [len(found) for found in files] == [1, 2, 1]  # malignant (1) has a second, identical mask
    assert packed.has_lesion.tolist() == [True, True, False]
