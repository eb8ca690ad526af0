"""Class activation maps from a model's feature layer: Grad-CAM and HiResCAM, from one forward and one
backward pass per batch, with our own hooks.

With A the layer's activations [C, h, w] and G = dS/dA the gradient of the target class's logit S:

- Grad-CAM (Selvaraju et al., ICCV 2017): ReLU(sum_c mean_hw(G_c) * A_c);
- HiResCAM (Draelos & Carin, arXiv:2011.08891): ReLU(sum_c G_c * A_c), element-wise, which shows what the
  model's score actually depends on when the head after the layer is not a global average (simple_cnn's
  and study_mobilenet's flatten-and-MLP heads); for a global-average head the two are the same map.

Each map is upsampled bilinearly to the input size and divided by its maximum (so 0 keeps meaning "no
evidence" and a map that is zero everywhere stays zero: see ``bcbench.explain.scores`` for how such a
flat map is scored).

Own hooks rather than torchcam: the two maps are a few lines from A and G, both methods come from one
pass, the batch and the targets are ours, nothing is added to the dependencies, and the hook can do the
two things below that keep the model untouched and the pass cheap. The forward runs without autograd
until the hooked layer; its forward hook hands the rest of the network a fresh leaf copy of the
activations and switches autograd on, so the graph (and the memory) covers only the part after the
layer, and ``torch.autograd.grad`` returns G without writing any parameter's ``.grad``. The model is put
in eval mode for the pass and its mode restored, and the hook is removed, whatever happens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bcbench.errors import ModelError

METHODS = ("gradcam", "hirescam")


class FeatureTap:
    """A forward hook that keeps the layer's output as a leaf tensor and turns autograd on after it (a
    layer that runs more than once in a forward pass is explained at its last call)."""

    def __init__(self, layer: nn.Module, name: str) -> None:
        self.name = name
        self.activations: torch.Tensor | None = None
        self.handle = layer.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: object, output: object) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ModelError(
                f"explain layer {self.name!r} outputs {shape}, not a feature map [N, C, H, W]; set "
                "explain.layer to a convolutional block"
            )
        self.activations = output.detach().float().requires_grad_(True)
        torch.set_grad_enabled(True)
        # a copy, so that in-place operations after the layer (ReLU(inplace=True)) leave the leaf alone
        return self.activations.to(output.dtype, copy=True)

    def remove(self) -> None:
        self.handle.remove()


def class_activation_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None,
    layer: nn.Module,
    layer_name: str = "layer",
    methods: Sequence[str] = METHODS,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Maps [N, H, W] in [0, 1] on ``inputs``' device, one per method, and the logits [N, classes].

    ``inputs`` is the normalised float batch the model expects; ``targets`` [N] the class explained for
    each image (None: the class the model predicts in this pass).
    """
    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        raise ModelError(f"unknown explanation method(s) {unknown}; use {', '.join(METHODS)}")
    activations, gradients, logits = _activations_and_gradients(model, inputs, targets, layer, layer_name)
    maps = {}
    for method in methods:
        if method == "gradcam":
            raw = (gradients.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1)
        else:
            raw = (gradients * activations).sum(dim=1)
        maps[method] = upsample_and_normalise(torch.relu(raw), inputs.shape[-2:])
    return maps, logits


def _activations_and_gradients(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, layer: nn.Module, layer_name: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    was_training, grad_was_enabled = model.training, torch.is_grad_enabled()
    tap = FeatureTap(layer, layer_name)
    try:
        model.eval()
        with torch.inference_mode(False):
            torch.set_grad_enabled(False)
            logits = model(inputs.clone() if inputs.is_inference() else inputs)
            if tap.activations is None:
                raise ModelError(
                    f"explain layer {layer_name!r} was not used in the forward pass; choose a layer "
                    "the model runs"
                )
            chosen = logits.detach().argmax(dim=1) if targets is None else targets.to(logits.device)
            index = chosen.long().view(-1, 1).clone()  # a normal tensor even if made in inference mode
            score = logits.float().gather(1, index).sum()
            (gradients,) = torch.autograd.grad(score, tap.activations)
    finally:
        tap.remove()
        torch.set_grad_enabled(grad_was_enabled)
        model.train(was_training)
    return tap.activations.detach(), gradients.detach(), logits.detach()


def upsample_and_normalise(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """[N, h, w] non-negative maps -> [N, H, W] bilinear upsampled (align_corners=False), each divided by
    its maximum (a map that is zero everywhere stays zero)."""
    upsampled = F.interpolate(maps[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[
        :, 0
    ]
    peak = upsampled.flatten(1).amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny)
    return upsampled / peak[:, None, None]
