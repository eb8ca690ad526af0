"""Figures are skipped when the analysis has nothing to draw (test_report draws every one)."""

from bcbench.analysis import analyse
from bcbench.report.figures import confusion_figure, curves_figure, pareto_figure
from tests.report.fake_records import sweep_records


def test_figures_skip_without_data(tmp_path):
    records = sweep_records()
    for record in records:
        record["test"]["confusion_matrix"] = None
        record["history"] = []
        record["cost"] = None
    analysis = analyse(records)
    assert analysis.confusion == [] and analysis.curves == {} and analysis.pareto is None
    assert confusion_figure(analysis.confusion, [], tmp_path / "c.png") is None
    assert curves_figure(analysis.curves, tmp_path / "h.png") is None
    assert pareto_figure(analysis.pareto, tmp_path / "p.png") is None
