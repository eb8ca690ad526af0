"""The explanation figure: a grid of test images (rows) by models (columns), each map overlaid on its
image with the lesion's outline, drawn from the arrays ``bcbench.analysis`` gathered (``explain_figure``).

Built on ``matplotlib.figure.Figure``, never pyplot, as ``bcbench.report.figures`` does: no display, no
global backend switched, nothing left open. The first column shows the image alone with the outline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bcbench.analysis import ExplainFigureData
from bcbench.report.figures import save_figure

OUTLINE_COLOUR = "#00e5ff"
MAP_COLOURS = "inferno"
MAP_ALPHA = 0.7  # the opacity of a map's maximum
PANEL_INCHES = 1.6
FIGURE_TITLE = "Where each model looks (first run of each model; cyan: lesion outline)"


def explain_figure(data: ExplainFigureData | None, path: str | Path) -> Path | None:
    """The grid of the figure's images by models and methods, saved to ``path``; None with nothing to draw."""
    if data is None or not data.maps or len(data.images) == 0:
        return None
    figure = explanation_grid(data.images, data.masks, data.maps, data.row_titles, FIGURE_TITLE)
    return save_figure(figure, path)


def explanation_grid(
    images: np.ndarray,
    masks: np.ndarray,
    maps: Mapping[str, np.ndarray],
    row_titles: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """A Figure of ``len(images)`` rows and ``1 + len(maps)`` columns.

    ``images``: uint8 [k, 3, H, W] or [k, H, W, 3] or [k, H, W]; ``masks``: bool [k, H, W]; ``maps``:
    column title (a model, or model and method) -> float [k, H, W] in [0, 1]; ``row_titles``: one label
    per image (e.g. its file and class).
    """
    pictures = _as_height_width_channels(np.asarray(images))
    count, columns = len(pictures), 1 + len(maps)
    if count == 0:
        raise ValueError("no images to draw")
    figure = Figure(figsize=(PANEL_INCHES * columns, PANEL_INCHES * count + (0.4 if title else 0.0)))
    axes = figure.subplots(count, columns, squeeze=False)
    for row in range(count):
        _panel(axes[row][0], pictures[row], masks[row], None)
        axes[row][0].set_ylabel(row_titles[row] if row_titles else f"image {row + 1}", fontsize=7)
        for column, (name, values) in enumerate(maps.items(), start=1):
            _panel(axes[row][column], pictures[row], masks[row], np.asarray(values)[row])
            if row == 0:
                axes[row][column].set_title(name, fontsize=8)
    axes[0][0].set_title("image, lesion", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def _panel(axis: object, picture: np.ndarray, mask: np.ndarray, heat: np.ndarray | None) -> None:
    axis.imshow(
        picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
    )
    if heat is not None:
        # opacity follows the map, so the image stays visible where the model found no evidence
        opacity = MAP_ALPHA * np.clip(heat, 0.0, 1.0)
        axis.imshow(heat, cmap=MAP_COLOURS, vmin=0.0, vmax=1.0, alpha=opacity, interpolation="nearest")
    if np.any(mask) and not np.all(mask):
        axis.contour(np.asarray(mask, dtype=float), levels=[0.5], colors=OUTLINE_COLOUR, linewidths=0.8)
    axis.set_xticks([])
    axis.set_yticks([])


def _as_height_width_channels(images: np.ndarray) -> np.ndarray:
    """[k, H, W] stays; [k, 3, H, W] becomes [k, H, W, 3]; an image whose channels are equal becomes gray."""
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = np.moveaxis(images, 1, -1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return images.astype(np.uint8)
