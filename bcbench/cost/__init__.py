"""What a model costs: parameters, FLOPs and size (``static``), one clock (``timing``), latency and
throughput (``throughput``), memory and energy (``memory``), all of it at once (``measure``), the
record's ``cost`` block (``block``) and its meter (``meter``), and several models side by side (``table``)."""

from bcbench.cost.block import CostBlock
from bcbench.cost.measure import measure_cost
from bcbench.cost.meter import CostMeter, CostRequest
from bcbench.cost.static import count_flops, count_parameters, model_size_mb
from bcbench.cost.throughput import end_to_end_throughput, measure_latency, measure_throughput
from bcbench.cost.timing import Workload

__all__ = [
    "CostBlock",
    "CostMeter",
    "CostRequest",
    "Workload",
    "count_flops",
    "count_parameters",
    "end_to_end_throughput",
    "measure_cost",
    "measure_latency",
    "measure_throughput",
    "model_size_mb",
]
