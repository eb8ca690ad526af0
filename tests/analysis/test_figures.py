"""The numbers behind the figures, on hand-made inputs."""

import numpy as np
import pytest

from bcbench.analysis.figures import mean_curve, pareto_front, summed_confusion


def test_summed_confusion_sums_then_normalises_rows():
    counts, fractions = summed_confusion([[[5, 1], [2, 2]], [[4, 2], [0, 4]]])
    np.testing.assert_array_equal(counts, [[9, 3], [2, 6]])
    np.testing.assert_allclose(fractions, [[0.75, 0.25], [0.25, 0.75]])
    _, empty_row = summed_confusion([[[1, 1], [0, 0]]])
    np.testing.assert_allclose(empty_row, [[0.5, 0.5], [0.0, 0.0]])
    with pytest.raises(ValueError):
        summed_confusion([[[1, 0], [0, 1]], [[1]]])


def test_pareto_front_is_exactly_the_non_dominated_set():
    costs = [1.0, 2.0, 3.0, 4.0, 2.0, 5.0, 0.5]
    scores = [0.5, 0.7, 0.6, 0.9, 0.7, 0.9, 0.3]
    # (3, .6) is beaten by (2, .7); (5, .9) by (4, .9); the two (2, .7) tie and both stay
    assert pareto_front(costs, scores) == [6, 0, 1, 4, 3]
    assert pareto_front([1.0], [0.1]) == [0]


def test_mean_curve_averages_over_seeds_that_reached_each_epoch():
    histories = [
        [{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.6}, {"epoch": 3, "val_loss": 0.4}],
        [{"epoch": 1, "val_loss": 0.8}, {"epoch": 2, "val_loss": 0.4}],
        [{"epoch": 1, "val_loss": 0.6}],
    ]
    curve = mean_curve(histories, "val_loss")
    np.testing.assert_array_equal(curve["epoch"], [1, 2, 3])
    np.testing.assert_allclose(curve["mean"], [0.8, 0.5, 0.4])
    np.testing.assert_array_equal(curve["n"], [3, 2, 1])
    np.testing.assert_allclose(curve["min"], [0.6, 0.4, 0.4])
    np.testing.assert_allclose(curve["max"], [1.0, 0.6, 0.4])
    np.testing.assert_allclose(curve["std"], [0.2, np.std([0.6, 0.4], ddof=1), 0.0])
