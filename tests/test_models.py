"""Model registry: the study's networks (exact parameter counts), torchvision heads, weights loading."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from torch import nn

from bcbench import models
from bcbench.errors import ModelError
from bcbench.models import available_models, build_model, count_parameters, find_head, replace_head

RESNET18_FILE = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name  # resnet18-f37072fd.pth


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny forwards on a shared CPU: extra intra-op threads only wait on each other (seconds, not ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_error(excinfo: pytest.ExceptionInfo[ModelError]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, "ModelError messages are one line"
    return message


def linear_count(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def conv_count(inputs: int, outputs: int, kernel: int, groups: int = 1) -> int:
    return inputs // groups * outputs * kernel * kernel + outputs


# --------------------------------------------------------------------------- simple_cnn


def simple_cnn_count(image_size: int, num_classes: int) -> int:
    side = image_size // 2 // 2
    return (
        conv_count(3, 16, 3)
        + conv_count(16, 32, 3)
        + linear_count(32 * side * side, 512)
        + linear_count(512, 128)
        + linear_count(128, num_classes)
    )


def test_simple_cnn_matches_the_study_at_224() -> None:
    model = build_model("simple_cnn", 3, image_size=224)
    assert count_parameters(model) == (51_451_875, 51_451_875)
    assert simple_cnn_count(224, 3) == 51_451_875  # the formula below is the same network
    assert model.classifier[1].in_features == 32 * 56 * 56 == 100_352
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 3)


@pytest.mark.parametrize(("image_size", "num_classes"), [(64, 3), (70, 5)])
def test_simple_cnn_flatten_follows_image_size(image_size: int, num_classes: int) -> None:
    model = build_model("simple_cnn", num_classes, image_size=image_size)
    assert count_parameters(model)[0] == simple_cnn_count(image_size, num_classes)
    assert model(torch.zeros(2, 3, image_size, image_size)).shape == (2, num_classes)


def test_simple_cnn_layers_are_the_studys() -> None:
    model = build_model("simple_cnn", 3, image_size=64)
    layer_types = [type(layer) for layer in [*model.features, *model.classifier]]
    conv, relu, pool, drop, linear = nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.Linear
    features = [conv, relu, pool, conv, relu, pool]
    classifier = [nn.Flatten, linear, relu, drop, linear, relu, drop, linear]
    assert layer_types == features + classifier
    assert [m.p for m in model.classifier if isinstance(m, nn.Dropout)] == [0.25, 0.25]


def test_simple_cnn_parameter_count_at_64_px() -> None:
    # 448 + 4,640 + (8,192 * 512 + 512) + 65,664 + 387
    assert count_parameters(build_model("simple_cnn", 3, image_size=64))[0] == 4_265_955


# --------------------------------------------------------------------------- study_mobilenet

# Hand count at 224 px, 3 classes (all convs with bias, BatchNorm = 2 parameters per channel):
#   stem    Conv2d(3, 32, 3, s2)        3*32*9 + 32      =         896   BN(32)   64
#   block1  dw Conv2d(32, 32, 3, g32)   32*9 + 32        =         320
#           pw Conv2d(32, 64, 1)        32*64 + 64       =       2,112   BN(64)  128
#   block2  dw Conv2d(64, 64, 3, s2)    64*9 + 64        =         640
#           pw Conv2d(64, 128, 1)       64*128 + 128     =       8,320   BN(128) 256
#   block3  dw Conv2d(128, 128, 3)      128*9 + 128      =       1,280
#           pw Conv2d(128, 128, 1)      128*128 + 128    =      16,512   BN(128) 256
#   block4  dw Conv2d(128, 128, 3, s2)  128*9 + 128      =       1,280
#           pw Conv2d(128, 256, 1)      128*256 + 256    =      33,024   BN(256) 512
#   convolutional part                                   =      65,600
#   fc1     Linear(256*28*28, 1024)     200,704*1024 + 1024 = 205,521,920
#   fc2     Linear(1024, 3)             1024*3 + 3       =       3,075
#   total                                                = 205,590,595
# At 64 px the feature map is 8x8: fc1 = 16,384*1024 + 1024 = 16,778,240; total 16,846,915.
STUDY_MOBILENET_224 = 205_590_595
STUDY_MOBILENET_64 = 16_846_915


def test_study_mobilenet_parameter_count_at_224() -> None:
    with torch.device("meta"):  # 205.6M parameters: count them without allocating 0.8 GB
        model = build_model("study_mobilenet", 3, image_size=224)
    assert count_parameters(model) == (STUDY_MOBILENET_224, STUDY_MOBILENET_224)
    assert model.classifier[1].in_features == 256 * 28 * 28


def test_study_mobilenet_at_64_px() -> None:
    model = build_model("study_mobilenet", 3, image_size=64)
    assert count_parameters(model)[0] == STUDY_MOBILENET_64
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 3)


def test_study_mobilenet_odd_image_size_forwards() -> None:
    model = build_model("study_mobilenet", 2, image_size=50)  # 50 -> 25 -> 13 -> 7 (padded stride 2)
    assert model(torch.zeros(1, 3, 50, 50)).shape == (1, 2)


def test_study_mobilenet_blocks_are_depthwise_separable() -> None:
    model = build_model("study_mobilenet", 3, image_size=32)
    blocks = [block for block in model.features if isinstance(block, models.DepthwiseSeparable)]
    assert [(b[0].stride[0], b[1].out_channels) for b in blocks] == [(1, 64), (2, 128), (1, 128), (2, 256)]
    for block in blocks:
        depthwise, pointwise, norm, activation = block
        assert depthwise.groups == depthwise.in_channels == depthwise.out_channels
        assert pointwise.kernel_size == (1, 1)
        assert isinstance(norm, nn.BatchNorm2d) and isinstance(activation, nn.ReLU)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.bias is not None for conv in convs)
    assert model.classifier[3].p == 0.5


# --------------------------------------------------------------------------- registry


def test_available_models_lists_registry_then_torchvision() -> None:
    names = available_models()
    assert names[:2] == ["simple_cnn", "study_mobilenet"]
    assert {"resnet101", "mobilenet_v3_small", "vit_b_16"} <= set(names)


def test_register_adds_a_buildable_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_REGISTRY", dict(models._REGISTRY))

    @models.register("tiny_linear")
    def tiny_linear(num_classes: int, image_size: int) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * image_size * image_size, num_classes))

    assert "tiny_linear" in available_models()
    assert build_model("tiny_linear", 4, image_size=8)(torch.zeros(2, 3, 8, 8)).shape == (2, 4)
    with pytest.raises(ValueError, match="already registered"):
        models.register("tiny_linear")(tiny_linear)


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


# --------------------------------------------------------------------------- torchvision heads

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


def _inputs(layer: nn.Module) -> int:
    return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels


def test_replace_head_finds_every_torchvision_classifier() -> None:
    # regnet initialisation reads tensor values, which meta tensors lack; it is covered on CPU above
    names = [name for name in available_models()[2:] if "regnet" not in name]
    for name in names:
        with torch.device("meta"):
            model = replace_head(build_model(name, 1000), 7)
        head_name, head = find_head(model, 7)
        assert head_name, name
        assert not [n for n, m in model.named_modules() if models._output_count(m) == 1000], name


def test_replace_head_without_a_matching_layer_is_a_model_error() -> None:
    with pytest.raises(ModelError) as excinfo:
        replace_head(nn.Sequential(nn.Linear(4, 10)), 3)
    assert "1000 outputs" in model_error(excinfo)


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


# --------------------------------------------------------------------------- torchvision weights (cache)


@pytest.fixture(scope="module")
def resnet18_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A 1000-class resnet18 state dict with a recognisable conv1, saved under the hub cache's file name."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        model.conv1.weight.add_(0.5)
    state_dict = {key: value.clone() for key, value in model.state_dict().items()}
    path = tmp_path_factory.mktemp("torch_home") / "hub" / "checkpoints" / RESNET18_FILE
    path.parent.mkdir(parents=True)
    torch.save(state_dict, path)
    return path, state_dict


@pytest.fixture
def cached_torch_home(monkeypatch: pytest.MonkeyPatch, resnet18_checkpoint: tuple[Path, dict]) -> Path:
    torch_home = resnet18_checkpoint[0].parents[2]
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home


@pytest.fixture
def empty_torch_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Downloads fail at once, as in the sandbox; returns the URLs that were tried."""
    tried: list[str] = []

    def refuse(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        tried.append(url)
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return tried


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


# --------------------------------------------------------------------------- local state dicts


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


# --------------------------------------------------------------------------- timm

HAS_TIMM = importlib.util.find_spec("timm") is not None


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


@pytest.fixture
def fake_timm(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """A stand-in timm module, so the timm code paths are tested whether or not timm is installed."""
    calls: list[dict] = []
    module = types.ModuleType("timm")
    module.list_models = lambda: ["resnet18", "resnet34", "vit_small_patch16_224"]
    module.is_model = lambda name: name in module.list_models()

    def create_model(name: str, pretrained: bool = False, num_classes: int = 1000) -> nn.Module:
        calls.append({"name": name, "pretrained": pretrained, "num_classes": num_classes})
        if pretrained:
            raise RuntimeError("offline")
        return nn.Linear(4, num_classes)

    module.create_model = create_model
    monkeypatch.setitem(sys.modules, "timm", module)
    return calls


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
