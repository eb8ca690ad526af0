"""The data of a sweep: each distinct data configuration decoded once, however many runs use it, with its
cross-validation folds and its external test sets computed once too."""

from __future__ import annotations

import json
from typing import Any

from bcbench.config import Config, to_dict
from bcbench.data import DataBundle, ExternalSet, build_data, build_external, kfold_splits
from bcbench.sweep.plan import PlannedRun
from bcbench.sweep.progress import SweepObserver


class SweepData:
    """Bundles, folds and external sets by configuration; ``prepare`` builds them all up front, so bad
    data or an impossible fold count fails before any training."""

    def __init__(self, observer: SweepObserver) -> None:
        self._observer = observer
        self._bundles: dict[str, DataBundle] = {}
        self._folds: dict[str, dict[tuple[int, int], Any]] = {}
        self._externals: dict[str, dict[str, ExternalSet]] = {}

    def prepare(self, planned: list[PlannedRun]) -> None:
        for item in planned:
            self.for_run(item)
            self.externals(item.config)

    def get(self, config: Config) -> DataBundle:
        """The data set as configured (its holdout split)."""
        masks = config.explain.enabled  # lesion masks, for explanation maps scored against them
        key = _key(config.data, config.evaluation.groups, masks)
        if key not in self._bundles:
            progress = self._observer.data_loading
            self._bundles[key] = build_data(config.data, progress, config.evaluation.groups, masks)
        return self._bundles[key]

    def for_run(self, planned: PlannedRun) -> DataBundle:
        """The bundle a run trains on: the holdout split, or its cross-validation fold's."""
        bundle = self.get(planned.config)
        fold = planned.spec.cv_key
        return bundle if fold is None else bundle.with_splits(self._fold_splits(planned.config, bundle)[fold])

    def externals(self, config: Config) -> dict[str, ExternalSet]:
        """The external test sets of ``config.data.external``, classes matched to the bundle's."""
        key = _key(config.data, config.evaluation.groups)
        if key not in self._externals:
            classes = self.get(config).classes
            self._externals[key] = {
                name: build_external(name, location, config.data, classes, self._observer.data_loading)
                for name, location in config.data.external.items()
            }
        return self._externals[key]

    def _fold_splits(self, config: Config, bundle: DataBundle) -> dict[tuple[int, int], Any]:
        key = _key(config.data, to_dict(config.evaluation))
        if key not in self._folds:
            evaluation, data = config.evaluation, config.data
            self._folds[key] = kfold_splits(
                bundle.labels(),
                bundle.groups,
                evaluation.folds,
                evaluation.repeats,
                data.val_fraction,
                data.split_seed,
                bundle.classes,
            )
        return self._folds[key]


def _key(*parts: Any) -> str:
    return json.dumps([to_dict(part) for part in parts], sort_keys=True, default=str)
