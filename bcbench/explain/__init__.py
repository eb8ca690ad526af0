"""Where does a model look? Class activation maps scored against lesion masks.

``run`` (``explain_run``, ``explain_maps``, ``figure_indices``, ``ExplainSettings``) is what the sweep
calls after training; ``cam`` makes Grad-CAM and HiResCAM maps with our own hooks on the layer that
``layers`` resolves; ``scores`` scores maps against masks (pointing game, energy, top-k IoU, AP);
``references`` holds the centre-prior and random maps every model is compared with; ``sanity`` the
randomised-weights copy and the rank correlations behind repeatability and reproducibility; ``block``
the record's ``explain`` block. It reads models and data (``bcbench.data.masks``) and sits beside train and
metrics in the layers: it never imports record, stats, report, sweep or cli.
"""

from bcbench.explain.block import ExplainBlock
from bcbench.explain.cam import METHODS, class_activation_maps
from bcbench.explain.layers import default_layer_name, resolve_layer
from bcbench.explain.references import centre_prior, uniform_random_maps
from bcbench.explain.run import (
    ExplainSettings,
    explain_maps,
    explain_run,
    figure_indices,
    map_sources,
    score_columns,
)
from bcbench.explain.sanity import pairwise_rank_correlation, randomised_copy, rank_correlation, resize_maps
from bcbench.explain.scores import localisation_scores, scaled_tolerance

__all__ = [
    "METHODS",
    "ExplainBlock",
    "ExplainSettings",
    "centre_prior",
    "class_activation_maps",
    "default_layer_name",
    "explain_maps",
    "explain_run",
    "figure_indices",
    "localisation_scores",
    "map_sources",
    "pairwise_rank_correlation",
    "randomised_copy",
    "rank_correlation",
    "resize_maps",
    "resolve_layer",
    "scaled_tolerance",
    "score_columns",
    "uniform_random_maps",
]
