"""Shared pytest fixtures: a private cache folder, the synthetic data set, small image folders."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bcbench.data.synthetic import ensure_synthetic_dataset

SYNTHETIC_TEST_SIZE = 48  # small images keep generation and decoding quick


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` need a GPU: without one they are skipped, saying who runs them."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: run on a GPU by scripts/device_check.sh (pytest -m cuda)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def torch_threads_restored() -> Iterator[None]:
    """Commands under test set torch's thread count (bcbench.threads); the next test gets the old one."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def isolated_bcbench_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point $BCBENCH_CACHE at a per-session folder so no test reads or writes ~/.cache/bcbench."""
    cache = tmp_path_factory.mktemp("bcbench-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BCBENCH_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded synthetic data set (437/210/133 images, 48 px high), generated once per session."""
    return ensure_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "busi-like", SYNTHETIC_TEST_SIZE)


def _write_random_image(path: Path, size: tuple[int, int] = (20, 16), mode: str = "L", seed: int = 0) -> Path:
    """Write a random image of ``size`` (width, height) and ``mode`` to ``path``, creating folders."""
    rng = np.random.default_rng(seed)
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], *channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def write_image() -> Callable[..., Path]:
    """``write_image(path, size=(w, h), mode="L" | "RGB" | "RGBA", seed=0)`` writes a random image file."""
    return _write_random_image


@pytest.fixture
def make_image_folder(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_image_folder({"benign": 4, "normal": 2})`` writes random PNGs named like BUSI's
    (``benign (1).png``) into ``tmp_path/data/<class>/`` and returns the root."""

    def make(counts: Mapping[str, int], size: tuple[int, int] = (20, 16), root: Path | None = None) -> Path:
        root = root or tmp_path / "data"
        for class_index, (name, count) in enumerate(counts.items()):
            for number in range(1, count + 1):
                _write_random_image(
                    root / name / f"{name} ({number}).png", size, seed=1000 * class_index + number
                )
        return root

    return make


@pytest.fixture
def counted_loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path passed to ``bcbench.data.decode.load_rgb`` (that is, every decode)."""
    import bcbench.data.decode

    calls: list[Path] = []
    original = bcbench.data.decode.load_rgb

    def counting(path: str | Path) -> Image.Image:
        calls.append(Path(path))
        return original(path)

    monkeypatch.setattr(bcbench.data.decode, "load_rgb", counting)
    return calls
