"""bcbench: honest, seed-swept benchmarks of image classifiers (accuracy against cost).

The public API, imported on first use (``import bcbench`` alone stays cheap)::

    import bcbench

    config = bcbench.load_config("configs/default.yaml", ["seeds=[0,1]"])
    data = bcbench.build_data(config)                       # decoded once, split, audited
    model = bcbench.build_model("resnet18", len(data.classes), image_size=config.data.image_size)
    cost = bcbench.measure_cost(model, image_size=64, device="cpu")  # a CostBlock: params, FLOPs, ...
    result = bcbench.run_sweep(config)                      # trains, records, writes the report
    analysis = bcbench.analyse(result.records, result.directory)  # every number of the report
    bcbench.write_report(result.directory)                  # rebuild every table and figure
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

_PUBLIC = {
    "load_config": "bcbench.config",
    "build_data": "bcbench.data",
    "build_model": "bcbench.models",
    "measure_cost": "bcbench.cost",
    "run_sweep": "bcbench.sweep",
    "write_report": "bcbench.report",
    "load_sweep": "bcbench.analysis",
    "analyse": "bcbench.analysis",
    "RunRecord": "bcbench.record",
    "SweepResult": "bcbench.sweep",
}
__all__ = [
    "RunRecord",
    "SweepResult",
    "analyse",
    "__version__",
    "build_data",
    "build_model",
    "load_config",
    "load_sweep",
    "measure_cost",
    "run_sweep",
    "write_report",
]

if TYPE_CHECKING:
    from bcbench.analysis import analyse, load_sweep
    from bcbench.config import load_config
    from bcbench.cost import measure_cost
    from bcbench.data import build_data
    from bcbench.models import build_model
    from bcbench.record import RunRecord
    from bcbench.report import write_report
    from bcbench.sweep import SweepResult, run_sweep


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'bcbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
