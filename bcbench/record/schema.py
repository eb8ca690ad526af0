"""The run record (``RunRecord``), composed of the producers' blocks, and the one table of metrics.

``RunRecord.from_json`` reads any line of a ``runs.jsonl``, old or new (absent keys default, unknown
keys are kept); ``to_json`` writes the record format of the README. ``METRICS`` names every number the
summary, pairwise tests, CSVs and tables show: where it lives in a record, its unit, whether higher
is better, its label; ``metric_value`` reads one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bcbench.cost import CostBlock
from bcbench.data import DataSummary
from bcbench.deploy import DeployBlock
from bcbench.env import Environment
from bcbench.explain import ExplainBlock
from bcbench.metrics import TestMetrics
from bcbench.robustness import RobustnessBlock
from bcbench.serial import JsonBlock


@dataclass
class RunRecord(JsonBlock):
    """One finished (or failed) run: one line of ``runs.jsonl``."""

    sweep: str | None = None
    run_id: str = ""
    model: str | None = None
    seed: int | None = None
    repeat: int | None = None  # cross-validation: the fold assignment (None: holdout)
    fold: int | None = None  # cross-validation: the test fold
    axes: dict[str, Any] = field(default_factory=dict)
    status: str = "running"  # "ok" | "failed" once written
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # this run's resolved config
    data: DataSummary | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # epoch, losses, accuracies, lr, seconds
    best_epoch: int | None = None
    epochs_run: int = 0
    test: TestMetrics | None = None
    external: dict[str, TestMetrics] = field(default_factory=dict)  # external test set name -> scores
    predictions: str | None = None  # per-image predictions CSV, relative to the sweep folder
    cost: CostBlock | None = None  # stored as "efficiency" before bcbench 0.3 (still read)
    env: Environment | None = None
    strategy: str | None = None
    worker: str | None = None  # the worker process that ran it (host, pid, id); its device is env.device
    started_at: str | None = None
    finished_at: str | None = None
    wall_seconds: float | None = None
    traceback: str | None = None
    checkpoint: str | None = None
    explain: ExplainBlock | None = None  # explanation maps scored against lesion masks (explain.enabled)
    robustness: RobustnessBlock | None = None  # corruption evaluation (robustness.corruptions), else None
    deploy: DeployBlock | None = None  # deployed forms (deploy.forms): parity, scores, timings, sizes
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        """Any line of a ``runs.jsonl``; a record from before bcbench 0.3 has its cost under "efficiency"."""
        if isinstance(data, Mapping) and "efficiency" in data and "cost" not in data:
            data = {("cost" if key == "efficiency" else key): value for key, value in data.items()}
        return super().from_json(data)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def classes(self) -> list[str]:
        """Class names: the data block's, else the test block's per-class keys."""
        if self.data is not None and self.data.classes:
            return list(self.data.classes)
        return list(self.test.per_class) if self.test is not None else []


def as_record(record: RunRecord | Mapping[str, Any]) -> RunRecord:
    """A ``RunRecord`` from a record or its JSON dict."""
    return record if isinstance(record, RunRecord) else RunRecord.from_json(record)


Better = Literal["high", "low"] | None


@dataclass(frozen=True)
class Metric:
    """One number of a run: its name, where it lives in the record, how to show and compare it."""

    name: str
    path: tuple[str, ...]
    label: str
    unit: str = ""
    better: Better = None
    kind: Literal["score", "cost", "info"] = "score"
    bounds: tuple[float | None, float | None] = (0.0, None)  # the values it can take: intervals stay inside
    paired: bool = False  # compared between models, seed by seed
    headline: bool = False  # a column of the Rich / markdown summary table
    scale: float = 1.0  # displayed value = value / scale
    digits: int | None = 3  # decimals shown; None: three significant figures


def _score(name: str, label: str, better: Better = "high", **flags: bool) -> Metric:
    """A test-set score in [0, 1], stored at ``test.<name>``."""
    return Metric(name, ("test", name), label, better=better, bounds=(0.0, 1.0), **flags)


def _cost(
    name: str, path: tuple[str, ...], label: str, unit: str, better: Better = "low", **display: Any
) -> Metric:
    """A cost of the model (lower is better unless said), shown with ``display`` (headline, scale, digits)."""
    return Metric(name, path, label, unit, better, "cost", **{"digits": None, **display})


METRICS: tuple[Metric, ...] = (
    _score("accuracy", "accuracy", paired=True, headline=True),
    _score("balanced_accuracy", "balanced accuracy", paired=True),
    _score("f1_macro", "macro F1", paired=True, headline=True),
    _score("f1_weighted", "weighted F1", headline=True),
    _score("auroc_macro", "macro AUROC"),
    _score("ece", "ECE", better="low"),
    _cost("params", ("cost", "params"), "params (M)", "parameters", headline=True, scale=1e6, digits=2),
    _cost(
        "flops",
        ("cost", "flops"),
        "GFLOPs",
        "FLOPs per image (2 per multiply-add)",
        headline=True,
        scale=1e9,
    ),
    _cost(
        "infer_throughput",
        ("cost", "infer_throughput"),
        "img/s",
        "images/s (compute only)",
        better="high",
        headline=True,
        digits=0,
    ),
    _cost("latency_p50_ms", ("cost", "latency_ms", "p50"), "latency p50 ms", "ms (batch 1)", headline=True),
    _cost(
        "train_throughput",
        ("cost", "train_throughput"),
        "train img/s",
        "images/s",
        better="high",
        digits=0,
    ),
    Metric("train_seconds", ("cost", "train_seconds"), "train s", "s", "low", "cost", digits=1),
    Metric("peak_memory_mb", ("cost", "peak_memory_mb"), "peak MiB", "MiB", "low", "cost", digits=0),
    Metric("epochs_run", ("epochs_run",), "epochs run", kind="info", headline=True, digits=1),
)
METRIC_BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}
RECALL_PREFIX = "recall_"


def recall_metric(class_name: str) -> Metric:
    """Per-class recall (sensitivity) as a metric of its own."""
    return Metric(
        f"{RECALL_PREFIX}{class_name}",
        ("test", "per_class", class_name, "recall"),
        f"recall {class_name}",
        better="high",
        bounds=(0.0, 1.0),
    )


def metric_named(name: str) -> Metric:
    """The metric of the table, or the per-class recall ``recall_<class>``."""
    if name in METRIC_BY_NAME:
        return METRIC_BY_NAME[name]
    if name.startswith(RECALL_PREFIX):
        return recall_metric(name[len(RECALL_PREFIX) :])
    raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRIC_BY_NAME)} or recall_<class>")


def metric_value(record: RunRecord | Mapping[str, Any], metric: str | Metric) -> float:
    """One metric of one run (a record, or its JSON of any version) as a float (NaN when not measured)."""
    found: Any = as_record(record)
    for step in (metric if isinstance(metric, Metric) else metric_named(metric)).path:
        if found is None:
            break
        found = found.get(step) if isinstance(found, Mapping) else getattr(found, step, None)
    return _number(found)


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
