"""The optional packages behind the ONNX forms (onnx, onnxruntime, onnxscript), imported only when asked.

The GPU machines and minimal installs do not have them, and the rest of bcbench must run there: a
missing package turns into a ``DeployError`` whose one line becomes the form's failure reason.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from bcbench.deploy.settings import DeployError

INSTALL_HINT = "pip install 'bcbench[deploy]'"


def import_optional(*names: str) -> tuple[ModuleType, ...]:
    """The modules ``names``, or DeployError listing every one that is missing."""
    modules, missing = [], []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise DeployError(f"{', '.join(missing)} not installed: deploy forms skipped ({INSTALL_HINT})")
    return tuple(modules)


def onnx_runtime() -> ModuleType:
    """``onnxruntime`` (with ``onnx``, which reading and quantising the files needs)."""
    return import_optional("onnxruntime", "onnx")[0]


def exporter_packages(exporter: str) -> None:
    """Fail early when the exporter's packages are missing (the dynamo exporter writes through onnxscript)."""
    import_optional("onnx", "onnxruntime", *(("onnxscript",) if exporter == "dynamo" else ()))
