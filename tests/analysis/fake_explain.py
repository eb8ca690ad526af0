"""A run's stored explanation files written by hand (``explain/<run_id>.csv`` and ``_maps.npz``), for the
analysis and report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bcbench.explain import ExplainBlock

SCORES = ("pointing", "ap")
SOURCES = ("gradcam", "gradcam_randomised", "centre", "random")
RELPATHS = np.array(["x/1.png", "x/2.png", "x/3.png"])


def write_explained(
    directory: Path,
    run_id: str,
    values: dict[str, list[float]],
    maps: np.ndarray | None = None,
    has_lesion: list[bool] | None = None,
) -> ExplainBlock:
    """Write the run's table (``values``: column -> per image) and, with ``maps`` (float [3, H, W] of the
    three RELPATHS), its stored maps with a figure of the first two; returns the record's block."""
    count = len(next(iter(values.values())))
    lesion = has_lesion if has_lesion is not None else [True] * count
    table = pd.DataFrame({"image": range(count), "has_lesion": lesion, **values})
    (directory / "explain").mkdir(parents=True, exist_ok=True)
    table.to_csv(directory / "explain" / f"{run_id}.csv", index=False)
    block = ExplainBlock(table=f"explain/{run_id}.csv", layer="features", images=count, scored=sum(lesion))
    block.excluded, block.seconds = count - sum(lesion), {"total": 2.0}
    if maps is not None:
        block.maps = f"explain/{run_id}_maps.npz"
        side = maps.shape[-1]
        figure = {"figure_relpath": RELPATHS[:2], "figure_label": np.array(["malignant", "benign"])}
        figure |= {"figure_image": np.zeros((2, 3, side, side), np.uint8)}
        figure |= {"figure_mask": np.pad(np.ones((2, side - 2, side - 2), bool), ((0, 0), (1, 1), (1, 1)))}
        np.savez(directory / block.maps, relpath=RELPATHS, gradcam=maps, figure_gradcam=maps[:2], **figure)
    return block
