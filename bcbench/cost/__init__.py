"""What a model costs: parameters, FLOPs and size (``static``), one clock (``timing``), latency and
throughput (``throughput``), memory and energy (``memory``), all of it at once (``measure``), the
record's ``cost`` block (``block``) and its meter (``meter``), and several models side by side (``table``)."""

from bcbench.cost.block import CostBlock
from bcbench.cost.measure import measure_cost
from bcbench.cost.meter import CostMeter, CostRequest
from bcbench.cost.static import (
    MIB,
    count_flops,
    count_parameters,
    eval_mode,
    model_device,
    model_size_mb,
    uncompiled,
)
from bcbench.cost.throughput import end_to_end_throughput, measure_latency, measure_throughput
from bcbench.cost.timing import (
    COMPILE_BACKEND_VARIABLE,
    Workload,
    inference_step,
    prepared_for_inference,
    summary_ms,
    time_steps,
    warm_up,
    with_oom_backoff,
)

__all__ = [
    "COMPILE_BACKEND_VARIABLE",
    "MIB",
    "CostBlock",
    "CostMeter",
    "CostRequest",
    "Workload",
    "count_flops",
    "count_parameters",
    "end_to_end_throughput",
    "eval_mode",
    "inference_step",
    "measure_cost",
    "measure_latency",
    "measure_throughput",
    "model_device",
    "model_size_mb",
    "prepared_for_inference",
    "summary_ms",
    "time_steps",
    "uncompiled",
    "warm_up",
    "with_oom_backoff",
]
