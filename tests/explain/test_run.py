"""explain_run end to end on hand-built models: the lesion detector scores high, the shortcut low, images
without a lesion are excluded and counted, and the table has the documented columns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bcbench.data.masks import PackedMasks
from bcbench.data.normalize import Normalizer
from bcbench.errors import ConfigError
from bcbench.explain import (
    ExplainSettings,
    class_activation_maps,
    explain_maps,
    explain_run,
    figure_indices,
    score_columns,
)
from bcbench.models.build import build_model
from tests.explain.toys import SIDE, detector, lesion_images

RAW = Normalizer("none")  # the hand-built detectors expect pixels / 255
FAST = ExplainSettings(randomised=False, batch_size=3)


def test_the_lesion_detector_hits_and_the_shortcut_misses() -> None:
    marked = np.ones(6, bool)
    images, masks = lesion_images(6, seed=2, marked=marked)
    labels = torch.ones(6, dtype=torch.long)

    looks = explain_run(detector(red_minus_green=False), images, masks, labels, normalizer=RAW, settings=FAST)
    cheats = explain_run(detector(red_minus_green=True), images, masks, labels, normalizer=RAW, settings=FAST)

    for method in ("gradcam", "hirescam"):
        assert looks[f"{method}.pointing"].tolist() == [1.0] * 6
        assert looks[f"{method}.ap"].min() > 0.5 and looks[f"{method}.energy"].min() > 0.5
        assert cheats[f"{method}.pointing"].tolist() == [0.0] * 6
        assert cheats[f"{method}.energy"].max() < 0.01
    assert (
        looks["gradcam.ap"].mean() > looks["centre.ap"].mean()
        and looks["gradcam.ap"].mean() > looks["random.ap"].mean()
    )


def test_images_without_a_lesion_are_excluded_and_counted() -> None:
    images, masks = lesion_images(5, seed=3)
    masks[[1, 4]] = False  # like BUSI's normal images
    labels = torch.tensor([1, 0, 1, 1, 0])

    table = explain_run(
        detector(False),
        images,
        PackedMasks.pack(masks),
        labels,
        normalizer=RAW,
        settings=FAST,
        class_names=["normal", "lesion"],
        relpaths=[f"img{k}.png" for k in range(5)],
    )

    assert table.attrs["excluded"] == 2 and table.attrs["layer"] == "features"
    assert table["has_lesion"].tolist() == [True, False, True, True, False]
    assert table.loc[[1, 4], score_columns(FAST)].isna().all().all()
    assert table.loc[[0, 2, 3], score_columns(FAST)].notna().all().all()
    assert table["lesion_fraction"].tolist() == pytest.approx((masks.flatten(1).float().mean(1)).tolist())
    assert table["class"].tolist() == ["lesion", "normal", "lesion", "lesion", "normal"]
    assert table["relpath"].tolist()[2] == "img2.png"
    assert table["target"].isna().tolist() == [False, True, False, False, True]


def test_the_table_has_one_column_per_source_and_score() -> None:
    settings = ExplainSettings(methods=("hirescam",), top_percent=(5, 12.5), batch_size=4)
    images, masks = lesion_images(3, seed=4)

    table = explain_run(
        detector(False), images, masks, torch.ones(3, dtype=torch.long), normalizer=RAW, settings=settings
    )

    sources = ["hirescam", "hirescam_randomised", "centre", "random"]
    scores = ["pointing", "energy", "iou5", "iou12.5", "ap"]
    assert score_columns(settings) == [f"{s}.{k}" for s in sources for k in scores]
    fixed = ["image", "label", "predicted", "target", "has_lesion", "lesion_fraction"]
    assert list(table.columns) == fixed + score_columns(settings)
    assert set(table.attrs["seconds"]) == {"model", "model_randomised", "references"}


def test_the_target_is_the_true_or_the_predicted_class() -> None:
    images, masks = lesion_images(4, seed=5)
    labels = torch.tensor([0, 0, 1, 1])  # the detector predicts 1 for every bright lesion
    probabilities = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    model = detector(False)

    true = explain_run(model, images, masks, labels, normalizer=RAW, settings=FAST)
    given = explain_run(
        model,
        images,
        masks,
        labels,
        probabilities,
        RAW,
        ExplainSettings(target="predicted_class", randomised=False),
    )
    own = explain_run(
        model, images, masks, labels, None, RAW, ExplainSettings(target="predicted_class", randomised=False)
    )

    assert true["target"].tolist() == [0, 0, 1, 1]
    assert given["target"].tolist() == [0, 1, 0, 1] and given["predicted"].tolist() == [0, 1, 0, 1]
    assert own["target"].tolist() == [1, 1, 1, 1] and own["predicted"].tolist() == [1, 1, 1, 1]
    # explaining class 0 of this detector: Grad-CAM's weights are negative, the map is zero, chance scores
    assert true["gradcam.ap"][:2].tolist() == pytest.approx(true["lesion_fraction"][:2].tolist())


def test_the_randomised_copy_scores_on_a_real_architecture() -> None:
    torch.manual_seed(0)
    model = build_model("simple_cnn", 2, None, SIDE)
    images, masks = lesion_images(4, seed=6)
    before = {key: value.clone() for key, value in model.state_dict().items()}

    table = explain_run(
        model, images, masks, torch.ones(4, dtype=torch.long), settings=ExplainSettings(batch_size=2)
    )

    assert table[[c for c in score_columns(ExplainSettings()) if "randomised" in c]].notna().all().all()
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_explain_maps_returns_the_maps_explain_run_scores() -> None:
    images, masks = lesion_images(5, seed=7)
    model = detector(False)

    maps = explain_maps(model, images, [3, 1], torch.ones(5, dtype=torch.long), normalizer=RAW, settings=FAST)
    small = explain_maps(
        model, images, [3, 1], torch.ones(5, dtype=torch.long), normalizer=RAW, settings=FAST, size=8
    )

    direct, _ = class_activation_maps(
        model, images[[3, 1]].float() / 255, torch.ones(2, dtype=torch.long), model.features, "features"
    )
    assert set(maps) == {"gradcam", "hirescam"} and maps["gradcam"].shape == (2, SIDE, SIDE)
    np.testing.assert_allclose(maps["gradcam"], direct["gradcam"].numpy(), rtol=1e-6)
    assert small["hirescam"].shape == (2, 8, 8)


def test_figure_images_are_the_first_of_the_chosen_class_with_a_lesion() -> None:
    labels = np.array([1, 0, 1, 1, 2, 1, 0])
    lesion = np.array([True, True, False, True, False, True, True])
    assert figure_indices(labels, lesion, class_index=1, count=2).tolist() == [0, 3]
    assert figure_indices(labels, lesion, class_index=1, count=5).tolist() == [0, 3, 5, 1, 6]
    assert figure_indices(labels, lesion, class_index=None, count=2).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"methods": ("gradcam", "lime")}, "explain.methods"),
        ({"target": "largest"}, "explain.target"),
        ({"top_percent": (0,)}, "explain.top_percent"),
        ({"tolerance_px": -1}, "explain.tolerance_px"),
    ],
)
def test_bad_settings_are_one_line_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ExplainSettings(**options)
