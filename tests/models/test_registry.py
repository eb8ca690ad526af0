"""The registry: names, torchvision by name, timm, errors with suggestions, the preflight check."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torchvision
from torch import nn

from bcbench.cost.static import count_parameters
from bcbench.errors import ModelError
from bcbench.models import available_models, build_model, registry
from tests.models.helpers import model_error

HAS_TIMM = importlib.util.find_spec("timm") is not None


def test_available_models_lists_registry_then_torchvision() -> None:
    names = available_models()
    assert names[:2] == ["simple_cnn", "study_mobilenet"]
    assert {"resnet101", "mobilenet_v3_small", "vit_b_16"} <= set(names)


def test_register_adds_a_buildable_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))

    @registry.register("tiny_linear")
    def tiny_linear(num_classes: int, image_size: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * image_size * image_size, num_classes))

    assert "tiny_linear" in available_models()
    assert build_model("tiny_linear", 4, image_size=8)(torch.zeros(2, 3, 8, 8)).shape == (2, 4)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("tiny_linear")(tiny_linear)


def test_count_parameters_separates_frozen() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == (15 + 8, 8)


def test_unknown_model_suggests_close_matches() -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("resnet10", 3)
    message = model_error(excinfo)
    assert message.startswith("unknown model 'resnet10'; did you mean resnet101")
    assert "resnet18" in message and "bcbench models" in message


def test_model_names_are_case_insensitive() -> None:
    with torch.device("meta"):
        assert isinstance(build_model("ResNet18", 3), torchvision.models.ResNet)


def test_impossible_sizes_are_model_errors() -> None:
    with pytest.raises(ModelError, match="num_classes"):
        build_model("simple_cnn", 0)
    with pytest.raises(ModelError, match="image_size"):
        build_model("simple_cnn", 3, image_size=2)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_build_torchvision_model_by_name(name: str) -> None:
    model = build_model(name, 3, image_size=32)
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_vit_is_built_for_the_image_size() -> None:
    with torch.device("meta"):
        model = build_model("vit_b_16", 3, image_size=64)
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 3)


def test_googlenet_trains_without_auxiliary_outputs() -> None:
    model = build_model("googlenet", 3, image_size=32).train()
    output = model(torch.zeros(2, 3, 32, 32))
    assert isinstance(output, torch.Tensor) and output.shape == (2, 3)


def test_impossible_torchvision_configuration_is_a_model_error() -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("maxvit_t", 3, image_size=64)
    assert "maxvit_t" in model_error(excinfo)


@pytest.mark.skipif(HAS_TIMM, reason="timm is installed; see test_timm_model_builds")
def test_timm_missing_says_how_to_install() -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("timm:resnet18", 3)
    assert "pip install timm" in model_error(excinfo)


def test_timm_model_builds() -> None:
    pytest.importorskip("timm")
    model = build_model("timm:resnet18", 3)
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


def test_timm_prefix_builds_through_create_model(fake_timm: list[dict]) -> None:
    model = build_model("timm:resnet18", 5)
    assert model.out_features == 5
    assert fake_timm == [{"name": "resnet18", "pretrained": False, "num_classes": 5}]


def test_unknown_timm_model_suggests_close_matches(fake_timm: list[dict]) -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("timm:resnet19", 3)
    assert "did you mean timm:resnet18" in model_error(excinfo)


def test_timm_pretrained_offline_is_a_model_error(fake_timm: list[dict]) -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("timm:resnet18", 3, "DEFAULT")
    assert "local state-dict path" in model_error(excinfo)
    with pytest.raises(ModelError, match="valid: DEFAULT"):
        build_model("timm:resnet18", 3, "IMAGENET1K_V1")


def test_check_model_fails_fast_without_building(tmp_path, monkeypatch):
    from bcbench.models import check_model

    check_model("simple_cnn")
    check_model("resnet18")
    with pytest.raises(ModelError, match="did you mean"):
        check_model("resnet1O1")
    with pytest.raises(ModelError, match="valid: IMAGENET1K_V1"):
        check_model("resnet18", "IMAGENET_V9")
    with pytest.raises(ModelError, match="does not exist"):
        check_model("resnet18", tmp_path / "missing.pth")
    with pytest.raises(ModelError, match="no pretrained weights"):
        check_model("simple_cnn", "IMAGENET1K_V1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ModelError, match=r"place it at .*torch/hub/checkpoints/resnet18-"):
        check_model("resnet18", "IMAGENET1K_V1")
