"""Lesion masks through build_data: found in class folders, split folders and a CSV's mask column, aligned
with their images through resize and crop, counted when empty, cached beside the decoded images, and one
clear error when a mask does not fit its image or the data cannot have masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bcbench.data.lesions
from bcbench.config import DataConfig, load_config
from bcbench.data import build_data
from bcbench.errors import DataError
from tests.data.lesion_folders import BOXES, HEIGHT, WIDTH, folder_config, write_case, write_folders
from tests.helpers import assert_one_line_error


def bright(images: torch.Tensor) -> np.ndarray:
    return images[:, 0].numpy() > 128


@pytest.mark.parametrize(
    "geometry", [{"preprocess": "square"}, {"preprocess": "shorter_crop", "resize_shorter": 20}]
)
def test_masks_sit_on_their_lesions_through_resize_and_crop(tmp_path: Path, geometry: dict) -> None:
    bundle = build_data(folder_config(tmp_path / "data", tmp_path, **geometry), masks=True)

    masks = bundle.masks.unpack().numpy()
    pictures = bright(bundle.decoded.pixels)
    # the image pipeline is the oracle: a pixel is lesion where the white box still shows at least half
    assert masks.shape == (9, 16, 16)
    assert (masks == pictures).mean() > 0.98 and masks.sum() > 100
    assert bundle.masks.annotated.tolist() == [True] * 8 + [False]


def test_images_without_a_lesion_are_counted_per_split(tmp_path: Path) -> None:
    bundle = build_data(folder_config(tmp_path / "data", tmp_path), masks=True)

    # benign (3) and both normal masks are empty, normal (3) has no mask file
    assert bundle.audit["masks"] == {
        "with_mask_file": 8,
        "with_lesion": {"train": 2, "val": 2, "test": 1},
        "without_lesion": {"train": 1, "val": 1, "test": 2},
    }
    test = bundle.split_masks("test")
    assert bundle.relpaths("test") == [
        "benign/benign (3).png",
        "malignant/malignant (3).png",
        "normal/normal (3).png",
    ]
    assert test.has_lesion.tolist() == [False, True, False]
    assert torch.equal(test.unpack(), bundle.masks.unpack(bundle.indices("test")))


def test_split_folders_find_their_masks(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for split, number in (("train", 1), ("test", 2), ("val", 3)):
        for name, boxes in BOXES.items():
            write_case(root / split / name, f"{name} ({number})", boxes[number - 1])

    bundle = build_data(DataConfig(root=str(root), image_size=16), masks=True)

    lesion = dict(zip(bundle.decoded.relpaths, bundle.masks.has_lesion.tolist(), strict=True))
    assert lesion["train/benign/benign (1).png"] and lesion["test/malignant/malignant (2).png"]
    assert not lesion["test/normal/normal (2).png"]


def test_a_csv_index_names_masks_in_its_mask_column(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_folders(root)
    (root / "elsewhere").mkdir()
    (root / "malignant" / "malignant (1)_mask.png").rename(root / "elsewhere" / "m1.png")
    lines = [
        f"{name}/{name} ({n}).png,{name},{split},{name}/{name} ({n})_mask.png"
        for name in BOXES
        for n, split in ((1, "train"), (2, "val"), (3, "test"))
    ]
    lines[3] = "malignant/malignant (1).png,malignant,train,elsewhere/m1.png"
    lines[8] = "normal/normal (3).png,normal,test,"
    (root / "index.csv").write_text("path,label,split,mask\n" + "\n".join(lines) + "\n")

    bundle = build_data(DataConfig(root=str(root), index="index.csv", image_size=16), masks=True)

    position = bundle.decoded.relpaths.index("malignant/malignant (1).png")
    assert bundle.masks.has_lesion[position] and bundle.masks.annotated.sum() == 8
    assert (bundle.masks.unpack().numpy() == bright(bundle.decoded.pixels)).mean() > 0.98


def test_a_mask_of_another_size_is_one_line_naming_both_files(tmp_path: Path) -> None:
    config = folder_config(tmp_path / "data", tmp_path)
    Image.fromarray(np.zeros((HEIGHT, WIDTH + 1), np.uint8)).save(
        tmp_path / "data/benign/benign (2)_mask.png"
    )

    with pytest.raises(DataError) as error:
        build_data(config, masks=True)
    assert_one_line_error(error, "benign (2)_mask.png", "benign (2).png", "41x30", "40x30")


def test_masks_are_only_loaded_when_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = folder_config(tmp_path / "data", tmp_path)
    monkeypatch.setattr(bcbench.data.lesions, "load_masks", None)  # any call fails

    assert build_data(config).masks is None
    whole = load_config(
        None, [f"data.root={config.root}", f"data.manifest={config.manifest}", "explain.enabled=true"]
    )
    monkeypatch.undo()
    assert build_data(whole).masks is not None  # a config with explain on asks for them


def test_the_cache_keeps_masks_and_a_changed_mask_file_misses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = folder_config(tmp_path / "data", tmp_path, cache_dir=str(tmp_path / "cache"))
    first = build_data(config, masks=True)
    loads = []
    original = bcbench.data.lesions.load_masks
    monkeypatch.setattr(bcbench.data.lesions, "load_masks", lambda *a: loads.append(1) or original(*a))

    again = build_data(config, masks=True)
    assert loads == [] and torch.equal(again.masks.unpack(), first.masks.unpack())
    assert len(list((tmp_path / "cache").glob("masks-*.npz"))) == 1

    write_case(tmp_path / "data" / "normal", "normal (1)", (0, 0, 10, 10))  # a lesion where there was none
    changed = build_data(config, masks=True)
    assert loads == [1] and changed.masks.has_lesion.sum() == first.masks.has_lesion.sum() + 1


def test_data_without_masks_cannot_be_explained(tmp_path: Path, make_image_folder) -> None:
    root = make_image_folder({"a": 4, "b": 4})
    with pytest.raises(DataError) as error:
        build_data(
            DataConfig(root=str(root), image_size=8, test_fraction=0.25, val_fraction=0.34), masks=True
        )
    assert_one_line_error(error, "no image under", "explain.enabled: false")

    arrays = {"train_images": np.zeros((4, 8, 8), np.uint8), "train_labels": np.array([0, 1, 0, 1])}
    np.savez(tmp_path / "set.npz", **arrays)
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(tmp_path / "set.npz")), masks=True)
    assert_one_line_error(error, "set.npz", "no lesion masks")
