"""The run record's ``deploy`` block: every deployed form of the run's best weights (``FormResult``: how it
was made, parity with eager, timings, size, and its scores on the test and external sets), with what the
step as a whole did: the thread counts timed, the seed that chose the INT8 calibration images, the
seconds it took, and a note when it could not run its forms here (a missing package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcbench.deploy.result import FormResult
from bcbench.serial import JsonBlock

FORM_SET_PREFIX = "form:"


def form_set(form: str, external: str | None = None) -> str:
    """The ``set`` of a form's stored prediction rows: ``form:<form>``, or ``form:<form>:external:<name>``."""
    return f"{FORM_SET_PREFIX}{form}" + (f":external:{external}" if external is not None else "")


@dataclass
class DeployBlock(JsonBlock):
    """``forms``: eager first (the fp32 reference of every parity block), then the forms asked for, in
    order. ``seconds``: the whole step (exports, quantisation, compilation, predictions, timings, scores).
    ``files``: the folder of the kept ONNX files, relative to the sweep folder (None: not kept)."""

    forms: dict[str, FormResult] = field(default_factory=dict)
    threads: list[int] = field(default_factory=list)
    calibration_seed: int | None = None
    seconds: float | None = None
    note: str | None = None
    files: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def ok_forms(self) -> dict[str, FormResult]:
        return {name: result for name, result in self.forms.items() if result.ok}
