"""After training, the run's best weights in every form of the config's ``deploy`` block (``bcbench.deploy``):
each form is checked for parity with eager, predicts the test set and every external set, is scored by
the same builders as the run itself (``bcbench.metrics``) and timed. Its predictions are stored as rows
``form:<form>`` and ``form:<form>:external:<name>`` beside the run's own, so ``bcbench compare``
recomputes every form's scores, and the record's ``deploy`` block holds the rest.

INT8 is calibrated on ``deploy.calibration_images`` training images, drawn without replacement by a
generator seeded with the run's seed; the validation and test indices are passed along as held out, and
``bcbench.deploy`` refuses any overlap, so calibration never sees an image that scores or picks the model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from bcbench.config import Config
from bcbench.data import DataBundle, ExternalSet
from bcbench.deploy import (
    ONNX_FORMS,
    DeployBlock,
    DeployError,
    DeploySettings,
    FormOutcome,
    FormResult,
    evaluate_forms,
    form_set,
    import_optional,
)
from bcbench.errors import ConfigError
from bcbench.metrics import evaluate, evaluate_external
from bcbench.record import prediction_rows, with_calibrated
from bcbench.sweep.plan import PlannedRun
from bcbench.train import RunOutcome, RunSpec

DEPLOY_DIR = "deploy"
MISSING_RUNTIME = "onnxruntime not installed: deploy forms skipped"


def deploy_enabled(config: Config) -> bool:
    return bool(config.deploy.forms)


def check_deploy(config: Config) -> None:
    """Before training: the deployed forms are fed as training fed the model (ImageNet statistics or none)."""
    if deploy_enabled(config) and config.data.normalize == "given":
        raise ConfigError(
            "config key 'deploy.forms' needs data.normalize imagenet or none (the deployed forms normalise "
            "their input with bcbench's built-in statistics); leave deploy.forms empty with normalize: given"
        )


def deploy_note(config: Config) -> str | None:
    """The one line a sweep prints when its ONNX forms cannot run here (None when they can, or none asked)."""
    if not any(form in ONNX_FORMS for form in config.deploy.forms):
        return None
    try:
        import_optional("onnxruntime", "onnx")
    except DeployError:
        return f"{MISSING_RUNTIME} (pip install 'bcbench[deploy]'); the run itself is recorded as usual"
    return None


def deploy_settings(config: Config) -> DeploySettings:
    """The config's ``deploy`` block as ``bcbench.deploy`` settings, with the run's normalisation and
    evaluation batch."""
    block = config.deploy
    return DeploySettings(
        forms=tuple(block.forms), threads=tuple(block.threads), batch_size=block.batch_size,
        iterations=block.iterations, repeats=block.repeats, exporter=block.exporter,
        eval_batch_size=config.train.eval_batch_size, normalize=config.data.normalize,
    ).checked()  # fmt: skip


def choose_calibration(data: DataBundle, count: int, seed: int) -> np.ndarray:
    """``count`` training indices (all of them when there are fewer), drawn without replacement by a
    generator seeded with ``seed``, sorted."""
    train = data.indices("train")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(train, size=min(count, len(train)), replace=False))


def held_out(data: DataBundle) -> np.ndarray:
    """The validation and test indices: the images calibration must never see."""
    return np.concatenate([data.indices(split) for split in ("val", "test") if split in data.splits])


def images_at(pixels: Any, indices: np.ndarray) -> torch.Tensor:
    """uint8 images at dataset ``indices`` (resident on any device, or decoded from a stream)."""
    index = torch.from_numpy(np.asarray(indices, dtype=np.int64))
    return pixels.index_select(0, index.to(pixels.device) if hasattr(pixels, "device") else index)


def deployed_forms(
    outcome: RunOutcome,
    planned: PlannedRun,
    data: DataBundle,
    externals: dict[str, ExternalSet],
    temperature: float = 1.0,
    directory: Path | None = None,
) -> tuple[list[pd.DataFrame], DeployBlock]:
    """The prediction rows of every form that ran (``cal_prob_*`` at the run's ``temperature``) and the
    record's ``deploy`` block; a failure of the whole step (eager itself) is the block's note, and the run
    stays ok. ONNX files go to ``<directory>/deploy/<run_id>/`` with ``deploy.keep_files``,
    else to a temporary folder that is removed."""
    config, spec = planned.config, planned.spec
    started = time.perf_counter()
    settings = deploy_settings(config)
    block = DeployBlock(threads=list(settings.threads), calibration_seed=spec.seed)
    outcomes = _all_skipped(config)
    if outcomes is not None:
        block.note = MISSING_RUNTIME
    else:
        workdir = None
        if config.deploy.keep_files and directory is not None:
            block.files = f"{DEPLOY_DIR}/{planned.run_id}"
            workdir = directory / block.files
        try:
            outcomes = _run_forms(outcome, settings, config, data, externals, spec.seed, workdir)
        except Exception as error:  # eager itself failed (out of memory, ...): the run's own results stand
            block.note = f"deploy step failed: {type(error).__name__}: {error}".splitlines()[0]
            outcomes = {}
    frames = _score_forms(outcomes, outcome, data, externals, spec, temperature)
    block.forms = {name: form.result for name, form in outcomes.items()}
    block.seconds = time.perf_counter() - started
    return frames, block


def _all_skipped(config: Config) -> dict[str, FormOutcome] | None:
    """Every form failed with the reason, without building eager, when each form asked needs onnxruntime
    and it is missing here (nothing would be measured but eager)."""
    if not all(form in ONNX_FORMS for form in config.deploy.forms) or deploy_note(config) is None:
        return None
    reason = f"{MISSING_RUNTIME} (pip install 'bcbench[deploy]')"
    return {
        form: FormOutcome(FormResult(form=form).fail(reason)) for form in dict.fromkeys(config.deploy.forms)
    }


def _run_forms(
    outcome: RunOutcome, settings: DeploySettings, config: Config, data: DataBundle,
    externals: dict[str, ExternalSet], seed: int, workdir: Path | None,
) -> dict[str, FormOutcome]:  # fmt: skip
    images: dict[str, Any] = {"test": data.tensors("test")[0]}
    images |= {f"external:{name}": ext.decoded.pixels for name, ext in externals.items()}
    chosen = choose_calibration(data, config.deploy.calibration_images, seed)
    calibration = images_at(data.decoded.pixels, chosen)
    return evaluate_forms(
        outcome.model, settings, images, calibration, chosen, held_out_indices=held_out(data), workdir=workdir
    )


def _score_forms(
    outcomes: dict[str, FormOutcome], outcome: RunOutcome, data: DataBundle,
    externals: dict[str, ExternalSet], spec: RunSpec, temperature: float,
) -> list[pd.DataFrame]:  # fmt: skip
    """Each ok form's scores (its result's ``test`` and ``external``) and its prediction rows."""
    test_labels = outcome.test_targets.cpu().numpy()
    where = {"repeat": spec.repeat, "fold": spec.fold}
    frames = []
    for name, form in outcomes.items():
        result, probabilities = form.result, form.probabilities
        if not result.ok or "test" not in probabilities:
            continue
        test = probabilities["test"]
        result.test = evaluate(test, test_labels, outcome.val_probs, outcome.val_targets, data.classes)
        rows = prediction_rows(
            form_set(name), data.relpaths("test"), data.indices("test"), test_labels, test, data.classes,
            split="test", **where,
        )  # fmt: skip
        frames.append(with_calibrated(rows, data.classes, temperature))
        for ext_name, ext in externals.items():
            probs, labels = probabilities[f"external:{ext_name}"], ext.decoded.labels.numpy()
            result.external[ext_name] = evaluate_external(probs, labels, ext.decoded.classes)
            rows = prediction_rows(
                form_set(name, ext_name), ext.decoded.relpaths, np.arange(len(ext)), labels, probs,
                ext.decoded.classes, split=f"external:{ext_name}",
            )  # fmt: skip
            frames.append(with_calibrated(rows, data.classes, temperature))
    return frames
