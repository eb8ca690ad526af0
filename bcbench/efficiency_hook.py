"""The efficiency block of every training run's record (bcbench.efficiency does the measuring)."""

from __future__ import annotations

from typing import Any

import torch

from bcbench.config import Config
from bcbench.efficiency import count_flops, measure_efficiency


class RunEfficiency:
    """Measure a trained model's cost; FLOPs are counted once per (model, image size)."""

    def __init__(self, config: Config, device: torch.device) -> None:
        self.config = config
        self.device = device
        self._flops: dict[tuple[str, int], dict[str, int]] = {}

    def __call__(self, model: torch.nn.Module, planned: Any, outcome: Any) -> dict[str, Any]:
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
        return result

    def _count_flops(self, name: str, model: torch.nn.Module, image_size: int) -> dict[str, int]:
        key = (name, image_size)
        if key not in self._flops:
            self._flops[key] = count_flops(model, image_size)
        return self._flops[key]
