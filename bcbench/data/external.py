"""External test sets (``data.external: {name: path}``): data from elsewhere, never trained on, predicted
after training with the run's own preprocessing.

A path may be any source: class folders, split folders (every image is used), a labels CSV (its
paths relative to the CSV's folder) or a MedMNIST ``.npz`` (every split). Classes are matched to the
model's by name: a class the external set lacks is fine (its metrics cover the classes present), a
class the model does not know is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from bcbench.config import DataConfig
from bcbench.data.build import decode_files, vet_files
from bcbench.data.decode import DecodedImages, Progress
from bcbench.data.npz import npz_images
from bcbench.data.scan import pillow_bomb_check_suspended
from bcbench.data.sources import catalog, source_kind
from bcbench.errors import DataError


@dataclass
class ExternalSet:
    """An external test set with labels already in the model's class indices."""

    name: str
    root: Path
    decoded: DecodedImages
    classes_present: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.decoded.relpaths)


def build_external(
    name: str,
    location: str,
    data_config: DataConfig,
    model_classes: list[str],
    progress: Progress | None = None,
) -> ExternalSet:
    """Read, vet and decode an external set like the training data, and map its classes to the model's."""
    config = external_config(location, data_config)
    root = Path(str(config.root))
    kind = source_kind(config, root)
    if kind == "npz":
        decoded, _ = npz_images(root, config, progress)
    else:
        with pillow_bomb_check_suspended():
            source = catalog(config, root)
            decoded = decode_files(source, vet_files(source, config), config, progress)
    mapping = _class_mapping(name, location, decoded.classes, model_classes)
    labels = torch.from_numpy(mapping[decoded.labels.numpy()])
    present = [model_classes[index] for index in sorted(set(labels.tolist()))]
    return ExternalSet(
        name, root, replace(decoded, labels=labels, classes=list(model_classes)), present, kind
    )


def external_config(location: str, data_config: DataConfig) -> DataConfig:
    """The training data's settings (preprocessing, vetting, cache) pointed at ``location``."""
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"external test set {location} does not exist; fix its path in data.external")
    plain = replace(data_config, index=None, manifest=None, source="auto", external={})
    if path.suffix.lower() == ".csv":
        return replace(plain, root=str(path.parent), index=path.name, source="csv")
    return replace(plain, root=str(path))


def _class_mapping(name: str, location: str, classes: list[str], model_classes: list[str]) -> np.ndarray:
    unknown = [label for label in classes if label not in model_classes]
    if unknown:
        raise DataError(
            f"external test set {name!r} ({location}) has class(es) {', '.join(map(repr, unknown))} unknown "
            f"to the model, which knows {', '.join(model_classes)}; rename them or remove those images"
        )
    return np.array([model_classes.index(label) for label in classes], dtype=np.int64)
