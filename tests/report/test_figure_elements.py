"""The figures' elements, read back from matplotlib's artists in the state the PNG was saved in (no extra
draw): titles that fit and overlap nothing, bin counts under the reliability diagrams, markers and plain
tick labels on short training curves, image counts on ROC/PR, cost error bars and a legend clear of every
point on the Pareto figure, and the data source in every title."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.image import imread

from bcbench.analysis import SYNTHETIC_SOURCE, ParetoPoints, analyse, data_source_label
from bcbench.record import class_names, read_sweep
from bcbench.report.clinical_figures import build_reliability, build_roc_pr
from bcbench.report.figures import balanced_wrap, build_confusion, build_curves, build_pareto, save_figure
from tests.analysis.fake_sweep import malignant_probs, stored_run
from tests.report.fake_records import CONFUSIONS, sweep_records

PLAIN_NUMBER = re.compile(r"^−?-?\d+(\.\d+)?$")
VAL = ([0.9, 0.8, 0.3, 0.2, 0.6, 0.1], [1, 1, 0, 0, 2, 0])
TEST = {  # P(malignant) and labels per model; model b has fewer test images
    "a": ([0.85, 0.7, 0.82, 0.4, 0.1, 0.9, 0.3, 0.2], [1, 1, 0, 0, 0, 1, 2, 2]),
    "b": ([0.6, 0.75, 0.3, 0.5, 0.2, 0.95], [1, 1, 0, 0, 0, 1]),
}


def saved(figure, tmp_path):
    """Save as the report does; the renderer then holds the saved layout, in the PNG's pixels."""
    path = save_figure(figure, tmp_path / "figure.png")
    height, width = imread(path).shape[:2]
    assert (width, height) == pytest.approx(tuple(figure.bbox.size), abs=1)
    return figure.canvas.get_renderer()


def drawn(figure):
    """The layout one draw gives, as saving does (one pass at the same dpi), without rasterising a PNG."""
    figure.draw_without_rendering()
    return figure.canvas.get_renderer()


def assert_laid_out(figure, renderer):
    """Everything drawn inside the figure; the title clear of every axes and of every axes title."""
    drawn = figure.get_tightbbox(renderer)  # in inches: every drawn text, tick label, legend and title
    size = figure.bbox_inches
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, f"cut off at the left or bottom: {drawn}"
    assert drawn.x1 <= size.x1 + 0.01 and drawn.y1 <= size.y1 + 0.01, f"cut off at the right or top: {drawn}"
    title = figure._suptitle.get_window_extent(renderer)
    for ax in figure.axes:
        if ax.get_visible():
            assert not title.overlaps(ax.get_window_extent(renderer)), ax.get_title()
            if ax.get_title():
                assert not title.overlaps(ax.title.get_window_extent(renderer)), ax.get_title()


def one_model(epochs=4, root="/data/busi", losses=None):
    records = [r for r in sweep_records(seeds=(0,), epochs=(epochs,)) if r["model"] == "tiny"]
    records[0]["config"]["data"]["root"] = root
    if losses is not None:
        for entry, loss in zip(records[0]["history"], losses, strict=True):
            entry["train_loss"], entry["val_loss"] = loss, loss * 1.1
    return analyse(records)


@pytest.fixture(scope="module")
def clinical(tmp_path_factory):
    directory = tmp_path_factory.mktemp("clinical")
    for model, test in TEST.items():
        for seed in (0, 1):
            stored_run(directory, model, seed, VAL, test, temperature=2.0)
    return analyse(read_sweep(directory).records, directory).clinical


@pytest.mark.parametrize("models", [1, 3])
def test_confusion_title_and_bottom_labels_fit_and_overlap_nothing(tmp_path, models):
    analysis = analyse(sweep_records()) if models == 3 else one_model()
    figure = build_confusion(analysis.confusion, class_names(analysis.ok), "busi")
    # one figure is saved for real, to check that the drawn layout is the PNG's (same pixels)
    assert_laid_out(figure, saved(figure, tmp_path) if models == 1 else drawn(figure))
    assert len([ax for ax in figure.axes if ax.images]) == models
    assert figure._suptitle.get_text().endswith("data: busi")


def test_a_one_epoch_run_shows_its_points_its_spread_and_a_plain_loss_axis():
    records = [r for r in sweep_records(seeds=(0, 1), epochs=(1, 1)) if r["model"] == "tiny"]
    for record in records:
        record["config"]["data"]["root"] = None  # the embedded set: no data root in the config
    records[1]["history"][0]["train_loss"] = 2.4  # seed 0 has 2.0
    analysis = analyse(records)
    figure = build_curves(analysis.curves, data_source_label(analysis.ok))
    assert_laid_out(figure, drawn(figure))
    assert figure._suptitle.get_text().endswith(f"data: {SYNTHETIC_SOURCE}")
    loss_ax, acc_ax = figure.axes
    for ax in (loss_ax, acc_ax):
        lines = [line for line in ax.get_lines() if line.get_label().endswith("(mean over seeds)")]
        assert len(lines) == 2 and all(line.get_marker() not in (None, "None", "") for line in lines)
        assert all(len(line.get_xdata()) == 1 for line in lines)
    train_spread = next(c for c in loss_ax.containers if c.get_label() == "train min-max over seeds")
    assert np.ravel(train_spread.lines[2][0].get_segments()) == pytest.approx([1, 2.0, 1, 2.4])
    assert [label.get_text() for label in acc_ax.get_xticklabels()] == ["1"]
    assert loss_ax.get_yscale() == "linear"
    _assert_plain_ticks(loss_ax)


@pytest.mark.parametrize(
    ("losses", "scale"),
    [
        ([0.6931, 0.6929, 0.6927, 0.6926], "linear"),  # narrow: the default would print an offset
        ([2.0, 0.8, 0.1, 0.03], "log"),  # nearly two decades
        ([20.0, 1.0, 0.05, 0.001], "log"),  # four decades
    ],
)
def test_loss_ticks_are_plain_decimals(losses, scale):
    figure = build_curves(one_model(losses=losses).curves)
    drawn(figure)
    loss_ax = figure.axes[0]
    assert loss_ax.get_yscale() == scale
    assert loss_ax.get_ylabel() == ("loss (log scale)" if scale == "log" else "loss")
    _assert_plain_ticks(loss_ax)


def _assert_plain_ticks(ax):
    shown = [label.get_text() for label in ax.get_yticklabels(which="both") if label.get_text()]
    assert len(shown) >= 2 and all(PLAIN_NUMBER.match(text) for text in shown), shown
    assert ax.yaxis.get_offset_text().get_text() == ""


def test_pareto_has_cost_and_score_error_bars():
    records = sweep_records()
    analysis = analyse(records)
    figure = build_pareto(analysis.pareto, data_source_label(analysis.ok))
    assert_laid_out(figure, drawn(figure))
    assert figure._suptitle.get_text().endswith("data: busi")
    bars = _errorbars(figure.axes[0])
    assert bars.has_xerr and bars.has_yerr
    x_spans, y_spans = (sorted(map(_span, c.get_segments())) for c in bars.lines[2])
    # sweep_records: latency p50 base + 0.1 x seed for seeds 0-2; F1 std over the three seeds
    assert np.ravel(x_spans) == pytest.approx([0.5, 0.7, 2.0, 2.2, 9.0, 9.2])
    for model in CONFUSIONS:
        f1 = np.array([r["test"]["f1_macro"] for r in records if r["model"] == model])
        low, high = f1.mean() - f1.std(ddof=1), f1.mean() + f1.std(ddof=1)
        assert any(np.allclose(span, (low, high)) for span in y_spans), model


def test_the_pareto_legend_covers_no_point_label_or_axis_text():
    # "slow" is dominated and sits in the lower right, where a legend inside the axes used to go
    points = ParetoPoints(
        "latency_p50_ms", ["a", "b", "c", "slow"], [1.0, 3.0, 10.0, 30.0], [0.5, 0.7, 0.9, 0.3],
        [0.02, 0.03, 0.02, 0.05], [0, 1, 2], 0,
        cost_min=[0.9, 2.5, 9.0, 25.0], cost_max=[1.2, 3.5, 11.0, 40.0],
    )  # fmt: skip
    figure = build_pareto(points)
    renderer = drawn(figure)
    (ax,) = figure.axes
    (legend,) = [legend for legend in [*figure.legends, ax.get_legend()] if legend is not None]
    box = legend.get_window_extent(renderer)
    drawn_points = ax.transData.transform(np.column_stack(_errorbars(ax).lines[0].get_data()))
    assert len(drawn_points) == 4 and not any(box.contains(x, y) for x, y in drawn_points)
    assert not box.overlaps(ax.bbox)  # outside the axes: no data can ever fall under it
    covered = [*ax.texts, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]
    for text in covered:
        if (
            text.get_visible()
            and text.get_text()
            and ax.bbox.padded(40).overlaps(text.get_window_extent(renderer))
        ):
            assert not box.overlaps(text.get_window_extent(renderer)), text.get_text()


def _errorbars(ax):
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    return bars


def _span(segment):
    (x0, y0), (x1, y1) = segment
    return (min(x0, x1), max(x0, x1)) if y0 == y1 else (min(y0, y1), max(y0, y1))


def test_roc_pr_says_how_many_test_images_each_run_had(clinical):
    figure = build_roc_pr(clinical.roc_pr, "malignant", SYNTHETIC_SOURCE)
    assert_laid_out(figure, drawn(figure))
    assert figure._suptitle.get_text().endswith(f"data: {SYNTHETIC_SOURCE}")
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "a (2 runs, 8 test images each)" in legend and "b (2 runs, 6 test images each)" in legend
    assert "(6-8 images per run)" in figure._suptitle.get_text()


def test_reliability_diagrams_show_the_images_in_each_bin(clinical):
    figure = build_reliability(clinical.reliability, SYNTHETIC_SOURCE)
    assert_laid_out(figure, drawn(figure))
    assert figure._suptitle.get_text().endswith(f"data: {SYNTHETIC_SOURCE}")
    count_axes = [ax for ax in figure.axes if ax.get_ylabel() == "images"]
    assert len(count_axes) == 2
    for ax, (scores, _labels) in zip(count_axes, TEST.values(), strict=True):
        probs = np.tile(malignant_probs(scores), (2, 1))  # two seeds, the same predictions
        scaled = np.sqrt(probs) / np.sqrt(probs).sum(axis=1, keepdims=True)  # softmax(log p / 2)
        raw_bars, scaled_bars = ax.containers
        for bars, p in ((raw_bars, probs), (scaled_bars, scaled)):
            expected = _binned(p.max(axis=1))
            assert [patch.get_height() for patch in bars] == expected.tolist()
        counts_written = sorted(t.get_text() for t in ax.texts if t.get_text())
        expected_texts = [str(c) for p in (probs, scaled) for c in _binned(p.max(axis=1)) if c]
        assert counts_written == sorted(expected_texts)


def _binned(confidence, bins=15):
    """Images per confidence bin ((m-1)/M, m/M], counted here from the definition."""
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    return np.array([(index == m).sum() for m in range(bins)])


def test_a_single_image_bin_is_labelled_one(tmp_path):
    directory = tmp_path
    # one confident wrong image alone in its bin: accuracy 0 there, over one image
    stored_run(directory, "a", 0, VAL, ([0.99, 0.6, 0.55, 0.5], [0, 1, 1, 1]))
    figure = build_reliability(analyse(read_sweep(directory).records, directory).clinical.reliability)
    drawn(figure)
    raw_bars = next(ax for ax in figure.axes if ax.get_ylabel() == "images").containers[0]
    heights = [patch.get_height() for patch in raw_bars]
    assert heights[-1] == 1 and sum(heights) == 4


@pytest.mark.parametrize("per_line", [20, 35, 50, 83, 200])
def test_titles_wrap_to_the_fewest_lines_of_similar_length(per_line):
    line = "Training curves: mean over the seeds that reached each epoch (early stopping), band min-max"
    wrapped = balanced_wrap(line, per_line).split("\n")
    assert " ".join(wrapped) == line and all(len(part) <= per_line for part in wrapped)
    assert len(wrapped) == len(textwrap.wrap(line, per_line))  # greedy wrapping needs the fewest lines
    assert max(map(len, wrapped)) - min(map(len, wrapped)) <= max(map(len, line.split())) + 1
    assert balanced_wrap("", per_line) == ""
