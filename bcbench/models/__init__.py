"""Models: a registry of small builders (``registry``, with the study's own networks in ``study_nets``), any
torchvision classifier by name, ``timm:<name>``, heads replaced for the class count (``heads``), and
weights from torchvision's cache or a local file (``weights``); ``build_model`` and ``check_model`` in
``build``."""

from bcbench.models import study_nets  # noqa: F401  (registers simple_cnn and study_mobilenet)
from bcbench.models.build import build_model, check_model
from bcbench.models.heads import find_head, replace_head
from bcbench.models.registry import available_models, register

__all__ = ["available_models", "build_model", "check_model", "find_head", "register", "replace_head"]
