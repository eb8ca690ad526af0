"""The sweep's corruption hook on a hand-built data bundle and a linear model: the rows it stores, the keys
that fix each image's corruption, the probabilities (computed here by hand), the record block; and the
checks made before training."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from bcbench.config import load_config
from bcbench.data import DataBundle
from bcbench.data.decode import DecodedImages
from bcbench.errors import ConfigError
from bcbench.robustness import corrupt, parse_corrupted_set
from bcbench.sweep import plan_runs
from bcbench.sweep.robust import check_robustness, corruption_predictions
from bcbench.train import RunSpec
from tests.helpers import assert_one_line_error

CLASSES = ["benign", "malignant", "normal"]
TEST = np.array([1, 3, 4])
OVERRIDES = ("data.image_size=12", "data.normalize=none", "train.eval_batch_size=2")


def bundle() -> DataBundle:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (6, 3, 12, 12), dtype=torch.uint8, generator=generator)
    relpaths = [f"{CLASSES[i % 3]}/{i}.png" for i in range(6)]
    digests = [hashlib.sha256(path.encode()).hexdigest() for path in relpaths]
    decoded = DecodedImages(pixels, torch.tensor([0, 1, 2, 0, 1, 2]), relpaths, CLASSES, digests)
    splits = {"train": np.array([0, 2]), "val": np.array([5]), "test": TEST}
    return DataBundle(root=None, classes=CLASSES, decoded=decoded, splits=splits, split_hash="")


def linear_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 12 * 12, 3))


def by_hand(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    """softmax(W x / 255 + b) in float64."""
    weight, bias = (p.detach().double().numpy() for p in model[1].parameters())
    logits = images.reshape(len(images), -1).double().numpy() / 255.0 @ weight.T + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def hooked():
    config = load_config(
        None, [*OVERRIDES, "robustness.corruptions=[gaussian_noise,pixelate]", "robustness.severities=[1,4]"]
    )
    data, model = bundle(), linear_model()
    frames, block = corruption_predictions(
        model, config, data, torch.device("cpu"), 2.0, RunSpec("m", 0, {}, 1, 3)
    )
    return data, model, frames, block


def test_one_frame_per_corruption_and_severity_over_the_test_images(hooked):
    data, _, frames, _ = hooked
    sets = [frame["set"].iloc[0] for frame in frames]
    assert [parse_corrupted_set(name) for name in sets] == [
        ("gaussian_noise", 1),
        ("gaussian_noise", 4),
        ("pixelate", 1),
        ("pixelate", 4),
    ]
    for frame in frames:
        assert frame["index"].tolist() == TEST.tolist() and frame["path"].tolist() == data.relpaths("test")
        assert frame["label"].tolist() == ["malignant", "benign", "malignant"]
        assert set(frame["split"]) == {"test"} and set(frame["repeat"]) == {1} and set(frame["fold"]) == {3}


def test_probabilities_are_the_model_s_on_images_corrupted_under_their_file_hash(hooked):
    data, model, frames, _ = hooked
    images = data.decoded.pixels[TEST]
    keys = [data.decoded.sha256[i] for i in TEST]
    for frame in frames:
        name, severity = parse_corrupted_set(frame["set"].iloc[0])
        expected = by_hand(model, corrupt(images, keys, name, severity))
        stored = frame[[f"prob_{c}" for c in CLASSES]].to_numpy()
        assert stored == pytest.approx(expected, abs=1e-5)
        scaled = np.sqrt(expected) / np.sqrt(expected).sum(axis=1, keepdims=True)  # temperature 2
        assert frame[[f"cal_prob_{c}" for c in CLASSES]].to_numpy() == pytest.approx(scaled, abs=1e-5)
    noise = next(frame for frame in frames if frame["set"].iloc[0] == "corrupted:gaussian_noise:4")
    by_position = by_hand(model, corrupt(images, [int(i) for i in TEST], "gaussian_noise", 4))
    assert not np.allclose(noise[[f"prob_{c}" for c in CLASSES]].to_numpy(), by_position, atol=1e-5)


def test_the_block_records_what_was_done_its_cost_and_the_pixel_change(hooked):
    data, _, _, block = hooked
    assert block.corruptions == ["gaussian_noise", "pixelate"] and block.severities == [1, 4]
    assert (block.images, block.device, block.lengths) == (3, "cpu", "scan")
    assert block.seed_domain == "bcbench.robustness.v1"
    assert block.seconds >= block.corrupt_seconds + block.predict_seconds > 0
    assert set(block.seconds_by_corruption) == {"gaussian_noise", "pixelate"}
    images = data.decoded.pixels[TEST]
    keys = [data.decoded.sha256[i] for i in TEST]
    clean = images.numpy().astype(np.float64)
    for name, distances in block.distance.items():
        expected = [np.abs(corrupt(images, keys, name, s).numpy() - clean).mean() for s in (1, 4)]
        assert distances == pytest.approx(expected, rel=1e-12)
        assert distances[1] > distances[0] > 0


def test_checks_before_training_name_the_key_and_what_is_valid():
    check_robustness(load_config(None, []))  # off: nothing to check
    with pytest.raises(ConfigError) as error:
        check_robustness(load_config(None, ["robustness.corruptions=[speckle, pixelate]"]))
    assert_one_line_error(error, "'speckle'", "ultrasound", "speckle_noise")
    with pytest.raises(ConfigError) as error:
        check_robustness(
            load_config(None, ["robustness.corruptions=ultrasound", "robustness.reference_model=vgg"])
        )
    assert_one_line_error(error, "robustness.reference_model", "'vgg'", "simple_cnn")
    with pytest.raises(ConfigError) as error:
        load_config(None, ["robustness.severities=[1, 6]"])
    assert_one_line_error(error, "robustness.severities", "1..5", "6")


def test_run_ids_change_with_what_the_runs_compute_not_with_the_reference():
    base = [p.run_id for p in plan_runs(load_config(None, []))]
    on = [p.run_id for p in plan_runs(load_config(None, ["robustness.corruptions=ultrasound"]))]
    other = ["robustness.corruptions=ultrasound", "robustness.reference_model=resnet18"]
    assert set(base).isdisjoint(on)
    assert [p.run_id for p in plan_runs(load_config(None, other))] == on
    assert [p.run_id for p in plan_runs(load_config(None, ["robustness.severities=[1,2]"]))] == base
