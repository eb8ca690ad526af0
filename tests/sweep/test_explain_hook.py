"""The sweep's explanation step on a tiny untrained model (no training: fast lane): what it stores, what the
record's block says, the target it explains, and run ids that change only when explain is changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bcbench.config import load_config
from bcbench.data import build_data
from bcbench.explain import class_activation_maps, resolve_layer
from bcbench.models import build_model
from bcbench.record import RunRecord
from bcbench.sweep.explaining import explain_outcome
from bcbench.sweep.plan import PlannedRun, make_run_id, run_identity
from bcbench.train import RunOutcome, RunSpec
from tests.data.lesion_folders import folder_config

SIDE = 16


@pytest.fixture
def bundle(tmp_path: Path):
    return build_data(folder_config(tmp_path / "data", tmp_path), masks=True)


def explained(tmp_path: Path, bundle, *overrides: str, test_probs: torch.Tensor | None = None):
    config = load_config(None, ["explain.enabled=true", f"data.image_size={SIDE}", *overrides])
    torch.manual_seed(0)
    model = build_model("simple_cnn", 3, None, SIDE).eval()
    probs = test_probs if test_probs is not None else torch.full((3, 3), 1 / 3)
    labels = bundle.tensors("test")[1]
    outcome = RunOutcome(model, [], 1, 1, probs, labels, probs, labels, 1.0, 1.0)
    planned = PlannedRun(0, RunSpec("simple_cnn", 0), config, "simple_cnn-s0-x")
    block = explain_outcome(outcome, planned, bundle, tmp_path / "sweep", torch.device("cpu"))
    return model, block


def test_the_step_stores_the_table_and_the_maps_the_analysis_needs(tmp_path: Path, bundle) -> None:
    torch.manual_seed(0)  # as ``explained`` builds its model
    before = {k: v.clone() for k, v in build_model("simple_cnn", 3, None, SIDE).state_dict().items()}
    model, block = explained(tmp_path, bundle)

    assert block.table == "explain/simple_cnn-s0-x.csv" and block.maps == "explain/simple_cnn-s0-x_maps.npz"
    table = pd.read_csv(tmp_path / "sweep" / block.table)
    # test split: benign (3) has an empty mask, malignant (3) a lesion, normal (3) no mask file
    assert table["relpath"].tolist() == bundle.relpaths("test")
    assert table["has_lesion"].tolist() == [False, True, False]
    assert (block.images, block.scored, block.excluded) == (3, 1, 2)
    assert table.loc[[0, 2], "gradcam.pointing"].isna().all() and 0 <= table.loc[1, "gradcam.pointing"] <= 1
    assert block.layer == "features" and block.methods == ["gradcam", "hirescam"]
    assert set(block.seconds) == {"model", "model_randomised", "references", "maps", "total"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # left as it was

    with np.load(tmp_path / "sweep" / block.maps) as stored:
        assert stored["relpath"].tolist() == ["malignant/malignant (3).png"] and stored["image"].tolist() == [
            1
        ]
        assert stored["gradcam"].dtype == np.float16 and stored["gradcam"].shape == (1, SIDE, SIDE)
        assert stored["figure_relpath"].tolist() == ["malignant/malignant (3).png"] == block.figure
        images, _ = bundle.tensors("test")
        assert np.array_equal(stored["figure_image"], images[1:2].numpy())
        assert np.array_equal(stored["figure_mask"], bundle.split_masks("test").unpack([1]).numpy())
        # the oracle: the maps straight from the hooks, on the image normalised as the run normalises it
        inputs = (
            images[1:2].float() / 255 - torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        ) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        name, layer = resolve_layer(model)
        maps, _ = class_activation_maps(model, inputs, torch.tensor([1]), layer, name)
        assert np.allclose(stored["figure_hirescam"], maps["hirescam"].numpy(), atol=1e-3)
        assert np.allclose(stored["hirescam"], maps["hirescam"].numpy(), atol=1e-3)  # 16 px: no resize

    record = RunRecord.from_json(RunRecord(run_id="r", explain=block).to_json())
    assert record.explain == block and RunRecord.from_json({"run_id": "old"}).explain is None


def test_the_predicted_class_is_explained_when_asked(tmp_path: Path, bundle) -> None:
    probs = torch.tensor([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.2, 0.5, 0.3]])

    _, block = explained(tmp_path, bundle, "explain.target=predicted_class", test_probs=probs)

    table = pd.read_csv(tmp_path / "sweep" / block.table)
    assert table["predicted"].tolist() == [2, 0, 1] and table.loc[1, "target"] == 0
    assert table["label"].tolist() == [0, 1, 2]


def test_maps_are_stored_small_for_the_stability_scores(tmp_path: Path, bundle) -> None:
    _, block = explained(tmp_path, bundle, "explain.maps_size=8", "explain.randomised=false")

    with np.load(tmp_path / "sweep" / block.maps) as stored:
        assert stored["gradcam"].shape == (1, 8, 8) and stored["figure_gradcam"].shape == (1, SIDE, SIDE)
    assert block.maps_size == 8 and "model_randomised" not in block.seconds


def test_run_ids_change_only_when_the_explain_block_does() -> None:
    spec = RunSpec("simple_cnn", 0)
    default = load_config(None, [])
    assert "explain" not in run_identity(spec, default)
    on = load_config(None, ["explain.enabled=true"])
    assert run_identity(spec, on)["explain"]["enabled"] is True
    assert make_run_id(spec, on) != make_run_id(spec, default)
