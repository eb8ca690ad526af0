"""How one run uses the launched processes: alone (grid, or one process) or all together (ddp)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ProcessShare:
    """How one run uses the launched processes: alone (grid, or a single process) or all together (ddp).

    With ddp every process holds the whole (small) split, takes an equal contiguous share of each
    epoch's shuffled order (at most world-1 images per epoch are left out so that every process
    runs the same number of steps), and gradients are averaged by DistributedDataParallel.
    Evaluation goes through a prepared DataLoader of indices and ``gather_for_metrics``, so every
    test image is counted exactly once, with no padded duplicates.
    """

    def __init__(self, accelerator: Any, together: bool) -> None:
        self.accelerator = accelerator
        self.together = together and accelerator.num_processes > 1
        self.rank = accelerator.process_index if self.together else 0
        self.world = accelerator.num_processes if self.together else 1

    def wrap(self, model: nn.Module) -> nn.Module:
        return self.accelerator.prepare_model(model) if self.together else model

    def unwrap(self, model: nn.Module) -> nn.Module:
        return self.accelerator.unwrap_model(model) if self.together else model

    def my_share(self, order: torch.Tensor) -> torch.Tensor:
        if not self.together:
            return order
        per_process = len(order) // self.world
        return order[self.rank * per_process : (self.rank + 1) * per_process]

    def total(self, value: torch.Tensor) -> torch.Tensor:
        return self.accelerator.reduce(value, reduction="sum") if self.together else value

    def index_batches(self, n: int, batch_size: int, device: torch.device) -> Any:
        if not self.together:
            return (
                torch.arange(start, min(start + batch_size, n), device=device)
                for start in range(0, n, batch_size)
            )
        from torch.utils.data import DataLoader

        loader = DataLoader(range(n), batch_size=batch_size, shuffle=False)
        return (batch.to(device) for batch in self.accelerator.prepare_data_loader(loader))

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        return self.accelerator.gather_for_metrics(values) if self.together else values
