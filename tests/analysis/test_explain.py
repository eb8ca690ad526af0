"""The explanation analysis from hand-written sweep folders: every number worked out here with numpy and
scipy (means over lesion images, t intervals over seeds clipped to [0, 1], paired t-tests, Holm,
Spearman's rho)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bcbench.analysis import analyse, analyse_explain
from bcbench.analysis.explain_maps import figure_data, load_maps
from bcbench.record import RunRecord, append_record, shard_path
from tests.analysis.fake_explain import SCORES, SOURCES, write_explained

MODELS = ("a", "b", "c")
SEEDS = (0, 1, 2)


def write_run(
    directory: Path,
    model: str,
    seed: int,
    values: dict[str, list[float]],
    maps: np.ndarray | None = None,
    has_lesion: list[bool] | None = None,
    fold: int | None = None,
) -> RunRecord:
    """One ok run with its table (``values``: column -> per image) and, with ``maps``, its stored maps."""
    run_id = f"{model}-s{seed}" + (f"-f{fold}" if fold is not None else "")
    record = RunRecord(
        run_id=run_id,
        model=model,
        seed=seed,
        repeat=0 if fold is not None else None,
        fold=fold,
        status="ok",
        config={"explain": {"enabled": True, "target": "true_class"}},
        explain=write_explained(directory, run_id, values, maps, has_lesion),
    )
    append_record(shard_path(directory, "w"), record)
    return record


def table_values(rng: np.random.Generator, seed: int) -> dict[str, list[float]]:
    """Four images, the last without a lesion (its values, far off, must not count); the references are
    the same for every model of a seed."""
    values = {f"{source}.{score}": [*rng.random(3), 0.99] for source in SOURCES for score in SCORES}
    references = np.random.default_rng(100 + seed).random((2, 2, 3))
    for r, source in enumerate(("centre", "random")):
        for s, score in enumerate(SCORES):
            values[f"{source}.{score}"] = [*references[r, s], 0.99]
    return values


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RunRecord], dict, dict, object]:
    """Three models x three seeds, written once, analysed once (the analysis is last)."""
    tmp_path = tmp_path_factory.mktemp("explained")
    rng = np.random.default_rng(7)
    records, values, maps = [], {}, {}
    for model in MODELS:
        for seed in SEEDS:
            values[model, seed] = table_values(rng, seed)
            maps[model, seed] = rng.random((3, 4, 4)).astype(np.float16)
            lesion = [True, True, True, False]
            records.append(write_run(tmp_path, model, seed, values[model, seed], maps[model, seed], lesion))
    return tmp_path, records, values, maps, analyse_explain(records, tmp_path)


def run_means(values: dict, model: str, column: str) -> np.ndarray:
    """Each seed's mean over the three lesion images."""
    return np.array([np.mean(values[model, seed][column][:3]) for seed in SEEDS])


def clipped_t_interval(values: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return max(0.0, values.mean() - half), min(1.0, values.mean() + half)


def row(rows: list[dict], **where: object) -> dict:
    found = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0]


def test_scores_are_means_over_lesion_images_then_over_seeds(sweep) -> None:
    *_, values, _, analysis = sweep

    assert analysis.methods == ["gradcam"] and analysis.scores_named == list(SCORES)
    for model in MODELS:
        for source in ("gradcam", "gradcam_randomised"):
            for score in SCORES:
                means = run_means(values, model, f"{source}.{score}")
                got = row(analysis.scores, model=model, method=source, score=score)
                assert got["n"] == 3 and got["mean"] == pytest.approx(means.mean())
                assert (got["ci_low"], got["ci_high"]) == pytest.approx(clipped_t_interval(means))


def test_the_references_get_one_row_each_over_seeds(sweep) -> None:
    *_, values, _, analysis = sweep

    assert [(r["model"], r["score"]) for r in analysis.references] == [
        ("centre prior", "pointing"),
        ("centre prior", "ap"),
        ("uniform random", "pointing"),
        ("uniform random", "ap"),
    ]
    means = run_means(values, "a", "centre.ap")
    assert row(analysis.references, model="centre prior", score="ap")["mean"] == pytest.approx(means.mean())


def test_the_randomisation_check_pairs_each_seed_with_its_randomised_copy(sweep) -> None:
    *_, values, _, analysis = sweep

    trained, randomised = (
        run_means(values, "b", "gradcam.ap"),
        run_means(values, "b", "gradcam_randomised.ap"),
    )
    got = row(analysis.randomisation, model="b", method="gradcam", score="ap")
    assert got["trained"] == pytest.approx(trained.mean()) and got["randomised"] == pytest.approx(
        randomised.mean()
    )
    assert got["mean_diff"] == pytest.approx((trained - randomised).mean())
    assert got["t_p"] == pytest.approx(stats.ttest_rel(trained, randomised).pvalue)


def test_models_are_compared_paired_by_seed_with_holm(sweep) -> None:
    *_, values, _, analysis = sweep

    column = "gradcam.pointing"
    raw = {
        pair: stats.ttest_rel(run_means(values, pair[0], column), run_means(values, pair[1], column)).pvalue
        for pair in (("a", "b"), ("a", "c"), ("b", "c"))
    }
    ordered = sorted(raw.values())
    holm = np.maximum.accumulate([min(1.0, (3 - k) * p) for k, p in enumerate(ordered)])
    for (model_a, model_b), p in raw.items():
        got = row(analysis.pairwise, method="gradcam", score="pointing", model_a=model_a, model_b=model_b)
        assert got["t_p"] == pytest.approx(p) and got["t_p_holm"] == pytest.approx(holm[ordered.index(p)])


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    return stats.spearmanr(first.ravel().astype(np.float64), second.ravel().astype(np.float64)).statistic


def test_repeatability_and_reproducibility_are_rank_correlations_per_image(sweep) -> None:
    *_, maps, analysis = sweep

    per_image = [
        np.mean([spearman(maps["a", s][i], maps["a", t][i]) for s, t in ((0, 1), (0, 2), (1, 2))])
        for i in range(3)
    ]
    got = row(analysis.repeatability, model="a", method="gradcam")
    assert (got["seeds"], got["pairs"], got["images"]) == (3, 3, 3)
    assert got["mean"] == pytest.approx(np.mean(per_image))
    half = stats.t.ppf(0.975, 2) * np.std(per_image, ddof=1) / math.sqrt(3)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(
        (np.mean(per_image) - half, np.mean(per_image) + half)
    )

    across = [np.mean([spearman(maps["a", s][i], maps["c", s][i]) for s in SEEDS]) for i in range(3)]
    got = row(analysis.reproducibility, method="gradcam", model_a="a", model_b="c")
    assert got["seeds"] == 3 and got["mean"] == pytest.approx(np.mean(across))


def test_the_figure_takes_each_models_first_seed_and_the_images_are_counted(sweep) -> None:
    directory, records, _, maps, analysis = sweep
    reversed_records = list(reversed(records))  # the newest first: still each model's lowest seed

    figure = figure_data(reversed_records, load_maps(reversed_records, directory), ["gradcam"])
    assert list(figure.maps) == ["c\ngradcam", "b\ngradcam", "a\ngradcam"]
    assert np.array_equal(figure.maps["b\ngradcam"], maps["b", 0][:2].astype(np.float32))
    assert figure.row_titles == ["1 (malignant)", "2 (benign)"] and figure.masks.dtype == bool
    assert list(analysis.figure.maps) == ["a\ngradcam", "b\ngradcam", "c\ngradcam"]
    assert row(analysis.images, model="a") == {
        "model": "a",
        "runs": 3,
        "layer": "features",
        "images": 4.0,
        "scored": 3.0,
        "excluded": 1.0,
        "seconds": 2.0,
    }
    frame = analysis.frame()
    assert set(frame["part"]) == {"scores", "references", "randomisation", "pairwise", "repeatability"} | {
        "reproducibility",
        "images",
    }


def test_cross_validation_pools_the_folds_of_a_seed(tmp_path: Path) -> None:
    first = {"gradcam.ap": [0.2, 0.4, 0.6], "centre.ap": [0.5, 0.5, 0.5]}
    second = {"gradcam.ap": [0.9, 0.1], "centre.ap": [0.5, 0.5]}
    records = [
        write_run(tmp_path, "a", 0, first, fold=0),
        write_run(tmp_path, "a", 0, second, has_lesion=[True, False], fold=1),
    ]

    analysis = analyse_explain(records, tmp_path)

    # one unit: the four lesion images of both folds pooled, not the mean of the two folds' means
    assert row(analysis.scores, model="a", method="gradcam", score="ap")["mean"] == pytest.approx(0.525)
    assert analysis.repeatability == [] and analysis.figure is None


def test_a_sweep_without_explanations_has_no_explain_analysis(tmp_path: Path) -> None:
    record = RunRecord(run_id="r", model="a", seed=0, status="ok")
    assert analyse([record], tmp_path).explain is None
    assert analyse_explain([record], None) is None
