"""How closely a form reproduces eager: max |logit difference|, max |probability difference|, top-1 agreement.

The logit difference is the figure held to a tolerance (1e-4 for ONNX fp32): logits are what the
networks compute, and softmax can hide a large logit error in a saturated row. Since each softmax
output moves by at most half the largest logit change (the softmax Jacobian's rows have absolute
sums 2 p (1 - p) <= 1/2), the probability difference, which is what the metrics see, is bounded by
half the logit difference and is recorded beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcbench.deploy.forms import softmax
from bcbench.serial import JsonBlock


@dataclass
class ParityBlock(JsonBlock):
    """A form against eager on the same images: largest absolute differences and top-1 agreement."""

    images: int = 0
    max_abs_logit_diff: float | None = None
    max_abs_probability_diff: float | None = None
    top1_agreement: float | None = None
    reference_max_abs_logit: float | None = None  # eager's scale: what the logit difference is relative to
    extra: dict[str, Any] = field(default_factory=dict)


def parity(reference_logits: np.ndarray, form_logits: np.ndarray) -> ParityBlock:
    """Parity of ``form_logits`` with ``reference_logits`` (both [N, classes], same image order)."""
    reference = np.asarray(reference_logits, dtype=np.float64)
    other = np.asarray(form_logits, dtype=np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"logits of shape {other.shape} cannot be compared with eager's {reference.shape}")
    if reference.shape[0] == 0:
        return ParityBlock(images=0)
    return ParityBlock(
        images=int(reference.shape[0]),
        max_abs_logit_diff=float(np.max(np.abs(other - reference))),
        max_abs_probability_diff=float(np.max(np.abs(softmax(other) - softmax(reference)))),
        top1_agreement=float(np.mean(other.argmax(axis=1) == reference.argmax(axis=1))),
        reference_max_abs_logit=float(np.max(np.abs(reference))),
    )
