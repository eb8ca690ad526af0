"""Data sources: class folders, split folders, a labels CSV (with groups and a split column), MedMNIST
.npz files; chosen from what data.root points at; every bad input is one line naming row, key or value."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bcbench.config import DataConfig
from bcbench.data import build_data
from bcbench.data.build import SHIPPED_CONFIGS, resolve_manifest
from bcbench.data.sources import source_kind
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error


def kaggle_layout(make_image_folder, tmp_path: Path, val: bool = False) -> Path:
    """Training/<class> + Testing/<class> (+ Validation/<class>), as many Kaggle medical sets come."""
    root = tmp_path / "mri"
    counts = {"glioma": 6, "meningioma": 6, "notumor": 6, "pituitary": 6}
    make_image_folder(counts, root=root / "Training")
    make_image_folder({name: 2 for name in counts}, root=root / "Testing")
    if val:
        make_image_folder({name: 2 for name in counts}, root=root / "Validation")
    return root


def test_split_folders_are_never_taken_for_two_classes(make_image_folder, tmp_path):
    root = kaggle_layout(make_image_folder, tmp_path)
    bundle = build_data(DataConfig(root=str(root), image_size=8, val_fraction=0.25))
    assert bundle.classes == ["glioma", "meningioma", "notumor", "pituitary"]
    assert bundle.source == "split_folders"
    assert set(bundle.relpaths("test")) == {
        p.relative_to(root).as_posix() for p in (root / "Testing").rglob("*.png")
    }
    assert bundle.counts() == {"train": 18, "val": 6, "test": 8}  # val: 25% of Training, stratified
    assert min(bundle.class_counts("val")) >= 1
    assert all(path.startswith("Training/") for path in bundle.relpaths("val"))


def test_a_given_validation_folder_is_used_as_is(make_image_folder, tmp_path):
    root = kaggle_layout(make_image_folder, tmp_path, val=True)
    bundle = build_data(DataConfig(root=str(root), image_size=8))
    assert bundle.counts() == {"train": 24, "val": 8, "test": 8}
    assert all(path.startswith("Validation/") for path in bundle.relpaths("val"))


def test_split_named_class_folders_need_an_explicit_source_and_are_warned_about(
    make_image_folder, tmp_path, caplog
):
    root = kaggle_layout(make_image_folder, tmp_path)
    with caplog.at_level(logging.WARNING):
        bundle = build_data(DataConfig(root=str(root), source="folders", image_size=8, test_fraction=0.2))
    assert bundle.classes == ["Testing", "Training"]
    assert "look like split names" in caplog.text


def test_split_folders_mixed_with_class_folders_is_an_error(make_image_folder, tmp_path):
    root = kaggle_layout(make_image_folder, tmp_path)
    make_image_folder({"extra": 3}, root=root)
    with pytest.raises(DataError) as error:
        source_kind(DataConfig(root=str(root)), root)
    assert_one_line_error(error, "mixes split folders (Testing, Training)", "other folders (extra)")


def write_index(root: Path, rows: list[str], header: str = "path,label,group") -> Path:
    index = root / "labels.csv"
    index.write_text("\n".join([header, *rows]) + "\n")
    return index


def flat_images(write_image, root: Path, count: int) -> list[str]:
    for number in range(count):
        write_image(root / "images" / f"img{number}.png", seed=number)
    return [f"images/img{number}.png" for number in range(count)]


def test_csv_index_with_groups_and_labels_as_names(write_image, tmp_path):
    root = tmp_path / "isic"
    paths = flat_images(write_image, root, 24)
    rows = [f"{path},{'nevus' if i % 2 else 'melanoma'},patient{i // 2}" for i, path in enumerate(paths)]
    write_index(root, rows)
    bundle = build_data(DataConfig(root=str(root), index="labels.csv", image_size=8, test_fraction=0.25))
    assert bundle.classes == ["melanoma", "nevus"] and bundle.source == "csv"
    groups = {split: set(bundle.groups[bundle.indices(split)]) for split in ("train", "val", "test")}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["val"]
    assert not groups["val"] & groups["test"]


def test_csv_split_column_is_used_and_class_names_fix_the_order(write_image, tmp_path):
    root = tmp_path / "aptos"
    paths = flat_images(write_image, root, 12)
    rows = [
        f"{p},{['mild', 'none'][i % 2]},{['train', 'train', 'valid', 'test'][i % 4]}"
        for i, p in enumerate(paths)
    ]
    write_index(root, rows, header="path,label,split")
    config = DataConfig(root=str(root), index="labels.csv", image_size=8, class_names=("none", "mild"))
    bundle = build_data(config)
    assert bundle.classes == ["none", "mild"]
    assert bundle.counts() == {"train": 6, "val": 3, "test": 3}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("../outside.png,nevus,p9", "row 6: path '../outside.png' is not inside data.root"),
        ("images/img0.png,nevus,p9", "row 6: 'images/img0.png' is listed twice (first on row 2)"),
        ("images/img3.png,,p9", "row 6: empty label"),
        ("images/missing.png,nevus,p9", "row 6: 'images/missing.png' does not exist"),
    ],
)
def test_bad_csv_rows_are_one_error_naming_the_row(write_image, tmp_path, row, message):
    root = tmp_path / "bad"
    paths = flat_images(write_image, root, 4)
    write_index(root, [f"{path},nevus,p{i}" for i, path in enumerate(paths)] + [row])
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(root), index="labels.csv", image_size=8))
    assert_one_line_error(error, "labels.csv", message)


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("path,group", "images/img0.png,p1", "lacks column(s) label"),
        ("path,label,split", "images/img0.png,nevus,holdout", "row 2: unknown split 'holdout'"),
    ],
)
def test_bad_csv_columns_and_split_names(write_image, tmp_path, header, row, message):
    root = tmp_path / "bad"
    flat_images(write_image, root, 1)
    write_index(root, [row], header=header)
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(root), index="labels.csv", image_size=8))
    assert_one_line_error(error, message)


def write_npz(path: Path, rgb: bool = False, labels: dict | None = None, skip: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    sizes = {"train": 30, "val": 6, "test": 9}
    arrays = {}
    for split, n in sizes.items():
        shape = (n, 28, 28, 3) if rgb else (n, 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (labels or {}).get(split, (np.arange(n) % 3).reshape(n, 1))
    arrays.pop(skip, None)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("rgb", [False, True])
def test_medmnist_npz_uses_the_files_split_and_class_names(tmp_path, rgb):
    path = write_npz(tmp_path / "tiny.npz", rgb=rgb)
    bundle = build_data(DataConfig(root=str(path), image_size=28, class_names=("a", "b", "c")))
    assert bundle.source == "npz" and bundle.classes == ["a", "b", "c"]
    assert bundle.counts() == {"train": 30, "val": 6, "test": 9}
    images, labels = bundle.tensors("train")
    assert images.shape == (30, 3, 28, 28) and labels.tolist()[:4] == [0, 1, 2, 0]
    pixels = np.load(path)["train_images"][1]
    expected = pixels if rgb else np.repeat(pixels[..., None], 3, axis=2)
    assert np.array_equal(images[1].permute(1, 2, 0).numpy(), expected)  # 28 px: no resampling at all
    default = build_data(DataConfig(root=str(path), image_size=32))
    assert default.classes == ["class_0", "class_1", "class_2"] and default.tensors("test")[0].shape[-1] == 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"skip": "val_labels"}, "lacks key(s) val_labels"),
        ({"labels": {"test": np.full((9, 1), 7)}}, "key test_labels holds label 7, outside 0..2"),
        ({"labels": {"train": np.zeros((30, 4), dtype=np.int64)}}, "multi-label files are not supported"),
    ],
)
def test_bad_npz_files_name_the_key_and_value(tmp_path, kwargs, message):
    path = write_npz(tmp_path / "bad.npz", **kwargs)
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(path), image_size=28, class_names=("a", "b", "c")))
    assert_one_line_error(error, str(path), message)


def test_the_study_split_ships_with_bcbench_and_is_found_by_name(tmp_path):
    shipped = resolve_manifest("splits/busi_paper_split.csv", tmp_path)
    assert shipped == SHIPPED_CONFIGS / "splits" / "busi_paper_split.csv"
    lines = [line for line in shipped.read_text().splitlines() if not line.startswith("#")]
    assert lines[0] == "path,split" and len(lines) == 781
    splits = [line.rsplit(",", 1)[1] for line in lines[1:]]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (563, 100, 117)


def test_group_policy_required_and_ignore(write_image, tmp_path):
    root = tmp_path / "groups"
    paths = flat_images(write_image, root, 20)
    write_index(root, [f"{path},{'a' if i % 2 else 'b'},p{i // 2}" for i, path in enumerate(paths)])
    config = DataConfig(root=str(root), index="labels.csv", image_size=8, test_fraction=0.25)
    assert build_data(config, group_policy="ignore").groups is None
    assert build_data(config, group_policy="required").groups is not None
    plain = tmp_path / "plain"
    plain_paths = flat_images(write_image, plain, 8)
    write_index(
        plain, [f"{path},{'a' if i % 2 else 'b'}" for i, path in enumerate(plain_paths)], header="path,label"
    )
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(plain), index="labels.csv", image_size=8), group_policy="required")
    assert_one_line_error(error, "evaluation.groups is required", "has no group column")
