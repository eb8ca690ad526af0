"""The randomised-weights copy and the rank correlations behind repeatability and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from bcbench.explain.sanity import pairwise_rank_correlation, randomised_copy, rank_correlation, resize_maps
from bcbench.models.build import build_model


class WithLayerScale(nn.Module):
    """A block holding a parameter outside any module with ``reset_parameters`` (as ConvNeXt's do)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scale = nn.Parameter(torch.arange(1.0, 5.0))


def test_the_randomised_copy_changes_every_weight_and_nothing_else() -> None:
    torch.manual_seed(0)
    model = build_model("study_mobilenet", 3, None, 4)  # every kind of layer, few weights
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # "trained": away from every initialiser
    before = {key: value.clone() for key, value in model.state_dict().items()}
    state = torch.get_rng_state()

    copy = randomised_copy(model, seed=7)

    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), state)
    for (name, old), new in zip(model.named_parameters(), copy.parameters(), strict=True):
        assert not torch.allclose(old, new), name
    bn = copy.features[1]
    assert torch.equal(bn.running_mean, torch.zeros(32)) and torch.equal(bn.running_var, torch.ones(32))
    again = randomised_copy(model, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(copy.parameters(), again.parameters(), strict=True))


def test_a_parameter_without_an_initialiser_is_permuted() -> None:
    copy = randomised_copy(WithLayerScale(), seed=1)
    assert sorted(copy.scale.tolist()) == [1.0, 2.0, 3.0, 4.0]
    assert copy.scale.tolist() != [1.0, 2.0, 3.0, 4.0]


def test_rank_correlation_equals_scipy_per_image() -> None:
    rng = np.random.default_rng(0)
    first = rng.random((4, 6, 6))
    second = first + rng.normal(0, [0.01, 0.1, 1.0, 10.0], (6, 6, 4)).T
    second[3] = np.round(second[3])  # ties

    ours = rank_correlation(first, second)

    expected = [stats.spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(first, second, strict=True)]
    assert ours == pytest.approx(expected, abs=1e-12)
    assert np.isnan(rank_correlation(np.ones((1, 3, 3)), first[:1, :3, :3]))[0]


def test_pairwise_rank_correlation_compares_every_pair_image_by_image() -> None:
    rng = np.random.default_rng(1)
    maps = {f"seed{k}": rng.random((3, 5, 5)) for k in range(3)}

    table = pairwise_rank_correlation(maps, image_ids=["a", "b", "c"])

    assert len(table) == 9 and list(table.columns) == ["image", "first", "second", "spearman"]
    row = table[(table["first"] == "seed0") & (table["second"] == "seed2") & (table["image"] == "b")]
    assert row["spearman"].item() == pytest.approx(
        stats.spearmanr(maps["seed0"][1].ravel(), maps["seed2"][1].ravel()).statistic
    )
    with pytest.raises(ValueError, match="differ"):
        pairwise_rank_correlation({"a": np.zeros((2, 4, 4)), "b": np.zeros((2, 5, 5))})


def test_resize_maps_brings_models_to_one_size() -> None:
    maps = torch.zeros(2, 8, 8)
    maps[:, :4, :4] = 1.0
    small = resize_maps(maps, 4)
    assert small.shape == (2, 4, 4) and small.dtype == np.float32
    assert small[:, 0, 0] == pytest.approx(1.0) and small[:, 3, 3] == pytest.approx(0.0)
    assert small.mean() == pytest.approx(maps.mean().item())  # antialiased: mass kept, not point samples
    assert resize_maps(maps.numpy(), 8) == pytest.approx(maps.numpy())
