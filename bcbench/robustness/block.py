"""The ``robustness`` block of a run record: what was corrupted, how far each corrupted copy moved from the
clean test images, and what it cost. The predictions themselves are stored as rows
``corrupted:<corruption>:<severity>`` of the run's ``predictions/<run_id>.csv``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcbench.serial import JsonBlock


@dataclass
class RobustnessBlock(JsonBlock):
    """One run's corruption evaluation (seconds are wall-clock on ``device``; ``cpu_seconds`` is this
    process's CPU time over the same span, which a machine shared with other jobs leaves unchanged)."""

    corruptions: list[str] = field(default_factory=list)  # resolved names, in order
    severities: list[int] = field(default_factory=list)
    lengths: str = "scan"
    seed_domain: str | None = None  # the version of the random draws (``bcbench.robustness.SEED_DOMAIN``)
    images: int = 0  # test images, each corrupted len(corruptions) x len(severities) times
    device: str | None = None
    seconds: float | None = None  # corrupting and predicting every copy
    corrupt_seconds: float | None = None
    predict_seconds: float | None = None
    cpu_seconds: float | None = None
    # corruption -> per severity (in ``severities`` order) the mean |corrupted - clean| over pixels, 0..255
    distance: dict[str, list[float]] = field(default_factory=dict)
    seconds_by_corruption: dict[str, float] = field(default_factory=dict)  # corrupting only
    extra: dict[str, Any] = field(default_factory=dict)


CORRUPTED_PREFIX = "corrupted:"


def corrupted_set(corruption: str, severity: int) -> str:
    """The ``set`` of a run's stored prediction rows for its test images under ``corruption``."""
    return f"{CORRUPTED_PREFIX}{corruption}:{severity}"


def parse_corrupted_set(name: str) -> tuple[str, int] | None:
    """(corruption, severity) of a ``corrupted:<corruption>:<severity>`` set, else None."""
    if not isinstance(name, str) or not name.startswith(CORRUPTED_PREFIX):
        return None
    corruption, _, severity = name[len(CORRUPTED_PREFIX) :].rpartition(":")
    return (corruption, int(severity)) if corruption and severity.isdigit() else None
