"""Grad-CAM and HiResCAM: where they point, against independent computations, and a model left untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from bcbench.errors import ModelError
from bcbench.explain.cam import class_activation_maps
from bcbench.explain.layers import default_layer_name, resolve_layer
from bcbench.models.build import build_model
from tests.explain.toys import SIDE, TinyCam, detector, lesion_images


def cams(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None, layer: str = "features"):
    return class_activation_maps(model, inputs, targets, model.get_submodule(layer), layer)


def reference_maps(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """The two maps computed without hooks: split the model at ``features``, differentiate the head."""
    activations = model.features(inputs).detach().requires_grad_(True)
    logits = model.classifier(activations) if hasattr(model, "classifier") else model.head(activations)
    (gradients,) = torch.autograd.grad(logits[torch.arange(len(targets)), targets].sum(), activations)
    raw = {
        "gradcam": torch.relu((gradients.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1)),
        "hirescam": torch.relu((gradients * activations).sum(dim=1)),
    }
    out = {}
    for name, values in raw.items():
        up = F.interpolate(values[:, None], size=inputs.shape[-2:], mode="bilinear", align_corners=False)[
            :, 0
        ]
        out[name] = up / up.flatten(1).amax(dim=1).clamp_min(1e-30)[:, None, None]
    return out


def test_an_off_centre_lesion_is_hit_at_its_row_and_column() -> None:
    pixels = torch.full((1, 3, SIDE, SIDE), 70, dtype=torch.uint8)
    rows, columns = np.mgrid[:SIDE, :SIDE]
    blob = torch.from_numpy((rows - 6) ** 2 + (columns - 24) ** 2 <= 9)
    pixels[:, :, blob] = 230  # near the top (row 6) and to the right (column 24)

    maps, logits = cams(detector(red_minus_green=False), pixels.float() / 255, torch.tensor([1]))

    for name, values in maps.items():
        peak_row, peak_column = np.unravel_index(int(values[0].argmax()), (SIDE, SIDE))
        assert abs(peak_row - 6) <= 2 and abs(peak_column - 24) <= 2, (name, peak_row, peak_column)
        assert values.shape == (1, SIDE, SIDE) and float(values.max()) == pytest.approx(1.0)
    assert logits.argmax(dim=1).tolist() == [1]


def test_the_shortcut_detector_points_at_its_marker_not_the_lesion() -> None:
    images, masks = lesion_images(4, seed=1, marked=np.ones(4, bool))

    maps, _ = cams(detector(red_minus_green=True), images.float() / 255, torch.ones(4, dtype=torch.long))

    peaks = maps["gradcam"].flatten(1).argmax(dim=1)
    assert all(int(p) // SIDE < 6 and int(p) % SIDE < 6 for p in peaks)  # in the corner
    assert not masks.flatten(1).gather(1, peaks[:, None]).any()


@pytest.mark.parametrize("name", ["simple_cnn", "study_mobilenet"])
def test_maps_equal_a_computation_without_hooks(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 3, None, 32).eval()
    inputs = torch.randn(3, 3, 32, 32)
    targets = torch.tensor([2, 0, 1])

    maps, logits = cams(model, inputs, targets)

    expected = reference_maps(model, inputs, targets)
    for method in ("gradcam", "hirescam"):
        torch.testing.assert_close(maps[method], expected[method], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits, model(inputs))


def test_gradcam_equals_torchcam() -> None:
    torchcam = pytest.importorskip("torchcam.methods")
    torch.manual_seed(1)
    model = build_model("simple_cnn", 3, None, 32).eval()
    inputs = torch.randn(2, 3, 32, 32)
    ours, _ = cams(model, inputs, torch.tensor([1, 2]))

    with torchcam.GradCAM(model, target_layer="features", input_shape=(3, 32, 32)) as extractor:
        scores = model(inputs)
        (theirs,) = extractor([1, 2], scores, normalized=False)
    up = F.interpolate(theirs[:, None].detach(), size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(
        ours["gradcam"], up / up.flatten(1).amax(dim=1)[:, None, None], rtol=1e-4, atol=1e-5
    )


def test_with_a_global_average_head_hirescam_is_gradcam() -> None:
    torch.manual_seed(2)
    maps, _ = cams(TinyCam(), torch.rand(3, 3, SIDE, SIDE), torch.tensor([0, 1, 1]))
    torch.testing.assert_close(maps["hirescam"], maps["gradcam"], rtol=1e-4, atol=1e-6)


def test_no_target_explains_the_predicted_class() -> None:
    torch.manual_seed(3)
    model = build_model("simple_cnn", 3, None, 32).eval()
    inputs = torch.randn(4, 3, 32, 32)
    predicted = model(inputs).argmax(dim=1)

    chosen, _ = cams(model, inputs, None)
    given, _ = cams(model, inputs, predicted)

    torch.testing.assert_close(chosen["gradcam"], given["gradcam"])


@pytest.mark.parametrize("context", ["grad", "no_grad", "inference_mode"])
def test_the_model_is_left_as_it_was(context: str) -> None:
    torch.manual_seed(4)
    model = build_model("study_mobilenet", 3, None, 32).train()  # batch norm and dropout
    before = {key: value.clone() for key, value in model.state_dict().items()}
    inputs = torch.randn(2, 3, 32, 32)
    scope = {"grad": torch.enable_grad, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode}[
        context
    ]

    with scope():
        grad_mode = torch.is_grad_enabled()
        cams(model, inputs, torch.tensor([0, 1]))
        assert torch.is_grad_enabled() == grad_mode

    assert model.training
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert all(parameter.grad is None for parameter in model.parameters())
    assert not any(module._forward_hooks for module in model.modules())


def test_the_hook_is_removed_when_the_layer_is_not_a_feature_map() -> None:
    model = build_model("simple_cnn", 3, None, 32)
    with pytest.raises(ModelError, match=r"explain layer 'classifier.1' outputs \(2, 512\)"):
        cams(model, torch.randn(2, 3, 32, 32), torch.tensor([0, 1]), layer="classifier.1")
    assert not any(module._forward_hooks for module in model.modules())


def test_an_in_place_activation_after_the_layer_leaves_the_maps_intact() -> None:
    torch.manual_seed(5)
    block = BasicBlock(4, 4)  # a ResNet block: "out += identity" then ReLU(inplace) modify bn2's output
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), block, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    ).eval()
    inputs = torch.randn(2, 3, 16, 16)

    maps, _ = class_activation_maps(model, inputs, torch.tensor([0, 1]), block.bn2, "1.bn2")

    activations = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(model[0](inputs)))))).detach()
    activations.requires_grad_(True)
    logits = model[2:](torch.relu(activations + model[0](inputs)))
    (gradients,) = torch.autograd.grad(logits[[0, 1], [0, 1]].sum(), activations)
    raw = torch.relu((gradients.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1))
    torch.testing.assert_close(maps["gradcam"], raw / raw.flatten(1).amax(dim=1)[:, None, None])


@pytest.mark.parametrize(
    ("name", "layer"),
    [
        ("simple_cnn", "features"),
        ("study_mobilenet", "features"),
        ("resnet18", "layer4"),
        ("mobilenet_v3_small", "features"),
        ("efficientnet_b0", "features"),
    ],
)
def test_default_layers_are_the_last_convolutional_blocks(name: str, layer: str) -> None:
    model = build_model(name, 3, None, 32)
    assert default_layer_name(model) == layer
    assert resolve_layer(model, None)[1] is model.get_submodule(layer)


def test_a_model_without_named_blocks_uses_its_last_convolution_and_names_can_be_given() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten())
    assert default_layer_name(model) == "2"
    assert resolve_layer(model, "0")[1] is model[0]
    with pytest.raises(ModelError, match=r"explain layer 'layer9' is not a module of Sequential.*0, 1, 2, 3"):
        resolve_layer(model, "layer9")
    with pytest.raises(ModelError, match="no convolutional layer"):
        default_layer_name(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


@pytest.mark.cuda
def test_maps_on_the_gpu_equal_maps_on_the_cpu() -> None:
    torch.manual_seed(6)
    model = build_model("resnet18", 3, None, 64).eval()
    inputs = torch.randn(4, 3, 64, 64)
    targets = torch.tensor([0, 1, 2, 0])
    on_cpu, _ = cams(model, inputs, targets, layer="layer4")
    on_gpu, _ = cams(model.cuda(), inputs.cuda(), targets.cuda(), layer="layer4")
    for method, values in on_gpu.items():
        assert values.is_cuda
        torch.testing.assert_close(values.cpu(), on_cpu[method], rtol=1e-3, atol=1e-3)
