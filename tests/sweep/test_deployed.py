"""The sweep's deploy hook on a hand-built data bundle and a linear model: which images calibrate INT8 (never
a validation or test image), the rows it stores (probabilities by hand, temperature-scaled by hand), the
scores of each form against scikit-learn, the record block; the checks made before training and the run
identity; a missing onnxruntime."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from bcbench.analysis.deploy import analyse_deploy
from bcbench.config import load_config
from bcbench.data import DataBundle, ExternalSet
from bcbench.data.decode import DecodedImages
from bcbench.errors import ConfigError
from bcbench.record import RunRecord
from bcbench.report.deploy import deploy_markdown
from bcbench.sweep import deployed as hook
from bcbench.sweep import plan_runs
from bcbench.sweep.plan import run_identity
from bcbench.train import RunOutcome
from tests.helpers import assert_one_line_error

CLASSES = ["benign", "malignant", "normal"]
TRAIN, VAL, TEST = np.array([0, 2, 4, 6, 7, 9]), np.array([1, 5]), np.array([3, 8, 10, 11])
SIZE = 6
OVERRIDES = (
    f"data.image_size={SIZE}", "data.normalize=none", "train.eval_batch_size=3", "models=[simple_cnn]",
    "seeds=[5]", "deploy.calibration_images=3", "deploy.iterations=1", "deploy.batch_size=2",
    "deploy.exporter=torchscript",
)  # fmt: skip


def decoded(count: int, seed: int) -> DecodedImages:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (count, 3, SIZE, SIZE), dtype=torch.uint8, generator=generator)
    relpaths = [f"{CLASSES[i % 3]}/{seed}-{i}.png" for i in range(count)]
    digests = [hashlib.sha256(path.encode()).hexdigest() for path in relpaths]
    return DecodedImages(pixels, torch.tensor([i % 3 for i in range(count)]), relpaths, CLASSES, digests)


def bundle() -> DataBundle:
    splits = {"train": TRAIN, "val": VAL, "test": TEST}
    return DataBundle(root=None, classes=CLASSES, decoded=decoded(12, 0), splits=splits, split_hash="")


def linear_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * SIZE * SIZE, 3))
    with torch.no_grad():
        model[1].weight.mul_(20.0)  # logits of a few units, so that the classes differ between images
    return model.eval()


def by_hand(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    """softmax(W x / 255 + b) in float64."""
    weight, bias = (p.detach().double().numpy() for p in model[1].parameters())
    logits = images.reshape(len(images), -1).double().numpy() / 255.0 @ weight.T + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def outcome_of(model: torch.nn.Module, data: DataBundle) -> RunOutcome:
    probs = {
        split: torch.from_numpy(by_hand(model, data.tensors(split)[0])).float() for split in ("val", "test")
    }
    labels = {split: data.tensors(split)[1] for split in ("val", "test")}
    return RunOutcome(model, [], 1, 1, probs["val"], labels["val"], probs["test"], labels["test"], 1.0, 1.0)


@pytest.fixture(scope="module")
def hooked(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    config = load_config(None, [*OVERRIDES, "deploy.forms=[onnx,onnx_int8]"])
    planned = plan_runs(config)[0]
    data, model = bundle(), linear_model()
    external = ExternalSet("ext", None, decoded(5, 1), CLASSES, "folders")
    folder = tmp_path_factory.mktemp("sweep")
    frames, block = hook.deployed_forms(
        outcome_of(model, data), planned, data, {"ext": external}, 2.0, folder
    )
    return data, model, external, frames, block, folder


def test_int8_is_calibrated_on_a_seeded_choice_of_training_images_only(hooked):
    data, *_, block, _ = hooked
    used = block.forms["onnx_int8"].calibration_indices
    assert used == sorted(np.random.default_rng(5).choice(TRAIN, 3, replace=False).tolist())
    assert set(used) <= set(TRAIN.tolist()) and not set(used) & set(VAL.tolist() + TEST.tolist())
    assert block.calibration_seed == 5 and block.forms["onnx_int8"].calibration_images == 3
    assert hook.choose_calibration(data, 100, 5).tolist() == TRAIN.tolist()  # fewer images than asked: all


def test_rows_per_form_and_set_with_probabilities_by_hand(hooked):
    data, model, external, frames, _, _ = hooked
    sets = [frame["set"].iloc[0] for frame in frames]
    forms = ("eager", "onnx", "onnx_int8")
    assert sets == [f"form:{form}{where}" for form in forms for where in ("", ":external:ext")]
    test_probs, external_probs = (
        by_hand(model, data.tensors("test")[0]),
        by_hand(model, external.decoded.pixels),
    )
    for frame, name in zip(frames, sets, strict=True):
        probs = frame[[f"prob_{c}" for c in CLASSES]].to_numpy()
        expected = external_probs if name.endswith(":external:ext") else test_probs
        assert np.abs(probs - expected).max() <= (0.05 if "int8" in name else 1e-5)
        scaled = np.exp(np.log(probs) / 2.0)  # the run's temperature, 2
        scaled /= scaled.sum(axis=1, keepdims=True)
        assert np.allclose(frame[[f"cal_prob_{c}" for c in CLASSES]].to_numpy(), scaled, atol=1e-12)
    test_rows = frames[0]
    assert test_rows["index"].tolist() == TEST.tolist() and set(test_rows["split"]) == {"test"}
    assert test_rows["label"].tolist() == [CLASSES[i % 3] for i in TEST]
    assert frames[1]["index"].tolist() == list(range(5)) and set(frames[1]["split"]) == {"external:ext"}


def test_each_form_is_scored_like_the_run_against_sklearn(hooked):
    *_, frames, block, _ = hooked
    for frame in frames:
        form = frame["set"].iloc[0].split(":")[1]
        scores = (
            block.forms[form].external["ext"]
            if "external" in frame["set"].iloc[0]
            else block.forms[form].test
        )
        predicted = frame[[f"prob_{c}" for c in CLASSES]].to_numpy().argmax(axis=1)
        truth = frame["label_index"].to_numpy()
        assert scores.accuracy == pytest.approx(accuracy_score(truth, predicted), abs=1e-12)
        assert scores.f1_macro == pytest.approx(
            f1_score(truth, predicted, average="macro", labels=[0, 1, 2], zero_division=0), abs=1e-12
        )


def test_the_block_holds_parity_timing_and_size_and_survives_json(hooked):
    *_, block, folder = hooked
    assert list(block.forms) == ["eager", "onnx", "onnx_int8"] and all(r.ok for r in block.forms.values())
    assert block.forms["onnx"].parity["test"].max_abs_logit_diff <= 1e-4
    assert block.forms["onnx"].parity["external:ext"].images == 5
    for result in block.forms.values():
        assert result.timing_summary(1)["latency_ms"]["p50"] > 0 and result.file_mb > 0
    assert block.threads == [1] and block.seconds > 0 and block.files is None
    assert not (folder / "deploy").exists()  # keep_files off: the ONNX files went to a temporary folder
    record = RunRecord(run_id="r", deploy=block)
    again = RunRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert again.deploy.forms["onnx_int8"].test.accuracy == block.forms["onnx_int8"].test.accuracy
    assert again.deploy.forms["onnx_int8"].calibration_indices == block.forms["onnx_int8"].calibration_indices
    assert RunRecord.from_json({"run_id": "old"}).deploy is None  # a record from before deploy loads


def test_without_onnxruntime_every_onnx_form_fails_with_one_note_and_nothing_runs(monkeypatch):
    def missing(*names):
        raise hook.DeployError("onnxruntime, onnx not installed: deploy forms skipped (pip install ...)")

    monkeypatch.setattr(hook, "import_optional", missing)
    config = load_config(None, [*OVERRIDES, "deploy.forms=[onnx,onnx_int8]"])
    assert hook.deploy_note(config).startswith("onnxruntime not installed: deploy forms skipped")
    data = bundle()
    frames, block = hook.deployed_forms(outcome_of(linear_model(), data), plan_runs(config)[0], data, {})
    assert frames == [] and list(block.forms) == ["onnx", "onnx_int8"]
    assert all(not r.ok and r.reason.startswith(hook.MISSING_RUNTIME) for r in block.forms.values())
    assert block.note == hook.MISSING_RUNTIME
    assert hook.deploy_note(load_config(None, [*OVERRIDES, "deploy.forms=[compile]"])) is None


def test_a_failure_of_the_whole_step_is_its_note_and_the_run_stays(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory\nsecond line")

    monkeypatch.setattr(hook, "evaluate_forms", broken)
    config = load_config(None, [*OVERRIDES, "deploy.forms=[compile]"])
    data = bundle()
    frames, block = hook.deployed_forms(outcome_of(linear_model(), data), plan_runs(config)[0], data, {})
    assert (
        frames == [] and block.forms == {} and block.note == "deploy step failed: RuntimeError: out of memory"
    )
    analysis = analyse_deploy([RunRecord(run_id="r", status="ok", deploy=block)])
    assert analysis.table == [] and analysis.notes == [block.note]
    assert "- note: deploy step failed: RuntimeError: out of memory" in deploy_markdown(analysis)


def test_the_block_is_off_by_default_and_in_the_run_identity_only_when_set():
    base = (f"data.image_size={SIZE}", "models=[simple_cnn]", "seeds=[5]")
    plain = plan_runs(load_config(None, list(base)))[0]
    assert not hook.deploy_enabled(plain.config)
    assert "deploy" not in run_identity(plain.spec, plain.config)  # run ids of earlier sweeps stay the same
    defaults = plan_runs(load_config(None, [*base, "deploy.threads=[1]", "deploy.calibration_images=128"]))[0]
    assert defaults.run_id == plain.run_id
    assert plan_runs(load_config(None, [*base, "deploy.forms=[onnx]"]))[0].run_id != plain.run_id


def test_given_normalisation_is_refused_before_training():
    config = load_config(
        None,
        [
            "deploy.forms=[onnx]",
            "data.normalize=given",
            "data.normalize_mean=[0.5]",
            "data.normalize_std=[0.2]",
        ],
    )
    with pytest.raises(ConfigError) as error:
        hook.check_deploy(config)
    assert_one_line_error(error, "deploy.forms", "data.normalize")
