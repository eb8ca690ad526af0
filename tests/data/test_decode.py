"""Decoding: any image mode to RGB uint8, the study's preprocessing, decode once, the cache, streaming."""

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

from bcbench.config import DataConfig
from bcbench.data import (
    build_data,
    load_rgb,
    preprocess,
)
from bcbench.errors import DataError
from tests.helpers import assert_one_line_error


def save_array(path: Path, array: np.ndarray, **save_args: object) -> Path:
    Image.fromarray(array).save(path, **save_args)
    return path


def random_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


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


def test_build_data_decodes_each_file_exactly_once(
    make_image_folder: Callable[..., Path], counted_loads: list[Path]
) -> None:
    root = make_image_folder({"a": 6, "b": 5})
    progress: list[tuple[int, int]] = []

    bundle = build_data(
        DataConfig(root=str(root), image_size=8), progress=lambda i, n: progress.append((i, n))
    )

    assert sorted(counted_loads) == sorted(root / p for p in bundle.decoded.relpaths)
    assert len(counted_loads) == 11
    assert progress[-1] == (11, 11)
    assert bundle.decoded.pixels.shape == (11, 3, 8, 8) and bundle.decoded.pixels.dtype == torch.uint8
    assert bundle.decoded.labels.dtype == torch.int64
    first = root / bundle.decoded.relpaths[0]
    assert bundle.decoded.sha256[0] == hashlib.sha256(first.read_bytes()).hexdigest()


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
    assert torch.equal(first.decoded.pixels, second.decoded.pixels)
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
    expected = build_data(config).decoded.pixels
    (cache_file,) = (tmp_path / "cache").glob("*.pt")
    cache_file.write_bytes(b"garbage")

    assert torch.equal(build_data(config).decoded.pixels, expected)


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


def test_a_small_centre_crop_is_said_and_a_scaled_one_is_not():
    from bcbench.config import load_config
    from bcbench.data import crop_warning

    def data(*overrides):
        return load_config(None, ["data.preprocess=shorter_crop", *overrides]).data

    message = crop_warning(data("data.image_size=32", "data.resize_shorter=256"))
    assert "keeps the central 32 x 32 px" in message and "1.6%" in message and "resize_shorter=37" in message
    assert crop_warning(data("data.image_size=224", "data.resize_shorter=256")) == ""
    assert crop_warning(data("data.image_size=64", "data.resize_shorter=73")) == ""
    assert crop_warning(load_config(None, ["data.image_size=32"]).data) == ""  # square: the whole image
