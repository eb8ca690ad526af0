"""The efficiency block of every training run's record (bcbench.efficiency does the measuring)."""

from __future__ import annotations

from typing import Any

import torch

from bcbench.config import Config
from bcbench.data import DataBundle, Normalizer
from bcbench.efficiency import count_flops, end_to_end_throughput, measure_efficiency


class RunEfficiency:
    """Measure a trained model's cost; FLOPs are counted once per (model, image size)."""

    def __init__(self, config: Config, device: torch.device) -> None:
        self.config = config
        self.device = device
        self._flops: dict[tuple[str, int], dict[str, int]] = {}

    def __call__(
        self, model: torch.nn.Module, planned: Any, outcome: Any, data: DataBundle
    ) -> dict[str, Any]:
        settings = planned.config.efficiency
        if not settings.enabled:
            return {}
        image_size = planned.config.data.image_size
        result = measure_efficiency(
            model,
            image_size=image_size,
            device=self.device,
            precision=planned.spec.train.mixed_precision or "no",
            batch_sizes=settings.batch_sizes,
            warmup=settings.warmup,
            iterations=settings.iterations,
            flops=False,
            channels_last=planned.spec.train.channels_last,
        )
        if settings.flops:
            result.update(self._count_flops(planned.spec.model, model, image_size))
        end_to_end = self._end_to_end(model, planned, data)
        result["end_to_end_infer_throughput"] = end_to_end["images_per_s"]
        result["end_to_end_batch_size"] = end_to_end["batch_size"]
        return result

    def _end_to_end(self, model: torch.nn.Module, planned: Any, data: DataBundle) -> dict[str, Any]:
        """Inference images/s through bcbench's own path: resident uint8 test images, batch gather,
        normalisation, forward (compute-only ``infer_throughput`` starts from ready float input)."""
        settings = planned.config.efficiency
        images, labels = (t.to(self.device) for t in data.tensors("test"))
        batch_size = min(max(settings.batch_sizes), len(labels))
        normalize = Normalizer(planned.config.data.normalize, self.device, planned.spec.train.channels_last)

        def batches() -> Any:
            for step in range(settings.warmup + settings.iterations):
                index = torch.arange(step * batch_size, (step + 1) * batch_size, device=self.device) % len(
                    labels
                )
                yield images.index_select(0, index), labels.index_select(0, index)

        precision = planned.spec.train.mixed_precision or "no"
        warmup = max(settings.warmup, 1)
        measured = end_to_end_throughput(
            model, batches(), normalize, self.device, precision, warmup_batches=warmup
        )
        return {**measured, "batch_size": batch_size}

    def _count_flops(self, name: str, model: torch.nn.Module, image_size: int) -> dict[str, int]:
        key = (name, image_size)
        if key not in self._flops:
            self._flops[key] = count_flops(model, image_size)
        return self._flops[key]
