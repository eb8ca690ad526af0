"""Localisation scores against hand-computed values and scikit-learn, and the two reference maps."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from bcbench.explain.references import centre_prior, centre_prior_maps, uniform_random_maps
from bcbench.explain.scores import (
    average_precision,
    dilate,
    energy_pointing_game,
    localisation_scores,
    pointing_game,
    scaled_tolerance,
    top_percent_iou,
)


def box_mask(shape: tuple[int, int], rows: slice, columns: slice) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[rows, columns] = True
    return mask


def test_the_tolerance_is_given_at_224_px_and_scales_with_the_side() -> None:
    assert scaled_tolerance(15, 224) == 15.0
    assert scaled_tolerance(15, 112) == 7.5
    assert scaled_tolerance(15, 448) == 30.0


def test_dilation_is_a_euclidean_disk() -> None:
    mask = box_mask((9, 9), slice(4, 5), slice(4, 5))
    near = dilate(mask[None], 2.0)[0]
    rows, columns = np.mgrid[:9, :9]
    assert np.array_equal(near, (rows - 4) ** 2 + (columns - 4) ** 2 <= 4)  # (2, 0) in, (2, 1) out
    assert np.array_equal(dilate(mask[None], 0)[0], mask)


def test_pointing_game_hits_within_the_tolerance_and_splits_ties() -> None:
    mask = box_mask((10, 10), slice(2, 4), slice(2, 4))  # rows and columns 2..3
    maps = np.zeros((4, 10, 10))
    maps[0, 3, 3] = 1.0  # inside
    maps[1, 3, 6] = 1.0  # 3 px right of the mask: within a tolerance of 3
    maps[2, 7, 7] = 1.0  # 4 px away on both axes: outside
    maps[3] = 0.5  # flat: every pixel is a maximum
    near = dilate(np.repeat(mask[None], 4, axis=0), 3.0)

    scores = pointing_game(maps, near)

    assert scores[:3].tolist() == [1.0, 1.0, 0.0]
    assert scores[3] == pytest.approx(near[3].mean())


def test_energy_is_the_share_of_the_map_inside_the_mask() -> None:
    mask = box_mask((2, 3), slice(0, 1), slice(0, 2))
    maps = np.array([[[1.0, 2.0, 3.0], [0.0, 4.0, 0.0]], [[0.0] * 3, [0.0] * 3]])

    scores = energy_pointing_game(maps, np.stack([mask, mask]))

    assert scores[0] == pytest.approx(3.0 / 10.0)
    assert scores[1] == pytest.approx(2.0 / 6.0)  # a map of zeros scores the mask's area share


def test_top_percent_iou_by_hand() -> None:
    values = np.arange(20, dtype=float).reshape(4, 5)  # 19 is the largest, at the bottom right
    mask = box_mask((4, 5), slice(3, 4), slice(2, 5))  # 17, 18, 19

    at_10 = top_percent_iou(values[None], mask[None], 10)[0]  # top 2 pixels: 18, 19
    at_25 = top_percent_iou(values[None], mask[None], 25)[0]  # top 5 pixels: 15..19
    at_1 = top_percent_iou(values[None], mask[None], 1)[0]  # at least one pixel: 19

    assert at_10 == pytest.approx(2 / 3)
    assert at_25 == pytest.approx(3 / 5)
    assert at_1 == pytest.approx(1 / 3)


def test_top_percent_iou_keeps_every_tie_at_the_cut() -> None:
    values = np.array([[[3.0, 2.0, 2.0, 2.0, 0.0]]])
    mask = np.array([[[True, True, False, False, False]]])
    # the top 40% is two pixels, but three share the second value: the top set is {0, 1, 2, 3}
    assert top_percent_iou(values, mask, 40)[0] == pytest.approx(2 / 4)


@pytest.mark.parametrize("levels", [None, 4])
def test_average_precision_equals_scikit_learn_with_and_without_ties(levels: int | None) -> None:
    rng = np.random.default_rng(3)
    maps = rng.random((6, 12, 11))
    if levels is not None:
        maps = np.floor(maps * levels) / levels  # many tied values
    masks = rng.random((6, 12, 11)) < np.linspace(0.05, 0.6, 6)[:, None, None]
    masks[:, 0, 0] = True  # at least one lesion pixel each

    ours = average_precision(maps, masks)

    expected = [average_precision_score(m.ravel(), v.ravel()) for v, m in zip(maps, masks, strict=True)]
    assert ours == pytest.approx(expected, abs=1e-12)


def test_a_flat_map_scores_chance_everywhere() -> None:
    mask = box_mask((8, 8), slice(1, 3), slice(1, 5))  # 8 of 64 pixels
    flat = np.zeros((1, 8, 8))
    near = dilate(mask[None], 1.0)

    scores = localisation_scores(flat, mask[None], near, top_percent=[10])

    assert scores["pointing"][0] == pytest.approx(near.mean())
    assert scores["energy"][0] == pytest.approx(8 / 64)
    assert scores["iou10"][0] == pytest.approx(8 / 64)
    assert scores["ap"][0] == pytest.approx(8 / 64)


def test_the_centre_prior_peaks_at_the_centre_with_the_documented_sigma() -> None:
    prior = centre_prior(9, 9, sigma_fraction=0.25)
    assert prior[4, 4] == 1.0 and np.unravel_index(prior.argmax(), prior.shape) == (4, 4)
    assert prior[4, 8] == pytest.approx(np.exp(-(4**2) / (2 * 2.25**2)))


def test_the_centre_prior_hits_a_central_lesion_and_misses_a_corner_one() -> None:
    side = 64
    central = box_mask((side, side), slice(28, 36), slice(28, 36))
    corner = box_mask((side, side), slice(0, 10), slice(0, 10))
    masks = np.stack([central, corner])
    maps = centre_prior_maps(2, side, side)

    scores = localisation_scores(maps, masks, dilate(masks, scaled_tolerance(15, side)), top_percent=[5])

    assert scores["pointing"].tolist() == [1.0, 0.0]
    assert scores["ap"][0] > 0.9 and scores["ap"][1] < 0.05
    # energy oracle: the Gaussian is separable, so its mass in a box is a product of 1-D sums
    sigma, axis = 0.25 * side, np.arange(side) - (side - 1) / 2
    profile = np.exp(-(axis**2) / (2 * sigma**2))
    for mask, rows in ((central, slice(28, 36)), (corner, slice(0, 10))):
        expected = (profile[rows].sum() / profile.sum()) ** 2
        assert energy_pointing_game(maps[:1], mask[None])[0] == pytest.approx(expected, rel=1e-5)


def test_the_random_reference_scores_chance_and_does_not_depend_on_the_batch() -> None:
    side = 128
    mask = box_mask((side, side), slice(20, 60), slice(70, 110))  # 1600 px: about 9.8%
    maps = uniform_random_maps(range(8), side, side)

    scores = localisation_scores(
        maps, np.repeat(mask[None], 8, axis=0), dilate(np.repeat(mask[None], 8, 0), 0), [10]
    )

    assert scores["ap"] == pytest.approx(mask.mean(), abs=0.01)
    assert scores["energy"] == pytest.approx(mask.mean(), abs=0.01)
    share, top = mask.mean(), 0.1  # expected overlap share * top, union top + share - overlap
    assert scores["iou10"].mean() == pytest.approx(share * top / (top + share - share * top), abs=0.005)
    assert np.array_equal(uniform_random_maps([5, 2], side, side), maps[[5, 2]])
    assert not np.array_equal(maps[0], maps[1])
