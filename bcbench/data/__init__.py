"""Data: discover -> scan -> split -> decode once -> batches augmented and normalised on the device.

``build_data(config.data)`` returns a ``DataBundle``; the modules follow the flow: ``discover``,
``sources`` (folders, split folders, a labels CSV), ``npz`` (MedMNIST), ``scan`` (vetting, hashes,
duplicates), ``split`` and ``folds`` (holdout, group-aware, cross-validation), ``decode`` (+ streaming),
``cache``, ``augment``, ``normalize``, ``bundle`` and ``build``, ``audit``, ``external`` (external test
sets), ``summary`` (the record's data block), ``synthetic`` (the embedded default data set), and lesion
masks: ``masks`` (found, shaped and packed) and ``lesions`` (a data set's masks, loaded once and cached).
"""

from bcbench.data.augment import BatchAugmenter
from bcbench.data.build import build_data, resolve_root
from bcbench.data.bundle import DataBundle
from bcbench.data.decode import StreamedImages, crop_warning, decode_images, load_rgb, preprocess
from bcbench.data.discover import discover_images
from bcbench.data.external import ExternalSet, build_external
from bcbench.data.folds import kfold_splits
from bcbench.data.masks import PackedMasks, csv_mask_files, load_mask, load_masks, mask_files_beside
from bcbench.data.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalizer
from bcbench.data.split import stratified_split
from bcbench.data.summary import DataSummary
from bcbench.data.synthetic import CLASS_COUNTS as SYNTHETIC_CLASS_COUNTS
from bcbench.data.synthetic import render_image

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SYNTHETIC_CLASS_COUNTS",
    "BatchAugmenter",
    "DataBundle",
    "DataSummary",
    "ExternalSet",
    "Normalizer",
    "PackedMasks",
    "StreamedImages",
    "build_data",
    "build_external",
    "crop_warning",
    "csv_mask_files",
    "decode_images",
    "discover_images",
    "kfold_splits",
    "load_mask",
    "load_masks",
    "load_rgb",
    "mask_files_beside",
    "preprocess",
    "render_image",
    "resolve_root",
    "stratified_split",
]
