"""``CostMeter``: measures a trained model's cost block after each run, on the run's device and precision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bcbench.config import CostConfig, DataConfig
from bcbench.cost.block import CostBlock
from bcbench.cost.measure import measure_cost
from bcbench.cost.static import count_flops
from bcbench.cost.throughput import end_to_end_throughput
from bcbench.data import DataBundle, Normalizer


@dataclass(frozen=True)
class CostRequest:
    """What to measure for one run: the model's name, the cost settings, and how it ran."""

    name: str
    settings: CostConfig
    data_config: DataConfig
    precision: str = "no"
    channels_last: bool = False


class CostMeter:
    """Measure a trained model's cost on its run's device; FLOPs are counted once per (model, image size)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._flops: dict[tuple[str, int], dict[str, int]] = {}

    def measure(self, model: torch.nn.Module, request: CostRequest, data: DataBundle) -> CostBlock:
        """The cost block of ``model`` (empty when ``cost.enabled`` is off)."""
        settings = request.settings
        if not settings.enabled:
            return CostBlock()
        image_size = request.data_config.image_size
        result = measure_cost(
            model,
            image_size=image_size,
            device=self.device,
            precision=request.precision,
            batch_sizes=settings.batch_sizes,
            warmup=settings.warmup,
            iterations=settings.iterations,
            flops=False,
            channels_last=request.channels_last,
        )
        if settings.flops:
            counted = self._count_flops(request.name, model, image_size)
            result.flops, result.macs = counted["flops"], counted["macs"]
        end_to_end = self._end_to_end(model, request, data)
        result.end_to_end_infer_throughput = end_to_end["images_per_s"]
        result.end_to_end_batch_size = end_to_end["batch_size"]
        return result

    def _end_to_end(self, model: torch.nn.Module, request: CostRequest, data: DataBundle) -> dict[str, Any]:
        """Inference images/s through bcbench's own path: resident uint8 test images, batch gather,
        normalisation, forward (compute-only ``infer_throughput`` starts from ready float input)."""
        settings = request.settings
        images, labels = (t.to(self.device) for t in data.tensors("test"))
        batch_size = min(max(settings.batch_sizes), len(labels))
        normalize = Normalizer.for_data(request.data_config, self.device, request.channels_last)

        def batches() -> Any:
            for step in range(settings.warmup + settings.iterations):
                index = torch.arange(step * batch_size, (step + 1) * batch_size, device=self.device)
                index = index % len(labels)
                yield images.index_select(0, index), labels.index_select(0, index)

        warmup = max(settings.warmup, 1)
        measured = end_to_end_throughput(
            model, batches(), normalize, self.device, request.precision, warmup_batches=warmup
        )
        return {**measured, "batch_size": batch_size}

    def _count_flops(self, name: str, model: torch.nn.Module, image_size: int) -> dict[str, int]:
        key = (name, image_size)
        if key not in self._flops:
            self._flops[key] = count_flops(model, image_size)
        return self._flops[key]
