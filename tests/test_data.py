"""Tests of bcbench.data: discovery, decoding, caching, splits, manifests, augmentation, normalisation."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from bcbench.config import AugmentConfig, DataConfig
from bcbench.data import (
    BatchAugmenter,
    Normalizer,
    build_data,
    discover_images,
    jitter_batch,
    load_rgb,
    manifest_split,
    preprocess,
    rotate_batch,
    split_sha256,
    stratified_split,
)
from bcbench.errors import DataError

STUDY_LABELS = [0] * 437 + [1] * 210 + [2] * 133
CLASSES = ["benign", "malignant", "normal"]


def assert_one_line_error(error: pytest.ExceptionInfo[DataError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def save_array(path: Path, array: np.ndarray, **save_args: object) -> Path:
    Image.fromarray(array).save(path, **save_args)
    return path


# ----------------------------------------------------------------------------------------------- discovery


def test_discover_sorts_classes_and_finds_nested_images(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    for relpath in ["normal/n.png", "benign/b.png", "malignant/m.png", "benign/sub/deep/nested.png"]:
        write_image(tmp_path / relpath)

    classes, records = discover_images(tmp_path)

    assert classes == ["benign", "malignant", "normal"]
    assert [(r.relpath, r.label) for r in records] == [
        ("benign/b.png", 0),
        ("benign/sub/deep/nested.png", 0),
        ("malignant/m.png", 1),
        ("normal/n.png", 2),
    ]
    assert records[1].path == tmp_path / "benign" / "sub" / "deep" / "nested.png"


def test_discover_skips_masks_hidden_files_and_os_junk(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    for relpath in [
        "benign/benign (1).png",
        "benign/benign (1)_mask.png",
        "benign/benign (1)_mask_1.png",
        "benign/.hidden.png",
        "benign/._benign (1).png",
        "benign/.ipynb_checkpoints/copy.png",
        "__MACOSX/benign/benign (1).png",
        "normal/normal (1).png",
    ]:
        write_image(tmp_path / relpath)
    for junk in ["benign/Thumbs.db", "benign/desktop.ini", "benign/.DS_Store", "normal/notes.txt"]:
        (tmp_path / junk).write_text("junk")

    classes, records = discover_images(tmp_path)

    assert classes == ["benign", "normal"]
    assert [r.relpath for r in records] == ["benign/benign (1).png", "normal/normal (1).png"]


def test_discover_matches_extensions_case_insensitively(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    write_image(tmp_path / "a" / "upper.PNG")
    write_image(tmp_path / "a" / "mixed.JpEg")
    write_image(tmp_path / "a" / "other.gif")

    _, records = discover_images(tmp_path, extensions=(".png", "jpeg"))

    assert [r.relpath for r in records] == ["a/mixed.JpEg", "a/upper.PNG"]


def test_discover_rejects_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        discover_images(tmp_path / "nowhere")
    assert_one_line_error(error, str(tmp_path / "nowhere"), "does not exist")


def test_discover_rejects_root_without_class_folders(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    write_image(tmp_path / "loose.png")
    with pytest.raises(DataError) as error:
        discover_images(tmp_path)
    assert_one_line_error(error, str(tmp_path), "no class folders")


def test_discover_rejects_class_folder_with_only_masks(
    tmp_path: Path, write_image: Callable[..., Path]
) -> None:
    write_image(tmp_path / "benign" / "b.png")
    write_image(tmp_path / "normal" / "n_mask.png")
    with pytest.raises(DataError) as error:
        discover_images(tmp_path)
    assert_one_line_error(error, str(tmp_path / "normal"), "no images", "1 mask file")


# ---------------------------------------------------------------------------------------- mode conversion


def test_load_rgb_converts_grayscale(tmp_path: Path) -> None:
    gray = np.array([[0, 50], [200, 255]], dtype=np.uint8)
    image = load_rgb(save_array(tmp_path / "l.png", gray))
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image), np.repeat(gray[..., None], 3, axis=2))


def test_load_rgb_drops_alpha_of_la_and_rgba(tmp_path: Path) -> None:
    la = np.array([[[10, 0], [200, 128]], [[90, 255], [30, 7]]], dtype=np.uint8)
    rgba = np.array([[[10, 20, 30, 0], [200, 100, 50, 255]]], dtype=np.uint8)

    from_la = np.asarray(load_rgb(save_array(tmp_path / "la.png", la)))
    from_rgba = np.asarray(load_rgb(save_array(tmp_path / "rgba.png", rgba)))

    assert np.array_equal(from_la, np.repeat(la[..., :1], 3, axis=2))
    assert np.array_equal(from_rgba, rgba[..., :3])


def test_load_rgb_resolves_palette_transparency_without_warning(tmp_path: Path) -> None:
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette_image.putdata([0, 1])
    palette_image.save(tmp_path / "p.png", transparency=b"\x00\x80")  # per-entry alpha

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = load_rgb(tmp_path / "p.png")

    assert np.asarray(image).tolist() == [[[255, 0, 0], [0, 0, 255]]]


def test_load_rgb_scales_16_bit_grayscale_keeping_relative_values(tmp_path: Path) -> None:
    full_range = np.array([[0, 1000], [30000, 65535]], dtype=np.uint16)
    twelve_bit = np.array([[0, 2048, 4095]], dtype=np.uint16)
    eight_bit = np.array([[0, 17, 255]], dtype=np.uint16)

    def red(array: np.ndarray, name: str) -> list[int]:
        image = load_rgb(save_array(tmp_path / name, array))
        return np.asarray(image)[..., 0].ravel().tolist()

    assert red(full_range, "16.png") == [0, 4, 117, 255]
    assert red(twelve_bit, "12.png") == [0, 128, 255]
    assert red(eight_bit, "8.png") == [0, 17, 255]


def test_load_rgb_scales_float_images(tmp_path: Path) -> None:
    unit = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    image = load_rgb(save_array(tmp_path / "f.tiff", unit))
    assert np.asarray(image)[..., 1].ravel().tolist() == [0, 128, 255]


def test_load_rgb_converts_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    pixel = np.asarray(load_rgb(tmp_path / "cmyk.jpg"))[8, 8].astype(int)
    assert np.abs(pixel - [255, 0, 0]).max() <= 8


def test_load_rgb_applies_exif_orientation(tmp_path: Path) -> None:
    stored = np.zeros((20, 30, 3), dtype=np.uint8)  # 30 wide, 20 high
    stored[:, 0] = 255  # bright left column
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)

    image = load_rgb(tmp_path / "rotated.jpg")

    assert image.size == (20, 30)
    pixels = np.asarray(image).astype(int)
    assert pixels[0].mean() > 200 and pixels[-1].mean() < 50  # the left column became the top row


@pytest.mark.parametrize("content", [b"not an image at all", "truncated"])
def test_load_rgb_names_unreadable_files(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "broken.png"
    if content == "truncated":
        save_array(path, np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as error:
        load_rgb(path)
    assert_one_line_error(error, str(path), "cannot read image")


# -------------------------------------------------------------------------------------------- preprocess


def random_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_preprocess_square_gives_uint8_chw() -> None:
    tensor = preprocess(random_rgb(37, 23), "square", 16)
    assert tensor.dtype == torch.uint8
    assert tensor.shape == (3, 16, 16)
    assert tensor.is_contiguous()


# (283, 256) and (256, 283) crop at an offset of 29.5, where rounding rules differ
@pytest.mark.parametrize(
    "width,height", [(300, 257), (257, 300), (511, 383), (283, 256), (256, 283), (230, 225)]
)
def test_preprocess_shorter_crop_matches_torchvision(width: int, height: int) -> None:
    image = random_rgb(width, height, seed=width)
    reference = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.PILToTensor()]
    )

    ours = preprocess(image, "shorter_crop", 224, 256)

    assert ours.shape == (3, 224, 224)
    assert (ours.int() - reference(image).int()).abs().max() <= 1


def test_preprocess_square_matches_torchvision_resize() -> None:
    image = random_rgb(90, 61)
    reference = transforms.PILToTensor()(transforms.Resize((32, 32))(image))
    assert torch.equal(preprocess(image, "square", 32), reference)


# ---------------------------------------------------------------------------------------- decode and cache


def test_build_data_decodes_each_file_exactly_once(
    make_image_folder: Callable[..., Path], counted_loads: list[Path]
) -> None:
    root = make_image_folder({"a": 6, "b": 5})
    progress: list[tuple[int, int]] = []

    bundle = build_data(
        DataConfig(root=str(root), image_size=8), progress=lambda i, n: progress.append((i, n))
    )

    assert sorted(counted_loads) == sorted(root / p for p in bundle.images.relpaths)
    assert len(counted_loads) == 11
    assert progress[-1] == (11, 11)
    assert bundle.images.images.shape == (11, 3, 8, 8) and bundle.images.images.dtype == torch.uint8
    assert bundle.images.labels.dtype == torch.int64
    first = root / bundle.images.relpaths[0]
    assert bundle.images.sha256[0] == hashlib.sha256(first.read_bytes()).hexdigest()


def test_decode_cache_hits_and_misses(
    tmp_path: Path,
    make_image_folder: Callable[..., Path],
    counted_loads: list[Path],
    write_image: Callable[..., Path],
) -> None:
    root = make_image_folder({"a": 4, "b": 3})
    config = DataConfig(root=str(root), image_size=8, cache_dir=str(tmp_path / "cache"))

    first = build_data(config)
    assert len(counted_loads) == 7
    second = build_data(config)
    assert len(counted_loads) == 7  # cache hit: nothing decoded
    assert torch.equal(first.images.images, second.images.images)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        p.name for p in (tmp_path / "cache").glob("*.pt")
    ]

    build_data(DataConfig(root=str(root), image_size=12, cache_dir=str(tmp_path / "cache")))
    assert len(counted_loads) == 14  # new image size: miss

    write_image(root / "a" / "a (1).png", seed=999)  # same name, new content
    build_data(config)
    assert len(counted_loads) == 21


def test_decode_cache_ignores_damaged_file(tmp_path: Path, make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder({"a": 3, "b": 3})
    config = DataConfig(root=str(root), image_size=8, cache_dir=str(tmp_path / "cache"))
    expected = build_data(config).images.images
    (cache_file,) = (tmp_path / "cache").glob("*.pt")
    cache_file.write_bytes(b"garbage")

    assert torch.equal(build_data(config).images.images, expected)


# ------------------------------------------------------------------------------------------------ splits


def test_stratified_split_reproduces_study_sizes() -> None:
    splits = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=0)
    labels = np.array(STUDY_LABELS)

    assert {name: len(indices) for name, indices in splits.items()} == {"train": 563, "val": 100, "test": 117}
    # per-class counts are proportional and equal to the study's published split
    assert np.bincount(labels[splits["test"]]).tolist() == [66, 31, 20]
    assert np.bincount(labels[splits["val"]]).tolist() == [56, 27, 17]
    assert np.bincount(labels[splits["train"]]).tolist() == [315, 152, 96]
    everything = np.concatenate(list(splits.values()))
    assert sorted(everything.tolist()) == list(range(780))
    assert all(np.array_equal(indices, np.sort(indices)) for indices in splits.values())


def test_stratified_split_is_deterministic_by_seed_only() -> None:
    first = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=3)
    torch.manual_seed(123)
    np.random.seed(456)  # global random states must not matter
    again = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=3)
    other = stratified_split(STUDY_LABELS, 0.15, 0.15, seed=4)

    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["test"], other["test"])


def test_stratified_split_uses_sklearn_rounding() -> None:
    splits = stratified_split([0] * 6 + [1] * 4, 0.25, 0.25, seed=0)
    assert [len(splits[name]) for name in ("train", "val", "test")] == [5, 2, 3]  # ceil(2.5), ceil(1.75)


def test_stratified_split_keeps_every_class_in_every_split() -> None:
    labels = [0] * 60 + [1] * 3 + [2] * 4
    splits = stratified_split(labels, 0.1, 0.1, seed=0)
    for indices in splits.values():
        assert set(np.array(labels)[indices].tolist()) == {0, 1, 2}


def test_stratified_split_names_class_with_too_few_images() -> None:
    with pytest.raises(DataError) as error:
        stratified_split([0] * 20 + [1] * 2, 0.15, 0.15, seed=0, class_names=["benign", "normal"])
    assert_one_line_error(error, "'normal'", "only 2 image")


def test_stratified_split_allows_two_images_without_val() -> None:
    labels = np.array([0] * 20 + [1] * 2)
    splits = stratified_split(labels, 0.2, 0.0, seed=0)
    assert [len(splits[name]) for name in ("train", "val", "test")] == [17, 0, 5]  # ceil(0.2 * 22) = 5
    assert 1 in labels[splits["train"]] and 1 in labels[splits["test"]]


# --------------------------------------------------------------------------------------------- manifests


RELPATHS = ["a/1.png", "a/2.png", "a/3.png", "b/1.png", "b/2.png"]


def write_manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "split.csv"
    path.write_text(text)
    return path


def test_manifest_split_assigns_listed_splits(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path, "path,split\nb/2.png,test\na/1.png,train\na/2.png, val\n./a/3.png,train\nb/1.png,TRAIN\n"
    )
    splits = manifest_split(RELPATHS, manifest)
    assert {name: indices.tolist() for name, indices in splits.items()} == {
        "train": [0, 2, 3],
        "val": [1],
        "test": [4],
    }


@pytest.mark.parametrize(
    "text,fragments",
    [
        ("file,part\na/1.png,train\n", ["lacks column(s) path, split", "file,part"]),
        ("path,split\na/1.png,train\na/2.png,dev\n", ["row 3", "unknown split 'dev'", "a/2.png"]),
        ("path,split\na/1.png,train\na/1.png,test\n", ["row 3", "'a/1.png' is listed twice", "row 2"]),
        ("path,split\na/9.png,train\n", ["row 2", "'a/9.png' is not among"]),
        ("path,split\na/1.png,train\na/2.png,val\n", ["does not list 3 image(s)", "'a/3.png'"]),
    ],
    ids=["missing-columns", "unknown-split", "duplicate", "not-on-disk", "unlisted-image"],
)
def test_manifest_split_errors_name_file_and_row(tmp_path: Path, text: str, fragments: list[str]) -> None:
    manifest = write_manifest(tmp_path, text)
    with pytest.raises(DataError) as error:
        manifest_split(RELPATHS, manifest)
    assert_one_line_error(error, str(manifest), *fragments)


def test_manifest_split_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        manifest_split(RELPATHS, tmp_path / "absent.csv")
    assert_one_line_error(error, "absent.csv", "does not exist")


def test_build_data_uses_manifest_and_rejects_empty_split(
    tmp_path: Path, make_image_folder: Callable[..., Path]
) -> None:
    root = make_image_folder({"a": 3, "b": 3})
    rows = ["a/a (1).png,train", "a/a (2).png,val", "a/a (3).png,test"]
    rows += ["b/b (1).png,train", "b/b (2).png,val", "b/b (3).png,test"]
    manifest = write_manifest(tmp_path, "path,split\n" + "\n".join(rows) + "\n")

    bundle = build_data(DataConfig(root=str(root), image_size=8, manifest=str(manifest)))

    assert bundle.counts() == {"train": 2, "val": 2, "test": 2}
    assert bundle.relpaths("val") == ["a/a (2).png", "b/b (2).png"]
    expected = hashlib.sha256("".join(f"{row}\n" for row in sorted(rows)).encode()).hexdigest()
    assert bundle.split_hash == expected

    manifest.write_text("path,split\n" + "\n".join(row.replace(",val", ",train") for row in rows) + "\n")
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(root), image_size=8, manifest=str(manifest)))
    assert_one_line_error(error, "val split is empty")


def test_split_sha256_ignores_order_but_not_assignment() -> None:
    splits = {"train": np.array([0, 2]), "val": np.array([1]), "test": np.array([3])}
    # the same assignment with the paths listed in another order: old index 0 -> 2, 1 -> 1, 2 -> 3, 3 -> 0
    shuffled_paths = [RELPATHS[i] for i in (3, 1, 0, 2)]
    remapped = {"test": np.array([0]), "train": np.array([3, 2]), "val": np.array([1])}
    moved = {"train": np.array([0]), "val": np.array([1, 2]), "test": np.array([3])}

    assert split_sha256(RELPATHS, splits) == split_sha256(shuffled_paths, remapped)
    assert split_sha256(RELPATHS, splits) != split_sha256(RELPATHS, moved)


# ------------------------------------------------------------------------------------------ augmentation


def random_batch(size: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (size, 3, 16, 20), dtype=torch.uint8, generator=generator)
    return images, torch.arange(size) % 3


ALWAYS = {"hflip_p": 1.0, "rotation_p": 1.0, "jitter_p": 1.0, "block_p": 1.0}


def test_batch_augmenter_touches_only_listed_classes() -> None:
    images, labels = random_batch()
    augmenter = BatchAugmenter(AugmentConfig(mode="batch", classes=("normal",), **ALWAYS), CLASSES)
    generator = torch.Generator().manual_seed(0)
    untouched = labels != 2

    for _ in range(20):
        out = augmenter(images, labels, generator)
        assert torch.equal(out[untouched], images[untouched])
        assert all(not torch.equal(out[i], images[i]) for i in torch.nonzero(~untouched).flatten())


def test_study_augmenter_touches_every_class() -> None:
    images, labels = random_batch()
    augmenter = BatchAugmenter(AugmentConfig(mode="study", classes=("normal",), **ALWAYS), CLASSES)
    out = augmenter(images, labels, torch.Generator().manual_seed(0))
    assert all(not torch.equal(out[i], images[i]) for i in range(len(labels)))


def test_study_augmenter_block_probability_zero_is_identity() -> None:
    images, labels = random_batch()
    augmenter = BatchAugmenter(AugmentConfig(mode="study", block_p=0.0), CLASSES)
    assert torch.equal(augmenter(images, labels, torch.Generator().manual_seed(0)), images)


@pytest.mark.parametrize(
    "config",
    [
        AugmentConfig(mode="none", **ALWAYS),
        AugmentConfig(mode="batch", hflip_p=0.0, rotation_p=0.0, jitter_p=0.0),
    ],
    ids=["mode-none", "zero-probabilities"],
)
def test_augmenter_identity_configs(config: AugmentConfig) -> None:
    images, labels = random_batch()
    assert torch.equal(
        BatchAugmenter(config, CLASSES)(images, labels, torch.Generator().manual_seed(0)), images
    )


def test_augmenter_flip_only_flips_exactly() -> None:
    images, labels = random_batch()
    config = AugmentConfig(mode="batch", hflip_p=1.0, rotation_p=0.0, jitter_p=0.0)
    out = BatchAugmenter(config, CLASSES)(images, labels, torch.Generator().manual_seed(0))
    assert torch.equal(out, images.flip(-1))


@pytest.mark.parametrize("mode", ["batch", "study"])
def test_augmenter_is_reproducible_keeps_shape_and_input(mode: str) -> None:
    images, labels = random_batch()
    original = images.clone()
    augmenter = BatchAugmenter(AugmentConfig(mode=mode), CLASSES)

    first = augmenter(images, labels, torch.Generator().manual_seed(7))
    again = augmenter(images, labels, torch.Generator().manual_seed(7))
    other = augmenter(images, labels, torch.Generator().manual_seed(8))

    assert first.dtype == torch.uint8 and first.shape == images.shape and first.device == images.device
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(images, original)


def test_augmenter_rejects_unknown_class_names() -> None:
    with pytest.raises(DataError) as error:
        BatchAugmenter(AugmentConfig(classes=("malignent",)), CLASSES)
    assert_one_line_error(error, "'malignent'", "benign, malignant, normal")


@pytest.mark.parametrize("size", [(24, 36), (31, 17), (224, 224)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_rotate_batch_matches_torchvision_nearest_rotate(size: tuple[int, int]) -> None:
    """Nearest, as RandomRotation's default; a rounding tie may go either way, hence 99.9% of pixels."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, *size), dtype=torch.uint8, generator=generator)
    angles = [7.0, -25.0, 10.0, -3.3]
    flips = torch.tensor([False, True, False, True])
    ours = rotate_batch(images, torch.tensor(angles), flips)
    assert ours.dtype == torch.uint8
    for i, angle in enumerate(angles):
        flipped = images[i].flip(-1) if flips[i] else images[i]
        reference = TF.rotate(flipped, angle, interpolation=InterpolationMode.NEAREST)
        assert (ours[i] == reference).float().mean() >= 0.999


def test_jitter_batch_matches_torchvision_brightness_then_contrast() -> None:
    pixels = torch.rand(2, 3, 10, 12, generator=torch.Generator().manual_seed(0)) * 255
    brightness, contrast = torch.tensor([1.2, 0.8]), torch.tensor([0.7, 1.3])
    ours = jitter_batch(pixels, brightness, contrast)
    for i in range(2):
        brightened = TF.adjust_brightness(pixels[i] / 255, float(brightness[i]))
        reference = TF.adjust_contrast(brightened, float(contrast[i])) * 255
        assert (ours[i] - reference).abs().max() < 0.01


# ------------------------------------------------------------------------------------------ normalisation


def test_normalizer_imagenet_matches_manual_formula() -> None:
    images, _ = random_batch()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = Normalizer("imagenet", "cpu")(images)
    assert out.dtype == torch.float32
    assert torch.allclose(out, (images.float() / 255 - mean) / std, atol=1e-5)


def test_normalizer_none_scales_to_unit_range_and_supports_channels_last() -> None:
    images, _ = random_batch()
    out = Normalizer("none", "cpu", channels_last=True)(images)
    assert torch.allclose(out, images.float() / 255, atol=1e-6)
    assert out.is_contiguous(memory_format=torch.channels_last)


# ------------------------------------------------------------------------------------------------ bundle


def test_build_data_on_synthetic_set_reproduces_study_split(synthetic_root: Path) -> None:
    bundle = build_data(DataConfig(root=str(synthetic_root), image_size=16))

    assert bundle.classes == CLASSES
    assert bundle.counts() == {"train": 563, "val": 100, "test": 117}
    assert bundle.class_counts("test") == [66, 31, 20]
    images, labels = bundle.tensors("val")
    assert images.shape == (100, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == bundle.images.labels[bundle.splits["val"]].tolist()
    assert bundle.split_hash == build_data(DataConfig(root=str(synthetic_root), image_size=8)).split_hash
    with pytest.raises(DataError):
        bundle.tensors("holdout")


def test_build_data_rejects_empty_val_split(make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder({"a": 5, "b": 5})
    with pytest.raises(DataError) as error:
        build_data(DataConfig(root=str(root), val_fraction=0.0))
    assert_one_line_error(error, "val split is empty", "data.val_fraction")


def test_relative_manifest_resolves_against_the_data_root(make_image_folder: Callable[..., Path]) -> None:
    root = make_image_folder({"a": 3, "b": 3})
    rows = [
        f"{c}/{c} ({i}).png,{s}"
        for c in "ab"
        for i, s in zip((1, 2, 3), ("train", "val", "test"), strict=True)
    ]
    (root / "split.csv").write_text("path,split\n" + "\n".join(rows) + "\n")
    bundle = build_data(DataConfig(root=str(root), image_size=8, manifest="split.csv"))
    assert bundle.counts() == {"train": 2, "val": 2, "test": 2}


def test_streamed_images_decode_on_demand_to_the_resident_pixels(
    make_image_folder: Callable[..., Path], counted_loads: list[Path]
) -> None:
    root = make_image_folder({"a": 4, "b": 4}, size=(30, 20))
    resident = build_data(DataConfig(root=str(root), image_size=16, test_fraction=0.25, val_fraction=0.34))
    decoded_up_front = len(counted_loads)
    streamed = build_data(
        DataConfig(root=str(root), image_size=16, test_fraction=0.25, val_fraction=0.34, storage="stream")
    )
    assert len(counted_loads) == decoded_up_front  # nothing decoded while building
    lazy, labels = streamed.tensors("train")
    images, same_labels = resident.tensors("train")
    assert torch.equal(labels, same_labels) and lazy.shape == images.shape and len(lazy) == len(images)
    index = torch.tensor([2, 0])
    assert torch.equal(lazy.index_select(0, index), images.index_select(0, index))
    assert torch.equal(lazy.to("cpu")[index], images[index])
    assert len(counted_loads) == decoded_up_front + 4  # exactly the requested images, each time
