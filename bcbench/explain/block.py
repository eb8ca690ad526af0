"""The record's ``explain`` block: what was explained, where the per-image scores and the maps are stored,
how many test images were scored or left out, and the time it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcbench.serial import JsonBlock


@dataclass
class ExplainBlock(JsonBlock):
    """One run's explanation maps, scored against the test images' lesion masks (``explain.enabled``).

    ``table``: ``explain/<run_id>.csv`` (one row per test image, see ``bcbench.explain.run``); ``maps``:
    ``explain/<run_id>_maps.npz`` (the maps behind repeatability, reproducibility and the figure, see
    ``bcbench.sweep`` ``explain_outcome``), both relative to the sweep folder. ``images``: test images;
    ``scored``: those with a lesion; ``excluded``: those without (empty or no mask), left out of every
    score. ``seconds``: wall-clock time per part (``model``, ``model_randomised``, ``references``,
    ``maps``, ``total``).
    """

    table: str | None = None
    maps: str | None = None
    layer: str | None = None
    methods: list[str] = field(default_factory=list)
    target: str | None = None
    images: int = 0
    scored: int = 0
    excluded: int = 0
    maps_size: int | None = None
    figure: list[str] = field(default_factory=list)  # the figure's test images (relpaths), by the fixed rule
    seconds: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
