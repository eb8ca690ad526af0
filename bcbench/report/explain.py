"""The explanation section of report.md: where each model looks, scored against the lesion masks, beside the
two reference maps; the randomisation check; model comparisons; repeatability and reproducibility; the
images left out; and the figure (drawn by ``explain_figure``). It renders ``ExplainAnalysis`` only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bcbench.analysis import ExplainAnalysis
from bcbench.report.format import fmt, fmt_p, markdown_table, missing

HEADLINE_SCORES = ("pointing", "energy", "ap")  # the randomisation and comparison tables (all: explain.csv)
SCORE_LABELS = {"pointing": "pointing game", "energy": "energy in mask", "ap": "AP"}
TARGETS = {"true_class": "the true class", "predicted_class": "the predicted class"}


def score_label(score: str) -> str:
    if score.startswith("iou"):
        return f"IoU top {score[3:]}%"
    return SCORE_LABELS.get(score, score)


def explain_markdown(analysis: ExplainAnalysis | None, figure_name: str | None = None) -> list[str]:
    """The section's lines (none when no run was explained); ``figure_name``: the figure file, linked."""
    if analysis is None:
        return []
    out = ["## Where the models look (explanation maps against lesion masks)", "", _intro(analysis), ""]
    out += ["### Localisation", "", _localisation_table(analysis), "", LOCALISATION_CAPTION, ""]
    if figure_name:
        out += [f"![Where each model looks]({figure_name})", "", FIGURE_CAPTION, ""]
    out += _randomisation(analysis.randomisation)
    out += _comparisons(analysis.pairwise)
    out += _stability(analysis)
    out += ["### Images scored", "", _images_table(analysis.images), "", IMAGES_CAPTION, ""]
    return out


def _intro(analysis: ExplainAnalysis) -> str:
    settings = analysis.settings
    methods = ", ".join({"gradcam": "Grad-CAM", "hirescam": "HiResCAM"}.get(m, m) for m in analysis.methods)
    target = TARGETS.get(settings.get("target", "true_class"), settings.get("target"))
    tolerance = settings.get("tolerance_px", 15)
    return (
        f"{methods} maps of each run's best-validation model on its test images with a lesion, explaining "
        f"{target}, scored against the lesion masks (pointing-game tolerance {fmt(tolerance, 0)} px at "
        "224 px, scaled with the image size). Per model and method: mean over seeds [95% t interval over "
        "seeds, clipped to [0, 1]] of each run's mean over its lesion images. Criteria of Arun et al. "
        "(Radiology: AI 2021): localisation, sensitivity to randomised weights, repeatability, "
        "reproducibility."
    )


def _interval(row: dict[str, Any]) -> str:
    if missing(row.get("mean")):
        return "-"
    text = fmt(row["mean"])
    if not missing(row.get("ci_low")) and row["ci_low"] != row["ci_high"]:
        text += f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    return text


def _localisation_table(analysis: ExplainAnalysis) -> str:
    scores = analysis.scores_named
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in [*analysis.scores, *analysis.references]:
        cells.setdefault((row["model"], row["method"]), {})[row["score"]] = _interval(row)
    table = [
        [model, method, *(values.get(s, "-") for s in scores)] for (model, method), values in cells.items()
    ]
    return markdown_table(["model", "method", *(score_label(s) for s in scores)], table)


def _randomisation(rows: Sequence[dict[str, Any]]) -> list[str]:
    shown = [row for row in rows if row["score"] in HEADLINE_SCORES]
    if not shown:
        return []
    table = [
        [
            row["model"],
            row["method"],
            score_label(row["score"]),
            fmt(row["trained"]),
            fmt(row["randomised"]),
            _difference(row),
            fmt_p(row["t_p"]),
        ]
        for row in shown
    ]
    headers = ["model", "method", "score", "trained", "randomised weights", "difference [95% CI]", "p (t)"]
    return ["### Randomisation check", "", markdown_table(headers, table), "", RANDOMISATION_CAPTION, ""]


def _difference(row: dict[str, Any]) -> str:
    if missing(row.get("mean_diff")):
        return "-"
    text = f"{row['mean_diff']:+.3f}"
    if not missing(row.get("diff_ci_low")):
        text += f" [{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}]"
    return text


def _comparisons(rows: Sequence[dict[str, Any]]) -> list[str]:
    shown = [row for row in rows if row["score"] in HEADLINE_SCORES]
    if not shown:
        return []
    table = [
        [
            row["method"],
            score_label(row["score"]),
            row["model_a"],
            row["model_b"],
            row["n_pairs"],
            _difference(row),
        ]
        + [fmt_p(row.get("t_p_holm")), fmt(row.get("prob_improvement"), 2)]
        for row in shown
    ]
    headers = ["method", "score", "model A", "model B", "seeds", "A - B [95% CI]", "p (t, Holm)", "P(A > B)"]
    return ["### Models compared", "", markdown_table(headers, table), "", COMPARISON_CAPTION, ""]


def _stability(analysis: ExplainAnalysis) -> list[str]:
    out = ["### Repeatability and reproducibility", ""]
    if analysis.repeatability:
        table = [
            [row["model"], row["method"], row["seeds"], row["images"], _interval(row)]
            for row in analysis.repeatability
        ]
        out += [markdown_table(["model", "method", "seeds", "images", "Spearman rho [95% CI]"], table), ""]
    else:
        out += ["One seed per model: no repeatability.", ""]
    if analysis.reproducibility:
        table = [
            [row["method"], row["model_a"], row["model_b"], row["seeds"], row["images"], _interval(row)]
            for row in analysis.reproducibility
        ]
        headers = ["method", "model A", "model B", "seeds", "images", "Spearman rho [95% CI]"]
        out += [markdown_table(headers, table), ""]
    return [*out, STABILITY_CAPTION, ""]


def _images_table(rows: Sequence[dict[str, Any]]) -> str:
    table = [
        [row["model"], row["layer"], row["runs"], fmt(row["images"], 0), fmt(row["scored"], 0)]
        + [fmt(row["excluded"], 0), fmt(row["seconds"], 1)]
        for row in rows
    ]
    headers = ["model", "layer", "runs", "test images", "with a lesion (scored)", "without (excluded)"]
    return markdown_table([*headers, "seconds per run"], table)


LOCALISATION_CAPTION = (
    "Pointing game: the map's maximum lies within the lesion dilated by the tolerance (Zhang et al. 2016). "
    "Energy in mask: the share of the map's mass inside the lesion (Wang et al. 2020). IoU top k%: overlap "
    "of the map's top k% of pixels with the lesion. AP: average precision of the map's values as scores of "
    "lesion pixels. References, scored the same way: the centre prior (a Gaussian at the image centre, "
    "sigma = a quarter of the side: what a map that always looks at the middle scores) and a uniform "
    "random map (chance: about the lesion's share of the image). A model must beat both to show skill "
    "rather than the data set's centre bias. `_randomised`: the same model with re-initialised weights."
)
FIGURE_CAPTION = (
    "The test images chosen by a fixed rule (the first of `explain.figure_class` with a lesion, in test "
    "order), each model's first run; the map's opacity follows its value."
)
RANDOMISATION_CAPTION = (
    "Adebayo et al. (2018): a map that reflects what the model learned changes, and here scores worse, when "
    "every weight is re-initialised. Difference = trained - randomised, paired by seed [95% t interval]. A "
    "difference near zero means the map reflects the architecture and the image, not the training. All "
    "scores are in `explain.csv`."
)
COMPARISON_CAPTION = (
    "Paired by seed on the same test images; p of the paired t-test, Holm-corrected across the pairs of "
    "one method and score (at least 3 seeds); P(A > B): probability of improvement over seeds."
)
STABILITY_CAPTION = (
    "Spearman's rank correlation between two maps of the same test image (lesion images; a flat map has "
    "no ranks and is left out): across seeds of one model (repeatability, averaged over pairs of seeds), "
    "and across two models trained with the same seed (reproducibility, averaged over seeds); mean over "
    "images [95% t interval over images]. 1: the same ranking of pixels, 0: unrelated."
)
IMAGES_CAPTION = (
    "Test images without a lesion (an empty or missing mask, e.g. normal images, or a lesion cut away by "
    "the crop) have no localisation scores and are left out of every number above."
)
