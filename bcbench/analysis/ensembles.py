"""Ensembles after the fact, from stored predictions only (no model is loaded or retrained).

An ensemble's prediction for an image is the plain mean of its members' stored softmax probabilities
(``prob_*``, before temperature scaling), its class the argmax (``bcbench.metrics.ensemble_probabilities``,
which refuses members whose rows name different images). Kinds:

- ``seeds``: each model's runs of different seeds (in cross-validation: per repeat, each seed's folds
  pooled, so every image is predicted by every seed's model of the fold that held it out);
- ``models``: the ensemble of all models, each model's seed ensemble weighing the same;
- on external sets, ``folds`` (cross-validation: the models of one seed and repeat, one per fold, each
  of which predicted the whole external set) and ``runs`` (every run of a model: its seeds, and in
  cross-validation its folds too).

Scored like a run: the test block's scores (``classification_metrics``) with the test block's interval,
the stratified bootstrap over test images (``bcbench.metrics.stratified``); beside them the mean and the
best single member (the best picked on the test set itself: an optimistic bar) and the paired difference
ensemble - member, whose interval resamples the same test images for the ensemble and its members.
External sets are scored over the classes they hold (``evaluate_external``), without intervals, as single
runs are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bcbench.analysis.pooled import Member, SeedUnit, aligned, by_model
from bcbench.metrics import (
    BOOTSTRAP_METHOD,
    classification_metrics,
    ensemble_probabilities,
    evaluate_external,
    resampled_scores,
)

ENSEMBLE_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "auroc_macro")
ALL_MODELS = "all models"
ENSEMBLE_METHOD = (
    "mean of the members' stored softmax probabilities (before temperature scaling), class = argmax; "
    f"intervals: {BOOTSTRAP_METHOD}, the same resamples for the ensemble and its members"
)


def ensemble_rows(units: Sequence[SeedUnit], n_boot: int = 2000) -> list[dict[str, Any]]:
    """Every ensemble of the sweep, scored, beside its members (see the module docstring)."""
    rows = []
    for repeat in dict.fromkeys(unit.repeat for unit in units):
        in_repeat = [unit for unit in units if unit.repeat == repeat]
        seed_ensembles = []
        for model, model_units in by_model(in_repeat).items():
            members = aligned([(unit.label, *unit.arrays("test")) for unit in model_units])
            if len(members) >= 2:
                rows.append(_test_row("seeds", model, repeat, members, model_units[0].classes, n_boot))
            if members:
                seed_ensembles.append((model, members))
        if len(seed_ensembles) >= 2:
            rows.append(_all_models_row(seed_ensembles, repeat, in_repeat[0].classes, n_boot))
    return rows + external_ensemble_rows(units)


def _test_row(
    kind: str, model: str, repeat: int | None, members: Sequence[Member], classes: list[str], n_boot: int
) -> dict[str, Any]:
    probs = [member[2] for member in members]
    mean = ensemble_probabilities(probs, [member[1].tolist() for member in members])
    row = _row_head(kind, "test", model, repeat, None, members)
    return {**row, **scored_beside_members(mean, probs, members[0][3], classes, n_boot)}


def _all_models_row(
    seed_ensembles: Sequence[tuple[str, list[Member]]], repeat: int | None, classes: list[str], n_boot: int
) -> dict[str, Any]:
    """Each model's seed ensemble weighs the same; its single runs are every member of every model."""
    index = seed_ensembles[0][1][0][1]
    usable = [(model, members) for model, members in seed_ensembles if np.array_equal(members[0][1], index)]
    per_model = [ensemble_probabilities([member[2] for member in members]) for _, members in usable]
    everyone = [member for _, members in usable for member in members]
    mean = ensemble_probabilities(per_model)
    row = _row_head("models", "test", ALL_MODELS, repeat, None, everyone)
    row["models"] = len(usable)
    labels = everyone[0][3]
    return {**row, **scored_beside_members(mean, [member[2] for member in everyone], labels, classes, n_boot)}


def _row_head(
    kind: str, set_name: str, model: str, repeat: int | None, seed: object, members: Sequence[Member]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "set": set_name,
        "model": model,
        "repeat": repeat,
        "seed": seed,
        "members": len(members),
        "member_labels": "; ".join(member[0] for member in members),
        "n": int(members[0][3].size),
    }


def scored_beside_members(
    ensemble: np.ndarray, members: Sequence[np.ndarray], labels: np.ndarray, classes: list[str], n_boot: int
) -> dict[str, Any]:
    """The ensemble's scores with bootstrap intervals, the mean and best member's, and the paired
    differences ensemble - mean member and ensemble - best member with intervals from the same resamples."""
    scores = classification_metrics(ensemble, labels, classes)
    resampled = resampled_scores(ensemble, labels, classes, n_boot)
    singles = [classification_metrics(member, labels, classes) for member in members]
    singles_resampled = [resampled_scores(member, labels, classes, n_boot) for member in members]
    out: dict[str, Any] = {}
    for metric in ENSEMBLE_METRICS:
        values = [single[metric] for single in singles]
        if scores[metric] is None or any(value is None for value in values):
            continue
        best = int(np.argmax(values))
        out[metric] = scores[metric]
        out[f"{metric}_low"], out[f"{metric}_high"] = _interval(resampled[metric])
        out[f"{metric}_single_mean"], out[f"{metric}_single_best"] = float(np.mean(values)), values[best]
        out[f"{metric}_vs_mean"] = scores[metric] - float(np.mean(values))
        out[f"{metric}_vs_best"] = scores[metric] - values[best]
        member_mean = np.mean([single[metric] for single in singles_resampled], axis=0)
        vs_mean = _interval(resampled[metric] - member_mean)
        vs_best = _interval(resampled[metric] - singles_resampled[best][metric])
        out[f"{metric}_vs_mean_low"], out[f"{metric}_vs_mean_high"] = vs_mean
        out[f"{metric}_vs_best_low"], out[f"{metric}_vs_best_high"] = vs_best
    return out


def _interval(values: np.ndarray | None, confidence: float = 0.95) -> tuple[float | None, float | None]:
    if values is None:
        return None, None
    alpha = 1 - confidence
    low, high = np.quantile(np.asarray(values, dtype=np.float64), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def external_ensemble_rows(units: Sequence[SeedUnit]) -> list[dict[str, Any]]:
    """On each external set: per model the ensemble of its runs; in cross-validation also the fold ensemble
    of each seed and repeat."""
    names = dict.fromkeys(
        name for unit in units for name in unit.set_names() if str(name).startswith("external:")
    )
    rows = []
    for set_name in names:
        for model, model_units in by_model(units).items():
            classes = model_units[0].classes
            cross_validation = any(unit.repeat is not None for unit in model_units)
            for unit in model_units if cross_validation else []:
                folds = aligned(run_members(unit, set_name))
                if len(folds) >= 2:
                    head = _row_head("folds", set_name, model, unit.repeat, unit.seed, folds)
                    rows.append({**head, **external_scores(folds, classes)})
            members = aligned([member for unit in model_units for member in run_members(unit, set_name)])
            if len(members) >= 2:
                head = _row_head(
                    "runs" if cross_validation else "seeds", set_name, model, None, None, members
                )
                rows.append({**head, **external_scores(members, classes)})
    return rows


def run_members(unit: SeedUnit, set_name: str) -> list[Member]:
    """Each run's own rows of ``set_name`` (an external set every run predicted whole), by image index."""
    members = []
    for record, frame in unit.runs:
        single = SeedUnit(unit.model, unit.seed, unit.repeat, unit.classes, [(record, frame)])
        where = f"{unit.label}, fold {record.fold}" if record.fold is not None else unit.label
        members.append((where, *single.arrays(set_name)))
    return members


def external_scores(members: Sequence[Member], classes: list[str]) -> dict[str, Any]:
    """The ensemble's scores over the classes the external set holds, beside its mean and best member."""
    probs = [member[2] for member in members]
    mean = ensemble_probabilities(probs, [member[1].tolist() for member in members])
    labels = members[0][3]
    scores = evaluate_external(mean, labels, classes).to_json()
    singles = [evaluate_external(member, labels, classes).to_json() for member in probs]
    out: dict[str, Any] = {}
    for metric in ENSEMBLE_METRICS:
        values = [single[metric] for single in singles]
        if scores[metric] is None or any(value is None for value in values):
            continue
        out[metric] = scores[metric]
        out[f"{metric}_single_mean"], out[f"{metric}_single_best"] = float(np.mean(values)), max(values)
        out[f"{metric}_vs_mean"] = scores[metric] - float(np.mean(values))
        out[f"{metric}_vs_best"] = scores[metric] - max(values)
    return out
