"""Static costs of a model: parameters, size in MiB, FLOPs (2 per multiply-add) and MACs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from bcbench.device import Precision, check_precision

MIB = 2**20


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; shared parameters are counted once."""
    parameters = list(model.parameters())
    total = sum(p.numel() for p in parameters)
    trainable = sum(p.numel() for p in parameters if p.requires_grad)
    return total, trainable


def model_size_mb(model: nn.Module, precision: Precision = "no") -> float:
    """Bytes of parameters + buffers in MiB (2**20), floating tensors at ``precision``.

    With "fp16"/"bf16" floating tensors count 2 bytes per element (the deployed size at that
    precision); integer buffers (e.g. BatchNorm's ``num_batches_tracked``) keep their own size.
    """
    check_precision(precision)
    tensors = [*model.parameters(), *model.buffers()]
    total_bytes = sum(t.numel() * _element_bytes(t, precision) for t in tensors)
    return total_bytes / MIB


def _element_bytes(tensor: torch.Tensor, precision: Precision) -> int:
    if precision != "no" and tensor.is_floating_point():
        return 2
    return tensor.element_size()


def count_flops(model: nn.Module, image_size: int, channels: int = 3) -> dict[str, int]:
    """Forward FLOPs and MACs for one image (batch of 1) with ``FlopCounterMode``.

    Runs one forward pass without gradients, in eval mode, on the device the model is on
    (a fraction of a second on CPU even for ResNet-101 at 224 px); the training mode is restored.
    A model built under ``torch.device("meta")`` is counted from shapes alone, without weights.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = uncompiled(model)
    inputs = torch.zeros(
        1, channels, image_size, image_size, device=model_device(model), dtype=model_dtype(model)
    )
    with eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(inputs)
    flops = int(counter.get_total_flops())
    return {"flops": flops, "macs": flops // 2}


def uncompiled(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)


def model_device(model: nn.Module) -> torch.device:
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's 4-D weights are already stored channels-last."""
    return any(
        p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
        for p in model.parameters()
    )


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
