"""Trained tiny CNNs (slow lane: a few seconds): a model that learned the lesion points at it, a model that
learned a planted shortcut (a red corner marker that predicts the class) does not, and the references and
the randomised copy sit in between. The fast lane has the same check with hand-built weights
(tests/explain/test_run.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bcbench.data.normalize import Normalizer
from bcbench.explain import ExplainSettings, explain_run
from tests.explain.toys import lesion_images, trained

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run 20x slower on two threads of a busy two-core machine than on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def scores(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor):
    table = explain_run(
        model, images, masks, labels, normalizer=Normalizer("none"), settings=ExplainSettings()
    )
    accuracy = (model(images.float() / 255).argmax(dim=1) == labels).float().mean().item()
    return table[table["has_lesion"]].mean(numeric_only=True), accuracy


def test_a_model_that_learned_the_lesion_scores_high_and_a_shortcut_model_low() -> None:
    labels = torch.from_numpy(np.arange(64) % 2)
    test_labels = torch.ones(16, dtype=torch.long)
    lesion_present = labels.numpy() == 1
    # task 1: class 1 has a lesion, class 0 none (an empty mask: excluded from the scores)
    images, masks = lesion_images(64, seed=10)
    images[~lesion_present] = lesion_images(int((~lesion_present).sum()), seed=11, bright=None)[0].clamp(
        max=120
    )
    looks = trained(images, labels, steps=80)
    # task 2: every image has the same kind of lesion; class 1 also has the red corner marker
    shortcut = trained(lesion_images(64, seed=12, marked=lesion_present)[0], labels, steps=80)

    looking, looking_accuracy = scores(looks, *lesion_images(16, seed=13), test_labels)
    cheating, cheating_accuracy = scores(
        shortcut, *lesion_images(16, seed=14, marked=np.ones(16, bool)), test_labels
    )

    assert looking_accuracy == 1.0 and cheating_accuracy == 1.0  # both solve their task
    for method in ("gradcam", "hirescam"):
        assert looking[f"{method}.pointing"] >= 0.9 and cheating[f"{method}.pointing"] <= 0.1
        assert looking[f"{method}.ap"] > 0.5 > 0.2 > cheating[f"{method}.ap"]
        assert (
            looking[f"{method}.ap"] > looking["centre.ap"] and looking[f"{method}.ap"] > looking["random.ap"]
        )
        assert looking[f"{method}_randomised.ap"] < looking[f"{method}.ap"] - 0.3  # Adebayo: it changes
