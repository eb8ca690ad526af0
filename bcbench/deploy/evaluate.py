"""Every requested form of one trained model, side by side: built, checked for parity with eager,
used to predict every scored image set, and timed, with a form that fails recorded as failed (its
one-line reason kept) while the others go on.

Eager fp32 is always first: its logits are the reference of every parity block. Timings alternate
between forms (for each thread count, each form in turn), so slow drifts of a shared machine do not
all land on one form.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bcbench.cost import model_device, prepared_for_inference
from bcbench.deploy.build import OnnxFiles, build_form
from bcbench.deploy.export import one_line_reason
from bcbench.deploy.forms import Form, softmax
from bcbench.deploy.parity import parity
from bcbench.deploy.quantize import check_calibration
from bcbench.deploy.result import FormOutcome, FormResult
from bcbench.deploy.settings import EAGER, DeployError, DeploySettings
from bcbench.deploy.timing import time_form
from bcbench.device import resolve_device
from bcbench.errors import BcbenchError


def evaluate_forms(
    model: nn.Module,
    settings: DeploySettings,
    images: Mapping[str, Any],
    calibration_images: torch.Tensor | None = None,
    calibration_indices: Sequence[int] | np.ndarray | None = None,
    *,
    held_out_indices: Sequence[int] | np.ndarray | None = None,
    workdir: str | Path | None = None,
) -> dict[str, FormOutcome]:
    """``{form: FormOutcome}`` for ``eager`` and each of ``settings.forms``, in that order.

    ``images`` maps a set name (``test``, an external set) to uint8 images [N, 3, S, S] (tensors or
    streamed); every form predicts every set and its parity with eager is recorded per set.
    ``calibration_images`` (uint8, training images only) with their dataset ``calibration_indices``
    calibrate INT8; ``held_out_indices`` (validation and test) must not overlap them (BcbenchError).
    ONNX files are written into ``workdir`` and kept, or into a temporary folder that is removed.
    The model is run in eval mode on ``settings.device`` (default: its own) and put back as it was.
    """
    settings = settings.checked()
    image_size = check_image_sets(images)
    chosen = check_calibration(calibration_images, calibration_indices, held_out_indices)
    device = resolve_device(settings.device) if settings.device else model_device(model)
    outcomes: dict[str, FormOutcome] = {}
    forms: dict[str, Form] = {}
    with prepared_for_inference(model, device, channels_last=False), _folder(workdir) as folder:
        files = OnnxFiles(model, image_size, settings, folder, (calibration_images, chosen))
        reference: dict[str, np.ndarray] = {}
        try:
            for name in settings.requested_forms():
                outcomes[name], form = _score_form(name, model, files, images, reference)
                if form is not None:
                    forms[name] = form
            if settings.timing:
                _time_forms(forms, outcomes, image_size, settings)
        finally:
            for form in forms.values():
                form.close()
    return outcomes


def check_image_sets(images: Mapping[str, Any]) -> int:
    """The common image size of the scored sets; BcbenchError for anything but uint8 [N, 3, S, S]."""
    if not images:
        raise BcbenchError("evaluate_forms needs at least one image set to score, e.g. {'test': images}")
    sizes = set()
    for name, batch in images.items():
        shape = tuple(batch.shape)
        dtype = getattr(batch, "dtype", torch.uint8)
        if len(shape) != 4 or shape[1] != 3 or shape[2] != shape[3] or dtype != torch.uint8:
            raise BcbenchError(
                f"image set {name!r} must be uint8 [N, 3, S, S] images, got {dtype} {list(shape)}"
            )
        sizes.add(shape[2])
    if len(sizes) > 1:
        raise BcbenchError(f"the scored image sets have different sizes {sorted(sizes)}; use one image size")
    return sizes.pop()


def _score_form(
    name: str, model: nn.Module, files: OnnxFiles, images: Mapping[str, Any], reference: dict[str, np.ndarray]
) -> tuple[FormOutcome, Form | None]:
    """Build ``name`` and predict every set; eager's logits become ``reference``. Eager failing is the
    model failing, and raises; any other form's failure is recorded on its result."""
    result = FormResult(form=name)
    form = None
    probabilities: dict[str, np.ndarray] = {}
    try:
        form = build_form(name, model, files, result)
        for set_name, batch in images.items():
            logits = form.logits(batch)
            if name == EAGER:
                reference[set_name] = logits
            result.parity[set_name] = parity(reference[set_name], logits)
            probabilities[set_name] = softmax(logits)
    except Exception as error:
        if name == EAGER:
            raise
        if form is not None:
            form.close()
        return FormOutcome(result.fail(failure_reason(name, error))), None
    return FormOutcome(result, probabilities), form


def _time_forms(
    forms: dict[str, Form], outcomes: dict[str, FormOutcome], image_size: int, settings: DeploySettings
) -> None:
    for round_index in range(settings.repeats):
        for threads in settings.threads:
            for name, form in forms.items():
                result = outcomes[name].result
                if not result.ok:
                    continue
                try:
                    timing = time_form(form, image_size, threads, settings)
                except Exception as error:  # a form that cannot be timed fails alone
                    if name == EAGER:
                        raise
                    result.fail(f"timing failed: {failure_reason(name, error)}")
                    continue
                timing.round = round_index
                result.timing.append(timing)


def failure_reason(name: str, error: BaseException) -> str:
    """The one line recorded for a failed form."""
    if isinstance(error, DeployError):
        return str(error)
    return f"{name}: {one_line_reason(error)}"


@contextlib.contextmanager
def _folder(workdir: str | Path | None) -> Iterator[Path]:
    if workdir is not None:
        folder = Path(workdir)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="bcbench-deploy-") as temporary:
        yield Path(temporary)
