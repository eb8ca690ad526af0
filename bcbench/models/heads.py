"""Classifier heads: find the layer that produces the class scores and replace it for another class count."""

from __future__ import annotations

from torch import nn

from bcbench.errors import ModelError

IMAGENET_CLASSES = 1000


def find_head(model: nn.Module, num_outputs: int) -> tuple[str, nn.Module]:
    """The classifier: the last Linear (or 1x1 Conv2d, as in SqueezeNet) with ``num_outputs`` outputs."""
    head: tuple[str, nn.Module] | None = None
    for name, module in model.named_modules():
        if _output_count(module) == num_outputs:
            head = (name, module)
    if head is None:
        raise ModelError(
            f"cannot find a classifier layer with {num_outputs} outputs in {type(model).__name__}; "
            "use a model whose head is a Linear layer or build it with the wanted num_classes"
        )
    return head


def _output_count(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.groups == 1:
        return module.out_channels
    return None


def replace_head(model: nn.Module, num_classes: int, current_classes: int = IMAGENET_CLASSES) -> nn.Module:
    """Swap the classifier layer with ``current_classes`` outputs for a fresh one with ``num_classes``.

    The new layer keeps the old one's inputs, bias, device and dtype. Returns the same model.
    """
    if num_classes == current_classes:
        return model
    name, old_head = find_head(model, current_classes)
    parent_name, _, child_name = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child_name, _fresh_head(old_head, num_classes))
    if isinstance(getattr(model, "num_classes", None), int):
        model.num_classes = num_classes
    return model


def _fresh_head(old_head: nn.Module, num_classes: int) -> nn.Module:
    factory = {"device": old_head.weight.device, "dtype": old_head.weight.dtype}
    has_bias = old_head.bias is not None
    if isinstance(old_head, nn.Linear):
        return nn.Linear(old_head.in_features, num_classes, bias=has_bias, **factory)
    return nn.Conv2d(old_head.in_channels, num_classes, kernel_size=1, bias=has_bias, **factory)
