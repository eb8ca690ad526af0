"""Fixtures of the model tests: one torch thread, a resnet18 checkpoint in a private hub, no network."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from torch import nn

RESNET18_FILE = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name  # resnet18-f37072fd.pth


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny forwards on a shared CPU: extra intra-op threads only wait on each other (seconds, not ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
