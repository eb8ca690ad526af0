"""Which layer a class activation map is taken from: the model's last convolutional block by default, or
any module named by its dotted path (``explain.layer``).

A CAM needs a feature map [N, C, h, w] that still has spatial extent and already carries the model's
most class-specific features: the output of the last convolutional stage, before global pooling or
flattening. The defaults:

- ``layer4`` for ResNets (torchvision's resnet*, resnext*, wide_resnet*);
- ``features`` for models that keep their convolutional trunk in a ``features`` module: the study's
  ``simple_cnn`` (after its second conv, ReLU and pool: 1/4 of the input side) and ``study_mobilenet``
  (1/8), torchvision's MobileNet v2/v3, EfficientNet (v1 and v2), VGG, DenseNet, ConvNeXt (1/32);
- otherwise the last ``nn.Conv2d`` in module order.
"""

from __future__ import annotations

from torch import nn

from bcbench.errors import ModelError

DEFAULT_CONTAINERS = ("layer4", "features")


def default_layer_name(model: nn.Module) -> str:
    """The dotted name of the default CAM layer of ``model`` (see the module doc)."""
    children = dict(model.named_children())
    for name in DEFAULT_CONTAINERS:
        if name in children:
            return name
    convolutions = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not convolutions:
        raise ModelError(
            f"{type(model).__name__} has no convolutional layer to take a class activation map from; "
            "set explain.layer to a module whose output is [N, C, H, W]"
        )
    return convolutions[-1]


def resolve_layer(model: nn.Module, name: str | None = None) -> tuple[str, nn.Module]:
    """(dotted name, module) of the CAM layer: ``name`` when given, else the default. An unknown name is
    a ``ModelError`` listing the model's top-level modules."""
    chosen = name or default_layer_name(model)
    try:
        return chosen, model.get_submodule(chosen)
    except AttributeError:
        top = ", ".join(child for child, _ in model.named_children()) or "none"
        raise ModelError(
            f"explain layer {chosen!r} is not a module of {type(model).__name__}; name one by its dotted "
            f"path (top-level modules: {top})"
        ) from None
