"""The trade-off as deployed: a trained model's ONNX Runtime (fp32, INT8), compiled and autocast forms,
each checked for parity with eager, used to predict the scored images, and timed side by side.

``settings`` (what to do), ``optional`` (onnx / onnxruntime / onnxscript, imported only when a form
needs them, so this package imports without them), ``export`` (``torch.onnx.export``), ``quantize``
(static INT8, calibrated on the caller's training images), ``forms`` (one interface per form),
``build`` (forms by name), ``parity``, ``timing`` (bcbench's timer rules), ``result`` (the JSON
blocks), ``block`` (the run record's ``deploy`` block) and ``evaluate`` (``evaluate_forms``, the one
call a sweep makes).
"""

from bcbench.deploy.block import FORM_SET_PREFIX, DeployBlock, form_set
from bcbench.deploy.evaluate import evaluate_forms
from bcbench.deploy.export import ExportedModel, export_onnx
from bcbench.deploy.forms import Form
from bcbench.deploy.optional import import_optional
from bcbench.deploy.parity import ParityBlock, parity
from bcbench.deploy.quantize import QuantizedModel, check_calibration, has_vnni, quantize_int8
from bcbench.deploy.result import FormOutcome, FormResult, FormTiming
from bcbench.deploy.settings import FORMS, ONNX_FORMS, DeployError, DeploySettings
from bcbench.deploy.timing import time_form

__all__ = [
    "FORMS",
    "FORM_SET_PREFIX",
    "ONNX_FORMS",
    "DeployBlock",
    "DeployError",
    "DeploySettings",
    "ExportedModel",
    "Form",
    "FormOutcome",
    "FormResult",
    "FormTiming",
    "ParityBlock",
    "QuantizedModel",
    "check_calibration",
    "evaluate_forms",
    "export_onnx",
    "form_set",
    "has_vnni",
    "import_optional",
    "parity",
    "quantize_int8",
    "time_form",
]
