"""Weights: torchvision's cache, offline errors naming the file, local state dicts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torchvision

from bcbench.errors import ModelError
from bcbench.models import build_model
from tests.models.conftest import RESNET18_FILE
from tests.models.helpers import model_error


@pytest.mark.parametrize("weights", ["IMAGENET1K_V1", "DEFAULT", "default", "ResNet18_Weights.IMAGENET1K_V1"])
def test_torchvision_weights_load_from_the_hub_cache(
    cached_torch_home: Path, no_network: list[str], resnet18_checkpoint: tuple[Path, dict], weights: str
) -> None:
    saved = resnet18_checkpoint[1]
    model = build_model("resnet18", 3, weights)
    assert torch.equal(model.conv1.weight, saved["conv1.weight"])
    assert torch.equal(model.layer4[1].conv2.weight, saved["layer4.1.conv2.weight"])
    assert (model.fc.in_features, model.fc.out_features) == (512, 3)
    assert no_network == []


def test_torchvision_weights_with_imagenet_classes_keep_the_head(
    cached_torch_home: Path, no_network: list[str], resnet18_checkpoint: tuple[Path, dict]
) -> None:
    model = build_model("resnet18", 1000, "IMAGENET1K_V1")
    assert torch.equal(model.fc.weight, resnet18_checkpoint[1]["fc.weight"])


def test_missing_weights_are_downloaded_into_the_cache(
    empty_torch_home: Path, monkeypatch: pytest.MonkeyPatch, resnet18_checkpoint: tuple[Path, dict]
) -> None:
    calls: list[tuple[str, str, str | None]] = []

    def fake_download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        calls.append((url, dst, hash_prefix))
        shutil.copyfile(resnet18_checkpoint[0], dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    model = build_model("resnet18", 3, "IMAGENET1K_V1")
    expected_path = empty_torch_home / "hub" / "checkpoints" / RESNET18_FILE
    assert calls == [(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url, str(expected_path), "f37072fd")]
    assert torch.equal(model.conv1.weight, resnet18_checkpoint[1]["conv1.weight"])


def test_uncached_weights_offline_name_the_cache_path(empty_torch_home: Path, no_network: list[str]) -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("resnet101", 3, "IMAGENET1K_V1")
    message = model_error(excinfo)
    url = torchvision.models.ResNet101_Weights.IMAGENET1K_V1.url
    expected_path = empty_torch_home / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    assert message.startswith("weights resnet101 IMAGENET1K_V1 are not cached and cannot be downloaded (")
    assert f"download {url} and place it at {expected_path}, or pass a local state-dict path" in message
    assert "no network" in message
    assert no_network == [url] and not expected_path.exists()


def test_corrupt_cache_file_is_a_model_error(empty_torch_home: Path, no_network: list[str]) -> None:
    cache_file = empty_torch_home / "hub" / "checkpoints" / RESNET18_FILE
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError) as excinfo:
        build_model("resnet18", 3, "IMAGENET1K_V1")
    message = model_error(excinfo)
    assert str(cache_file) in message and "delete the file" in message


def test_unknown_weights_name_lists_valid_ones() -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("resnet50", 3, "IMAGENET1K_V3")
    message = model_error(excinfo)
    valid = "valid: IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT"
    assert f"unknown weights 'IMAGENET1K_V3' for resnet50; {valid}" in message


def test_pretrained_transformer_needs_its_training_size(
    empty_torch_home: Path, no_network: list[str]
) -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("vit_b_16", 3, "IMAGENET1K_V1", image_size=64)
    assert "weights vit_b_16 IMAGENET1K_V1 need image_size 224, got 64" in model_error(excinfo)
    assert no_network == []


def test_registry_models_have_no_named_weights() -> None:
    with pytest.raises(ModelError) as excinfo:
        build_model("simple_cnn", 3, "IMAGENET1K_V1")
    assert "local state-dict path" in model_error(excinfo)


def test_local_imagenet_state_dict_gets_a_new_head(resnet18_checkpoint: tuple[Path, dict]) -> None:
    path, saved = resnet18_checkpoint
    model = build_model("resnet18", 3, str(path))
    assert torch.equal(model.conv1.weight, saved["conv1.weight"])
    assert (model.fc.in_features, model.fc.out_features) == (512, 3)


def test_local_state_dict_for_num_classes_loads_everything(tmp_path: Path) -> None:
    trained = build_model("mobilenet_v3_small", 3, image_size=64)
    path = tmp_path / "trained.pt"
    torch.save(trained.state_dict(), path)
    loaded = build_model("mobilenet_v3_small", 3, path, image_size=64)
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module_prefix"])
def test_local_state_dict_wrappers(tmp_path: Path, wrap: str) -> None:
    trained = build_model("simple_cnn", 3, image_size=16)
    state_dict = trained.state_dict()
    if wrap == "module_prefix":
        contents = {f"module.{key}": value for key, value in state_dict.items()}
    else:
        contents = {wrap: state_dict, "epoch": 7}
    path = tmp_path / "checkpoint.pth"
    torch.save(contents, path)
    loaded = build_model("simple_cnn", 3, str(path), image_size=16)
    assert torch.equal(loaded.classifier[7].weight, trained.classifier[7].weight)
    assert torch.equal(loaded.features[0].weight, trained.features[0].weight)


def test_local_state_dict_with_other_classes_replaces_the_head(tmp_path: Path) -> None:
    trained = build_model("simple_cnn", 10, image_size=16)
    path = tmp_path / "ten_classes.pt"
    torch.save(trained.state_dict(), path)
    loaded = build_model("simple_cnn", 3, str(path), image_size=16)
    assert torch.equal(loaded.classifier[4].weight, trained.classifier[4].weight)
    assert (loaded.classifier[7].in_features, loaded.classifier[7].out_features) == (128, 3)


def test_missing_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.pt"
    with pytest.raises(ModelError) as excinfo:
        build_model("simple_cnn", 3, str(path))
    assert f"weights file {path} does not exist" in model_error(excinfo)


def test_unreadable_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError) as excinfo:
        build_model("simple_cnn", 3, str(path))
    assert f"cannot read weights file {path}" in model_error(excinfo)


def test_weights_file_without_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(ModelError) as excinfo:
        build_model("simple_cnn", 3, str(path))
    assert f"weights file {path} holds no state dict" in model_error(excinfo)


def test_weights_for_another_architecture_name_mismatched_keys(tmp_path: Path) -> None:
    path = tmp_path / "cnn.pt"
    torch.save(build_model("simple_cnn", 3, image_size=16).state_dict(), path)
    with pytest.raises(ModelError) as excinfo:
        build_model("study_mobilenet", 3, str(path), image_size=16)
    message = model_error(excinfo)
    assert f"weights file {path} does not match model study_mobilenet" in message
    assert "41 missing (features.1.weight, features.1.bias, features.1.running_mean, ...)" in message
    assert "4 unexpected (features.3.weight, features.3.bias, classifier.7.weight, ...)" in message
    assert "with another shape (features.0.weight is [16, 3, 3, 3] in the file but [32, 3, 3, 3]" in message


def test_weights_for_another_image_size_name_the_reshaped_key(tmp_path: Path) -> None:
    path = tmp_path / "cnn16.pt"
    torch.save(build_model("simple_cnn", 3, image_size=16).state_dict(), path)
    with pytest.raises(ModelError) as excinfo:
        build_model("simple_cnn", 3, str(path), image_size=32)
    message = model_error(excinfo)
    assert "1 with another shape (classifier.1.weight is [512, 512] in the file but [512, 2048]" in message
