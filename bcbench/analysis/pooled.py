"""Stored predictions read once per run and grouped per seed, for the analyses that score sets of images
beyond the clean test set (corruption curves, ensembles, selective prediction).

A ``SeedUnit`` is what one seed of one model predicted for every test image: one run in a holdout sweep;
in cross-validation the runs of all folds of one (model, seed, repeat), whose test images (and corrupted
copies of them) are disjoint and together cover the data set once. Its rows of a set are sorted by image
index, so units of one test set line up row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bcbench.record import CALIBRATED_PREFIX, RunRecord, group_label, probabilities, read_predictions


@dataclass
class SeedUnit:
    """One seed's predictions (one run, or the folds of one repeat pooled); ``runs`` pairs each record
    with its stored rows."""

    model: str
    seed: object
    repeat: int | None
    classes: list[str]
    runs: list[tuple[RunRecord, pd.DataFrame]] = field(default_factory=list)

    @property
    def label(self) -> str:
        where = f"seed {self.seed}"
        if self.repeat is not None:
            where += f", repeat {self.repeat} ({len(self.runs)} folds pooled)"
        return where

    def rows(self, set_name: str) -> pd.DataFrame:
        """Every run's rows of ``set_name`` (test, corrupted:..., ...) together, sorted by image index."""
        parts = [frame[frame["set"] == set_name] for _, frame in self.runs]
        parts = [part for part in parts if not part.empty]
        if not parts:
            return pd.DataFrame()
        return pd.concat(parts, ignore_index=True).sort_values("index", kind="stable", ignore_index=True)

    def set_names(self) -> list[str]:
        return list(dict.fromkeys(name for _, frame in self.runs for name in frame["set"].unique()))

    def arrays(self, set_name: str, calibrated: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image indices, probabilities [N, C], labels) of one set; ``calibrated``: the stored
        temperature-scaled ``cal_prob_*`` (the raw ones for predictions stored before calibration)."""
        rows = self.rows(set_name)
        if rows.empty:
            return np.empty(0, np.int64), np.empty((0, len(self.classes))), np.empty(0, np.int64)
        scaled = calibrated and f"{CALIBRATED_PREFIX}{self.classes[0]}" in rows.columns
        probs, labels = probabilities(rows, self.classes, calibrated=scaled)
        return rows["index"].to_numpy(dtype=np.int64), probs, labels


Member = tuple[str, np.ndarray, np.ndarray, np.ndarray]  # (label, image indices, probabilities, labels)


def aligned(members: Sequence[Member]) -> list[Member]:
    """The members that predicted the same images as the fullest member (a pooled unit missing a fold's
    rows is left out rather than averaged against the wrong images)."""
    members = [member for member in members if member[1].size]
    if not members:
        return []
    fullest = max(members, key=lambda member: member[1].size)[1]
    return [member for member in members if np.array_equal(member[1], fullest)]


def read_frames(records: Sequence[RunRecord], directory: Path | None) -> dict[str, pd.DataFrame]:
    """{run_id: stored predictions} of the runs that stored them (nothing without a folder)."""
    if directory is None:
        return {}
    frames = {}
    for record in records:
        frame = read_predictions(directory, record)
        if frame is not None:
            frames[record.run_id] = frame
    return frames


def seed_units(records: Sequence[RunRecord], frames: dict[str, pd.DataFrame]) -> list[SeedUnit]:
    """One unit per holdout run, or per (model, seed, repeat) of cross-validation, in record order."""
    units: dict[tuple[str, object, object], SeedUnit] = {}
    for record in records:
        frame = frames.get(record.run_id)
        if frame is None:
            continue
        cross_validation = record.fold is not None
        key = (group_label(record), record.seed, record.repeat if cross_validation else record.run_id)
        if key not in units:
            repeat = record.repeat if cross_validation else None
            units[key] = SeedUnit(group_label(record), record.seed, repeat, record.classes)
        units[key].runs.append((record, frame))
    return list(units.values())


def by_model(units: Sequence[SeedUnit]) -> dict[str, list[SeedUnit]]:
    grouped: dict[str, list[SeedUnit]] = {}
    for unit in units:
        grouped.setdefault(unit.model, []).append(unit)
    return grouped
