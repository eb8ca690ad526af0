"""Checking that every test metric of a run can be recomputed from its stored predictions: the record's
``test`` block is rebuilt by the same builder the run used (``bcbench.metrics.evaluate``) and compared, and
so is every deployed form's (rows ``form:<form>``, scored against the same validation rows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bcbench.deploy import form_set
from bcbench.metrics import evaluate
from bcbench.record import RunRecord, probabilities, read_predictions

RELATIVE_TOLERANCE = 1e-9  # records written by an earlier bcbench may differ in the last bits


def recompute_test_block(directory: Path, record: RunRecord) -> dict[str, Any] | None:
    """The run's test block rebuilt from its stored validation and test rows (None without stored
    predictions)."""
    frame = read_predictions(directory, record)
    if frame is None:
        return None
    return recompute_block(frame, record.classes, "test")


def recompute_block(frame: pd.DataFrame, classes: list[str], set_name: str) -> dict[str, Any]:
    """The test block of the rows of ``set_name``, calibrated on the validation rows."""
    test = probabilities(frame[frame["set"] == set_name], classes)
    val = probabilities(frame[frame["set"] == "val"], classes)
    return evaluate(*test, *val, classes).to_json()


def differing_keys(recomputed: dict[str, Any], record: RunRecord) -> list[str]:
    """The test keys whose recomputed value differs from the recorded one beyond ``RELATIVE_TOLERANCE``
    (empty: all agree). Only numbers both hold are compared: a record of an older bcbench may lack a
    score added since, or hold one under its former name."""
    return _differing(recomputed, record.test.to_json() if record.test is not None else {})


def _differing(recomputed: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    return [key for key, value in recomputed.items() if key in recorded and not _agree(recorded[key], value)]


def differing_form_keys(frame: pd.DataFrame, record: RunRecord) -> list[str]:
    """``deploy.<form>.<key>`` for each scored form's test key that its stored rows do not reproduce, and
    ``deploy.<form>`` for a scored form without stored rows."""
    forms = record.deploy.forms if record.deploy is not None else {}
    keys = []
    for form, result in forms.items():
        if not result.ok or result.test is None:
            continue
        if not (frame["set"] == form_set(form)).any():
            keys.append(f"deploy.{form}")
            continue
        recomputed = recompute_block(frame, record.classes, form_set(form))
        keys += [f"deploy.{form}.{key}" for key in _differing(recomputed, result.test.to_json())]
    return keys


def _agree(recorded: Any, recomputed: Any) -> bool:
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        keys = set(recorded) & set(recomputed)
        return all(_agree(recorded[key], recomputed[key]) for key in keys)
    if isinstance(recorded, list) and isinstance(recomputed, list):
        return len(recorded) == len(recomputed) and all(map(_agree, recorded, recomputed))
    numbers = (int, float)
    if isinstance(recorded, numbers) and isinstance(recomputed, numbers) and not isinstance(recorded, bool):
        return math.isclose(recorded, recomputed, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    return recorded == recomputed


def check_stored_predictions(records: Sequence[RunRecord], directory: Path | None) -> dict[str, list[str]]:
    """{run_id: the test keys whose recomputed value differs} for runs with stored predictions (deployed
    forms' as ``deploy.<form>.<key>``); an empty list means every test metric was recomputed."""
    if directory is None:
        return {}
    checked = {}
    for record in records:
        frame = read_predictions(directory, record)
        if frame is not None:
            recomputed = recompute_block(frame, record.classes, "test")
            checked[record.run_id] = differing_keys(recomputed, record) + differing_form_keys(frame, record)
    return checked
