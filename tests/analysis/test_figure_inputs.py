"""What the analysis hands the figures beyond the plotted values: the data source every title names, and the
cost's spread over runs behind the Pareto figure's horizontal error bars."""

import numpy as np
import pytest

from bcbench.analysis import SYNTHETIC_SOURCE, analyse, data_source_label
from bcbench.record import RunRecord
from tests.report.fake_records import sweep_records


def _record(config_root="unset", resolved=None):
    config = {} if config_root == "unset" else {"data": {"root": config_root, "image_size": 64}}
    data = {"classes": ["a", "b"], "root": resolved} if resolved is not None else None
    return RunRecord.from_json({"run_id": "r", "status": "ok", "config": config, "data": data})


@pytest.mark.parametrize(
    ("records", "label"),
    [
        # the embedded set: no root in the config, whatever folder it was generated into
        ([_record(None, "/home/u/.cache/bcbench/synthetic-v1-96")], SYNTHETIC_SOURCE),
        ([_record("/data/busi", "/data/busi")], "busi"),
        # the record's root is the resolved folder: "." or "~/busi/" in the config names nothing useful
        ([_record(".", "/srv/images/BUSI_2020")], "BUSI_2020"),
        ([_record("~/busi/", None)], "busi"),
        ([_record("/d/breastmnist_224.npz", "/d/breastmnist_224.npz")], "breastmnist_224.npz"),
        # mixed sweep: every source is named, never one of them silently
        (
            [_record(None, "/c/synthetic-v1-96"), _record("/data/busi", "/data/busi")],
            f"busi + {SYNTHETIC_SOURCE}",
        ),
        ([_record("unset", None)], None),
        ([], None),
    ],
)
def test_data_source_label_names_the_embedded_set_or_the_folder(records, label):
    assert data_source_label(records) == label


def test_pareto_points_carry_the_cost_median_min_and_max_over_runs():
    # sweep_records: latency p50 of seed s is base + 0.1 s over seeds 0, 1, 2
    pareto = analyse(sweep_records()).pareto
    assert pareto.metric == "latency_p50_ms"
    expected = {"tiny": (0.5, 0.6, 0.7), "mid": (2.0, 2.1, 2.2), "resnet": (9.0, 9.1, 9.2)}
    for label, low, middle, high in zip(
        pareto.labels, pareto.cost_min, pareto.costs, pareto.cost_max, strict=True
    ):
        assert (low, middle, high) == pytest.approx(expected[label])


def test_one_noisy_timing_widens_the_bar_but_does_not_move_the_point():
    # the newcomer's case: one run of the smallest model timed on a busy machine (63 ms against 0.5)
    records = sweep_records()
    for record in records:
        if record["model"] == "tiny" and record["seed"] == 2:
            record["cost"]["latency_ms"]["p50"] = 63.0
    pareto = analyse(records).pareto
    tiny = pareto.labels.index("tiny")
    assert (pareto.cost_min[tiny], pareto.costs[tiny], pareto.cost_max[tiny]) == pytest.approx(
        (0.5, 0.6, 63.0)
    )
    assert pareto.costs[tiny] == pytest.approx(np.median([0.5, 0.6, 63.0]))
    assert pareto.front[0] == tiny  # still the cheapest, as its typical run is


def test_a_cost_measured_by_some_runs_only_spans_those_runs():
    records = sweep_records()
    for record in records:
        if record["model"] == "tiny" and record["seed"] == 2:
            record["cost"]["latency_ms"]["p50"] = None
    pareto = analyse(records).pareto
    tiny = pareto.labels.index("tiny")
    assert (pareto.cost_min[tiny], pareto.costs[tiny], pareto.cost_max[tiny]) == pytest.approx(
        (0.5, 0.55, 0.6)
    )
