"""devtools.speed and bench/speed.py: both pipelines deliver the same images, the arithmetic of the table,
the command end to end. Timings are only sanity-checked (the test machine is shared)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from bcbench.config import load_config
from devtools.speed import SpeedError, SpeedSettings, Timing, output, pipelines, settings, timing
from devtools.speed.settings import (
    BCBENCH,
    DATA_PATH,
    DECODE_ONCE,
    REFERENCE,
    TRAIN_EPOCH,
    attach_ratios,
    check_targets,
)
from tests.helpers import REPO, run_script

COUNTS = {"benign": 10, "malignant": 6, "normal": 6}


SIZE = 32


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests check behaviour, not speed; on a loaded shared CPU, torch's OpenMP threads spin waiting
    for each other and tiny steps take 100x longer, so run them on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_root(make_image_folder):
    return make_image_folder(COUNTS, size=(44, 38))


def tiny_settings(root: Path, **changes) -> SpeedSettings:
    values = {
        "data_root": str(root), "image_size": SIZE, "workers": (0,), "repeats": 1, "warmup_batches": 1,
        "batch_size": 4,
    } | changes  # fmt: skip
    return SpeedSettings(**values)


def test_study_constants_match_configs_study_yaml():
    study = load_config(REPO / "configs" / "study.yaml")
    assert study.augment == settings.STUDY_AUGMENT
    assert study.data.image_size == settings.STUDY_IMAGE_SIZE
    assert study.data.resize_shorter == settings.STUDY_RESIZE_SHORTER
    assert study.train.batch_size == settings.STUDY_BATCH_SIZE
    assert study.options_for("simple_cnn").lr == settings.STUDY_LR
    assert study.data.preprocess == "shorter_crop" and study.data.normalize == "imagenet"


def test_resize_shorter_follows_the_study_ratio():
    assert SpeedSettings().shorter_side() == 256
    assert SpeedSettings(image_size=112).shorter_side() == 128
    assert SpeedSettings(image_size=32, resize_shorter=40).shorter_side() == 40


def test_both_pipelines_deliver_the_same_images_shapes_and_dtypes(tiny_root):
    settings = tiny_settings(tiny_root)
    prepared = timing.prepare(settings)
    train_relpaths = prepared.bundle.relpaths("train")
    subset = prepared.reference
    folder = subset.dataset
    assert [Path(folder.samples[i][0]).relative_to(tiny_root).as_posix() for i in subset.indices] == (
        train_relpaths
    )
    assert folder.classes == prepared.bundle.classes

    loader = pipelines.reference_loader(subset, settings.batch_size, 0, seed=0)
    theirs = list(pipelines.reference_batches(loader, torch.device("cpu")))
    generators = pipelines.bcbench_generators(0, torch.device("cpu"))
    ours = list(
        pipelines.bcbench_batches(
            prepared.train_x, prepared.train_y, prepared.augment, prepared.normalize, 4, generators
        )
    )
    for batches in (theirs, ours):
        assert sum(len(labels) for _, labels in batches) == len(train_relpaths)
        for images, labels in batches:
            assert images.dtype == torch.float32 and images.shape[1:] == (3, SIZE, SIZE)
            assert labels.dtype == torch.int64 and len(labels) == len(images)
            assert images.abs().max() < 3.0  # ImageNet-normalised pixels lie in about [-2.2, 2.7]
    their_labels = sorted(torch.cat([labels for _, labels in theirs]).tolist())
    our_labels = sorted(torch.cat([labels for _, labels in ours]).tolist())
    assert their_labels == our_labels == sorted(prepared.train_y.tolist())
    assert prepared.decode.what == DECODE_ONCE and prepared.decode.images == sum(COUNTS.values())


def test_unaugmented_pixels_agree_between_pipelines(tiny_root):
    """With augmentation off, bcbench's decoded-once pixels are the reference's PIL pixels."""
    from torchvision import transforms

    settings = tiny_settings(tiny_root)
    prepared = timing.prepare(settings)
    reference = prepared.reference
    reference.dataset.transform = transforms.Compose(
        [t for t in pipelines.reference_transform(SIZE, settings.shorter_side()).transforms
         if not isinstance(t, transforms.RandomApply)]
    )  # fmt: skip
    theirs = torch.stack([reference[i][0] for i in range(len(reference))])
    ours = prepared.normalize(prepared.train_x)
    assert torch.allclose(theirs, ours, atol=1e-5)


def test_reference_dataset_refuses_other_images_or_classes(tiny_root):
    with pytest.raises(SpeedError, match="does not find 1"):
        pipelines.reference_dataset(tiny_root, ["benign/benign (1).png", "benign/nope.png"])
    with pytest.raises(SpeedError, match="classes"):
        pipelines.reference_dataset(tiny_root, ["benign/benign (1).png"], classes=["benign", "other"])


def test_mask_files_are_skipped_by_the_reference(tiny_root, write_image):
    write_image(tiny_root / "benign" / "benign (1)_mask.png")
    subset = pipelines.reference_dataset(tiny_root, ["benign/benign (1).png"])
    assert not any("_mask" in Path(path).name for path, _ in subset.dataset.samples)


def test_ratios_and_medians_from_made_up_timings():
    timings = [
        Timing(REFERENCE, DATA_PATH, 100, [2.0, 1.0, 4.0], workers=0),  # median 2 s -> 50 images/s
        Timing(REFERENCE, DATA_PATH, 100, [0.5], workers=2),  # 200 images/s
        Timing(BCBENCH, DATA_PATH, 100, [0.1, 0.3, 0.2]),  # median 0.2 s -> 500 images/s
        Timing(REFERENCE, TRAIN_EPOCH, 100, [30.0], workers=0),
        Timing(REFERENCE, TRAIN_EPOCH, 100, [20.0], workers=2),
        Timing(BCBENCH, TRAIN_EPOCH, 100, [40.0]),
        Timing(BCBENCH, DECODE_ONCE, 150, [3.0]),
    ]
    attach_ratios(timings)
    assert timings[0].median_seconds == 2.0 and timings[0].images_per_second == 50.0
    # interleaved repeats are paired: ratios 2/0.1, 1/0.3, 4/0.2; their median, not the ratio of medians
    assert timings[0].ratios == pytest.approx([20.0, 10 / 3, 20.0]) and timings[0].ratio == pytest.approx(
        20.0
    )
    assert timings[0].as_dict()["ratio_spread_percent"] == pytest.approx(100 * (20 - 10 / 3) / 20)
    assert timings[1].ratio == pytest.approx(2.5)
    assert timings[3].ratio == pytest.approx(0.75)  # bcbench slower: 30 s / 40 s
    assert timings[4].ratio == pytest.approx(0.5)
    assert all(t.ratio is None for t in timings if t.pipeline == BCBENCH)
    summary = check_targets(timings, "cpu")
    assert summary["data_path_speedup"] == {"0": pytest.approx(20.0), "2": pytest.approx(2.5)}
    assert summary["targets"]["data_path_speedup"]["met"] is True  # 20x >= 5x
    assert summary["targets"]["epoch_speedup"]["met"] is False  # 0.75x < 1x
    cuda = check_targets(timings, "cuda")["targets"]
    assert cuda["data_path_images_per_second"]["met"] is False  # 500 < 50,000 images/s
    assert "data_path_speedup" not in cuda


def test_speedup_compares_rates_when_counts_differ():
    assert settings.speedup(10.0, 5.0, 100, 100) == pytest.approx(2.0)
    assert settings.speedup(10.0, 5.0, 100, 50) == pytest.approx(1.0)
    assert math.isinf(settings.images_per_second(10, 0.0))


def test_bad_settings_are_refused():
    with pytest.raises(SpeedError, match="repeats must be positive"):
        timing.run_speed(SpeedSettings(repeats=0))
    with pytest.raises(SpeedError, match="resize_shorter"):
        timing.run_speed(SpeedSettings(image_size=64, resize_shorter=32))


@pytest.mark.slow
def test_run_speed_with_a_tiny_training_epoch(tiny_root, tmp_path):
    result = timing.run_speed(tiny_settings(tiny_root, epochs=1))
    rows = {(t.pipeline, t.what, t.workers): t for t in result.timings}
    assert set(rows) == {
        (REFERENCE, DATA_PATH, 0), (BCBENCH, DATA_PATH, None), (REFERENCE, TRAIN_EPOCH, 0),
        (BCBENCH, TRAIN_EPOCH, None), (BCBENCH, DECODE_ONCE, None),
    }  # fmt: skip
    train_images = result.environment["train_images"]
    for key in [k for k in rows if k[1] != DECODE_ONCE]:
        assert rows[key].images == train_images
    for line in result.timings:
        assert all(0 < s < 60 for s in line.seconds)
    assert rows[(REFERENCE, TRAIN_EPOCH, 0)].ratio > 0
    path = output.write_speed_json(result, tmp_path / "out")
    written = json.loads(path.read_text())
    assert written["settings"]["image_size"] == SIZE and written["settings"]["resize_shorter"] == 37
    assert {row["what"] for row in written["rows"]} == {DATA_PATH, TRAIN_EPOCH, DECODE_ONCE}
    assert written["environment"]["threads"] == torch.get_num_threads() == 1
    assert "epoch_speedup" in written["summary"]["targets"]


@pytest.mark.slow
def test_cli_end_to_end_writes_the_json(tiny_root, tmp_path):
    out = tmp_path / "speed"
    completed = run_script(
        "speed.py", "--data-root", tiny_root, "--image-size", SIZE, "--skip-train", "--workers", "0",
        "--repeats", "2", "--batch-size", "4", "--device", "cpu", "--threads", "1", "--out", out,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr + completed.stdout
    written = json.loads((out / "speed.json").read_text())
    whats = [(row["pipeline"], row["what"]) for row in written["rows"]]
    assert whats == [(REFERENCE, DATA_PATH), (BCBENCH, DATA_PATH), (BCBENCH, DECODE_ONCE)]
    assert all(len(row["seconds_all"]) == 2 for row in written["rows"] if row["what"] == DATA_PATH)
    assert written["rows"][0]["ratio"] > 0
    assert "images/s" in completed.stdout and "decode once" in completed.stdout


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    from devtools.speed.cli import main

    missing = tmp_path / "missing"
    assert main(["--data-root", str(missing), "--skip-train", "--out", str(tmp_path)]) == 2
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("error: ") and "does not exist" in last
    assert not (tmp_path / "speed.json").exists()
