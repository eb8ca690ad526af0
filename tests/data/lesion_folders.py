"""Small image folders with known lesions and their masks beside them (BUSI's layout), for the tests of masks
in the data pipeline and of the sweep's explanation step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bcbench.config import DataConfig

WIDTH, HEIGHT = 40, 30  # stored size: not square, so resize and crop both change the geometry
# per image: its lesion box (left, top, right, bottom) or None for an empty mask file, "none" for no file
BOXES: dict[str, list] = {
    "benign": [(4, 6, 20, 18), (22, 3, 36, 12), None],
    "malignant": [(10, 10, 30, 26), (2, 2, 14, 28), (26, 14, 38, 27)],
    "normal": [None, None, "none"],
}


def write_case(folder: Path, stem: str, box: tuple | str | None) -> None:
    """An image (dark, with the lesion box white) and its mask file beside it (none for "none")."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    if isinstance(box, tuple):
        left, top, right, bottom = box
        mask[top:bottom, left:right] = True
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.where(mask, 255, 20).astype(np.uint8)
    pixels[-1, -1] = 30 + sum(map(ord, stem)) % 60  # no two images alike (no duplicate warnings)
    Image.fromarray(pixels).save(folder / f"{stem}.png")
    if box != "none":
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{stem}_mask.png")


def write_folders(root: Path, prefix: str = "") -> list[str]:
    """Class folders (under ``prefix`` when given) with BOXES; returns a manifest's rows."""
    rows = []
    for name, boxes in BOXES.items():
        for number, box in enumerate(boxes, start=1):
            write_case(root / prefix / name, f"{name} ({number})", box)
            split = ("train", "val", "test")[number - 1]
            rows.append(f"{prefix}{name}/{name} ({number}).png,{split}")
    return rows


def folder_config(root: Path, tmp_path: Path, **options: object) -> DataConfig:
    manifest = tmp_path / "split.csv"
    manifest.write_text("path,split\n" + "\n".join(write_folders(root)) + "\n")
    return DataConfig(root=str(root), manifest=str(manifest), image_size=16, **options)
