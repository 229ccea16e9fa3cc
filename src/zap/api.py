"""The Python face of `zap fit` / `zap predict`: a small estimator, scikit-learn style."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from zap.data import DataSplit, ImageDataset, SplitSettings, load_dataset, train_test_split, unlabelled_folder
from zap.data.dataset import ArrayDataset, FolderDataset, read_header
from zap.data.loaders import OnCorrupt, images_from_array
from zap.finetune import Budget, RunResult, quick, run
from zap.finetune.batches import PixelCache
from zap.finetune.predictor import Predictor
from zap.metafeatures import MetaFeatures
from zap.metafeatures import compute as compute_metafeatures
from zap.pipelines import as_dict, get_config
from zap.pipelines.space import complete
from zap.selectors.trained import DEFAULT_SELECTOR

DEFAULT_CONFIG = "recommended"  # used when no selector is shipped (or `selector=None`)


def as_images(x: Any, on_corrupt: OnCorrupt = "fail") -> ImageDataset:
    """Images to predict: a folder or file path, a list of paths, a dataset, or an array (N, H, W[, C])."""
    if isinstance(x, ImageDataset):
        return x
    if isinstance(x, str | Path):
        return unlabelled_folder(x, on_corrupt=on_corrupt)
    if isinstance(x, Sequence) and x and isinstance(x[0], str | Path):
        paths = [Path(p) for p in x]
        return FolderDataset(paths, np.full(len(paths), -1), [], [read_header(p) for p in paths], "images")
    images = images_from_array(x)
    return ArrayDataset(images, np.full(len(images), -1), [], name="images")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def selection_lines(selection: dict[str, Any]) -> list[str]:
    """What a person watching a run should know about its pipeline: the zero-shot pick, and every reason
    to doubt it (meta-features outside the meta-dataset, a budget or device far from its regime)."""
    lines = [f"note: {warning}" for warning in selection.get("warnings", [])]
    if "pipeline_id" in selection:
        name = f" ({selection['name']})" if selection.get("name") else ""
        lines.append(f"{selection['selector']} picked pipeline {selection['pipeline_id']}{name} zero-shot from "
                     "the meta-features")
    return lines


class ZAP:
    """Fit the pipeline to a labelled dataset within a time budget, then predict new images.

    >>> model = ZAP(budget=60).fit("digits")          # doctest: +SKIP
    >>> model.summary()["accuracy"]                    # doctest: +SKIP
    """

    def __init__(
        self,
        budget: float = 60.0,
        config: str | Path | dict | None = None,
        selector: str | None = DEFAULT_SELECTOR,
        clock: str = "wall",
        device: str = "auto",
        threads: int | None = None,
        seed: int = 0,
        test_ratio: float = 0.2,
        max_test: int = 1000,
        on_corrupt: OnCorrupt = "fail",
        progress: bool = False,
    ):
        self.budget = budget
        self.config = config
        self.selector = selector
        self.clock = clock
        self.device = device
        self.threads = threads
        self.seed = seed
        self.test_ratio = test_ratio
        self.max_test = max_test
        self.on_corrupt = on_corrupt
        self.progress = progress

    def _threads(self) -> int:
        if self.threads is not None:
            return self.threads
        return 1 if self.clock == "cpu" else max(1, len(os.sched_getaffinity(0)))

    def _config(self) -> dict[str, Any]:
        """A fixed `config` wins; otherwise the zero-shot pick of `selector` from the meta-features."""
        if isinstance(self.config, dict):
            return as_dict(complete(self.config))
        if self.config is not None or self.selector is None:
            return as_dict(get_config(self.config or DEFAULT_CONFIG))
        return self._zero_shot()

    def _zero_shot(self) -> dict[str, Any]:
        from zap.selectors.trained import selector_path, suggest

        path = selector_path(self.selector)
        if not path.exists():
            self.selection_ = {"selector": self.selector, "fallback": DEFAULT_CONFIG,
                               "warnings": [f"no trained '{self.selector}' selector at {path} (train one with "
                                            "`zap meta-train`, or set $ZAP_HOME to a folder that holds "
                                            f"artifacts/selectors/); used the '{DEFAULT_CONFIG}' pipeline instead"]}
            return as_dict(get_config(DEFAULT_CONFIG))
        device = "cpu" if self.device == "auto" and not _cuda() else self.device
        result = suggest(self.meta_features_, self.selector, k=1, budget=self.budget, clock=self.clock,
                         threads=self._threads(), device=device)
        pick = result.suggestions[0]
        self.selection_ = {"selector": self.selector, "pipeline_id": pick.pipeline_id, "name": pick.name,
                           "score": pick.score, "warnings": result.warnings, "trained_on": result.trained_on}
        return as_dict(complete(pick.config))

    def fit(self, data: Any, extra: Any | None = None) -> ZAP:
        """Split `data`, fine-tune the pipeline on its train part within the budget; `extra` images get
        anytime predictions too (they are unlabelled test images, as in AutoDL)."""
        dataset = load_dataset(data, on_corrupt=self.on_corrupt)
        self.split_: DataSplit = train_test_split(
            dataset, SplitSettings(self.test_ratio, self.max_test, self.seed)
        )
        self.meta_features_: MetaFeatures = compute_metafeatures(self.split_.train)
        self.budget_ref_, self.clock_calibration_ = self._budget_in_reference_seconds()
        self.selection_: dict[str, Any] = {"selector": "fixed", "config": self._config_source()}
        self.pipeline_ = self._config()
        lines = selection_lines(self.selection_)
        if self.progress and lines:  # before training: the whole run is what it chose
            print("\n".join(lines), file=sys.stderr, flush=True)
        extra_images = as_images(extra, self.on_corrupt) if extra is not None else None
        self.result_: RunResult = run(
            self.split_.train, self.split_.test, self.pipeline_, Budget(self.budget, self.clock),
            seed=self.seed, threads=self._threads(), device=self.device, extra=extra_images,
            progress=self.progress,
        )
        self.extra_ = extra_images
        self.predictor_ = Predictor.from_result(self.result_)
        self.classes_ = np.asarray(self.result_.class_names)
        return self

    def _budget_in_reference_seconds(self) -> tuple[float | None, dict[str, Any] | None]:
        """The budget in the meta-dataset's units, which is what selection compares: as given on the `ref`
        clock, one thread's CPU seconds counted as reference seconds on the `cpu` clock, and on the wall
        clock through a short probe of this device and thread count (none for a step budget)."""
        if self.clock == "ref":
            return float(self.budget), None
        if self.clock == "cpu":
            return float(self.budget), {"method": "one thread's CPU second counted as one reference second"}
        if self.clock != "wall":
            return None, None
        from zap.finetune.calibrate import probe
        from zap.finetune.refclock import default_cost_table

        table = default_cost_table()
        if table is None:
            return None, {"method": "none: this zap ships no cost table"}
        speed = probe(table, self._threads(), self.device if self.device != "auto" else ("cuda" if _cuda() else "cpu"))
        return float(self.budget) * speed.ref_per_wall, speed.to_dict() | {"method": "device probe"}

    def refit(self) -> ZAP:
        """Retrain on all labelled data (train + test): the CNN for the steps the run made, or the quick
        model when its answer stood (the CNN never validated better)."""
        full = self.split_.train.base
        if self.result_.quick_model is not None:  # the quick model's answer stood: refit that model
            cache = PixelCache(full, self.result_.input_size)
            model, _ = quick.fit_on_images(self.result_.config["simple_model"], cache, np.arange(len(full)),
                                           full.labels, self.seed)
            self.predictor_ = replace(self.predictor_, quick_model=model)
            self.refit_steps_ = 0
            return self
        steps = max(1, int(self.result_.elapsed["steps"]))
        refit = run(full, None, self.pipeline_, Budget(steps, "steps"), seed=self.seed,
                    threads=self._threads(), device=self.device, progress=self.progress)
        self.predictor_ = Predictor.from_result(refit)
        self.refit_steps_ = steps
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        return self.predictor_.predict_proba(as_images(x, self.on_corrupt))

    def predict(self, x: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]

    def summary(self) -> dict[str, Any]:
        r = self.result_
        return {
            "pipeline": r.config,
            "pipeline_id": r.pipeline_id,
            "meta_features": self.meta_features_.to_dict(),
            "alc": r.alc,
            "final_nauc": r.final_nauc,
            "accuracy": r.accuracy,
            "elapsed_s": r.elapsed[f"{self.clock}_s"] if self.clock != "steps" else r.elapsed["wall_s"],
            "budget_s": self.budget,
            "clock": self.clock,
            "budget_ref_s": self.budget_ref_,
            "clock_calibration": self.clock_calibration_,
            "elapsed": r.elapsed,
            "status": r.status,
            "error": r.error,
            "n_predictions": len(r.curve),
            "answered_by": self.predictor_.answered_by,  # "cnn", or quick.ANSWERED_BY if the CNN never beat it
            "input_size": r.input_size,
            "threads": self._threads(),
            "selector": self.selection_["selector"],
            "selection": self.selection_,
            "config_source": self._config_source(),
            "seed": self.seed,
        }

    def _config_source(self) -> str:
        if isinstance(self.config, dict):
            return "dict"
        if self.config is None and self.selector is not None:
            return f"selector:{self.selector}"
        return str(self.config or DEFAULT_CONFIG)

    def save(self, folder: str | Path) -> Path:
        return self.predictor_.save(folder)
