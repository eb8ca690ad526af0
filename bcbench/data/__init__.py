"""Data: discover -> scan -> split -> decode once -> batches augmented and normalised on the device.

``build_data(config.data)`` returns a ``DataBundle``; the modules follow the flow: ``discover``,
``scan`` (vetting, hashes, duplicates), ``split``, ``decode`` (+ streaming), ``cache``, ``augment``,
``normalize``, ``bundle``, ``audit``, ``summary`` (the record's data block) and ``synthetic`` (the
embedded default data set).
"""

from bcbench.data.augment import BatchAugmenter
from bcbench.data.bundle import DataBundle, build_data, resolve_root
from bcbench.data.decode import StreamedImages, decode_images, load_rgb, preprocess
from bcbench.data.discover import discover_images
from bcbench.data.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalizer
from bcbench.data.split import stratified_split
from bcbench.data.summary import DataSummary

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BatchAugmenter",
    "DataBundle",
    "DataSummary",
    "Normalizer",
    "StreamedImages",
    "build_data",
    "decode_images",
    "discover_images",
    "load_rgb",
    "preprocess",
    "resolve_root",
    "stratified_split",
]
