"""Heads: finding and replacing the classifier of every torchvision model."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from bcbench.errors import ModelError
from bcbench.models import available_models, build_model, find_head, heads, replace_head
from tests.models.helpers import model_error

# (model, dotted path of its classifier layer); each builds at 1000 classes first.
HEADS_ON_CPU = [
    ("resnet18", "fc"),
    ("mobilenet_v3_small", "classifier.3"),
    ("efficientnet_b0", "classifier.1"),
    ("convnext_tiny", "classifier.2"),
    ("densenet121", "classifier"),
    ("squeezenet1_0", "classifier.1"),  # a 1x1 Conv2d head
    ("regnet_y_400mf", "fc"),
]


HEADS_ON_META = [("vit_b_16", "heads.head", 224), ("swin_t", "head", 224), ("maxvit_t", "classifier.5", 224)]


def _inputs(layer: nn.Module) -> int:
    return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels


@pytest.mark.parametrize(("name", "head_path"), HEADS_ON_CPU)
def test_replace_head_keeps_inputs_and_bias(name: str, head_path: str) -> None:
    model = torchvision.models.get_model(name, weights=None)
    old_head = model.get_submodule(head_path)
    replace_head(model, 3)
    new_head = model.get_submodule(head_path)
    assert new_head is not old_head and type(new_head) is type(old_head)
    assert _inputs(new_head) == _inputs(old_head) and (new_head.bias is None) == (old_head.bias is None)
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


@pytest.mark.parametrize(("name", "head_path", "image_size"), HEADS_ON_META)
def test_replace_head_on_transformers(name: str, head_path: str, image_size: int) -> None:
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None)
        old_head = model.get_submodule(head_path)
        replace_head(model, 3)
        output = model(torch.zeros(2, 3, image_size, image_size))
    new_head = model.get_submodule(head_path)
    assert new_head.out_features == 3 and new_head.in_features == old_head.in_features
    assert (new_head.bias is None) == (old_head.bias is None)
    assert output.shape == (2, 3)


@pytest.mark.slow  # builds every torchvision classifier (on meta tensors): about 8 s
def test_replace_head_finds_every_torchvision_classifier() -> None:
    # regnet initialisation reads tensor values, which meta tensors lack; it is covered on CPU above
    torchvision_names = torchvision.models.list_models(module=torchvision.models)
    names = [name for name in torchvision_names if "regnet" not in name]
    assert set(torchvision_names) <= set(available_models())
    for name in names:
        with torch.device("meta"):
            model = replace_head(build_model(name, 1000), 7)
        head_name, head = find_head(model, 7)
        assert head_name, name
        assert not [n for n, m in model.named_modules() if heads._output_count(m) == 1000], name


def test_replace_head_without_a_matching_layer_is_a_model_error() -> None:
    with pytest.raises(ModelError) as excinfo:
        replace_head(nn.Sequential(nn.Linear(4, 10)), 3)
    assert "1000 outputs" in model_error(excinfo)
