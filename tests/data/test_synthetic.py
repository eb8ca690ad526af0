"""Tests of the embedded synthetic data set (generated at 48 px to stay quick)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import bcbench.data.synthetic as synthetic
from bcbench.data import discover_images
from bcbench.data.synthetic import MARKER, default_synthetic_dir, ensure_synthetic_dataset
from bcbench.errors import DataError

SIZE = 48  # the size conftest's synthetic_root uses


def file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*.png"))
    }


def test_synthetic_set_has_busi_counts_and_names(synthetic_root: Path) -> None:
    classes, records = discover_images(synthetic_root)

    assert classes == ["benign", "malignant", "normal"]
    assert Counter(r.label for r in records) == {0: 437, 1: 210, 2: 133}
    assert (synthetic_root / "benign" / "benign (1).png").is_file()
    assert (synthetic_root / "normal" / "normal (133).png").is_file()


def test_synthetic_masks_exist_and_discovery_skips_them(synthetic_root: Path) -> None:
    masks = sorted(p.relative_to(synthetic_root).as_posix() for p in synthetic_root.rglob("*_mask*.png"))
    _, records = discover_images(synthetic_root)

    assert len(masks) == 781  # one beside every image plus one second mask
    assert "malignant/malignant (1)_mask_1.png" in masks
    assert {r.relpath.removesuffix(".png") + "_mask.png" for r in records} <= set(masks)
    assert not {r.relpath for r in records} & set(masks)


def test_synthetic_masks_match_their_images_and_only_normal_ones_are_empty(synthetic_root: Path) -> None:
    for name in ("benign (7)", "malignant (3)", "normal (2)"):
        folder = synthetic_root / name.split(" ")[0]
        with Image.open(folder / f"{name}.png") as image, Image.open(folder / f"{name}_mask.png") as mask:
            assert mask.size == image.size and mask.mode == "1"
            assert mask.getbbox() is None if name.startswith("normal") else mask.getbbox() is not None


def test_synthetic_images_mix_grayscale_and_rgb_with_busi_like_shapes(synthetic_root: Path) -> None:
    modes: Counter[str] = Counter()
    for path in synthetic_root.rglob("*.png"):
        if "_mask" in path.name:
            continue
        with Image.open(path) as image:
            modes[image.mode] += 1
            width, height = image.size
        assert height == SIZE and SIZE <= width <= round(1.4 * SIZE)
    assert set(modes) == {"L", "RGB"}
    assert 0.02 <= modes["RGB"] / 780 <= 0.04


def test_synthetic_generation_is_idempotent(synthetic_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p: p.stat().st_mtime_ns for p in synthetic_root.rglob("*")}

    def must_not_regenerate(*args: object) -> None:
        raise AssertionError("a complete data set was generated again")

    monkeypatch.setattr(synthetic, "write_synthetic_dataset", must_not_regenerate)
    again = ensure_synthetic_dataset(synthetic_root, SIZE)

    assert again == synthetic_root
    assert {p: p.stat().st_mtime_ns for p in synthetic_root.rglob("*")} == before


@pytest.mark.slow  # over 1.5 s: renders the data set twice
def test_synthetic_content_is_deterministic(synthetic_root: Path, tmp_path: Path) -> None:
    other = ensure_synthetic_dataset(tmp_path / "elsewhere", SIZE)
    assert file_hashes(other) == file_hashes(synthetic_root)


def test_interrupted_generation_is_never_taken_for_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "set"

    def interrupted(root: Path, image_size: int) -> None:
        (root / "benign").mkdir()
        (root / "benign" / "benign (1).png").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "write_synthetic_dataset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic_dataset(target, 16)

    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone too


def test_partial_folder_without_marker_is_refused(tmp_path: Path) -> None:
    (tmp_path / "set" / "benign").mkdir(parents=True)
    with pytest.raises(DataError) as error:
        ensure_synthetic_dataset(tmp_path / "set", 16)
    assert str(tmp_path / "set") in str(error.value) and MARKER in str(error.value)


def test_folder_of_another_size_is_refused(synthetic_root: Path) -> None:
    with pytest.raises(DataError, match="at size 48, not v2 at size 96"):
        ensure_synthetic_dataset(synthetic_root, 96)


def test_default_directory_follows_bcbench_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCBENCH_CACHE", str(tmp_path))
    assert default_synthetic_dir(64) == tmp_path / "synthetic-v2-64"
    monkeypatch.delenv("BCBENCH_CACHE")
    assert default_synthetic_dir(64) == Path.home() / ".cache" / "bcbench" / "synthetic-v2-64"
