"""A fine-tuned model as a self-contained artifact: save it, load it anywhere, predict new images.

The saved folder holds the weights (`model.pt`) and everything needed to rebuild the network and its
input pipeline (`model.json`), so prediction needs neither the training data nor the weight packages.
When the run's last released prediction came from the quick model (the CNN never validated better
within the budget), that model answers (`quick_model.pkl`, a pickled scikit-learn estimator: load only
folders you trust, as with any pickle), and `model.json` says so in `answered_by`. `model.json` also
records the versions of zap, torch, timm and scikit-learn that saved it; loading under others warns
(`zap.resources.VersionMismatchWarning`). Folders saved before the rename (`answers_with`,
`simple_model.pkl`) still load.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zap.data.dataset import ImageDataset
from zap.errors import ArtifactError
from zap.finetune import quick
from zap.finetune.batches import InputTransform, PixelCache
from zap.finetune.runner import PREDICT_BATCH, RunResult
from zap.pipelines.zoo import create_model
from zap.resources import check_versions, versions

SCHEMA_VERSION = 1
QUICK_MODEL_FILE = "quick_model.pkl"
# What older zaps wrote: the file name and the key of `model.json` that named who answered.
OLD_QUICK_MODEL_FILE = "simple_model.pkl"
OLD_ANSWERED_BY_KEY = "answers_with"


@dataclass
class Predictor:
    model: nn.Module
    architecture: str
    class_names: list[str]
    input_size: int
    n_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    config: dict[str, Any]
    pipeline_id: str
    quick_model: Any = None  # answers instead of the CNN when set

    @classmethod
    def from_result(cls, result: RunResult) -> Predictor:
        return cls(result.model, result.config["architecture"], result.class_names, result.input_size,
                   result.n_channels, result.mean, result.std, result.config, result.pipeline_id,
                   result.quick_model)

    @property
    def answered_by(self) -> str:
        return "cnn" if self.quick_model is None else quick.ANSWERED_BY

    def metadata(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "architecture": self.architecture, "class_names": self.class_names,
            "input_size": self.input_size, "n_channels": self.n_channels, "mean": list(self.mean),
            "std": list(self.std), "config": self.config, "pipeline_id": self.pipeline_id,
            "answered_by": self.answered_by, "versions": versions(),
        }

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "model.pt")
        for stale in (QUICK_MODEL_FILE, OLD_QUICK_MODEL_FILE):  # from an earlier fit into the same folder
            (folder / stale).unlink(missing_ok=True)
        if self.quick_model is not None:
            (folder / QUICK_MODEL_FILE).write_bytes(pickle.dumps(self.quick_model))
        (folder / "model.json").write_text(json.dumps(self.metadata(), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Predictor:
        folder = Path(folder)
        meta_path, weights_path = folder / "model.json", folder / "model.pt"
        if not meta_path.is_file() or not weights_path.is_file():
            raise ArtifactError(f"{folder} is not a saved zap model: it needs model.json and model.pt "
                                "(written by `zap fit --out DIR` into DIR/model)")
        meta = json.loads(meta_path.read_text())
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise ArtifactError(f"{folder} was saved with model schema {meta.get('schema_version')}, this zap "
                                f"reads schema {SCHEMA_VERSION}; re-run `zap fit` to save it again")
        check_versions(meta.get("versions"), f"model {folder}", "re-run `zap fit`")
        model = create_model(meta["architecture"], len(meta["class_names"]), pretrained=False)
        model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        return cls(model.eval(), meta["architecture"], meta["class_names"], meta["input_size"],
                   meta["n_channels"], tuple(meta["mean"]), tuple(meta["std"]), meta["config"],
                   meta["pipeline_id"], _load_quick_model(folder, meta))

    @torch.no_grad()
    def predict_proba(self, images: ImageDataset, device: str = "cpu") -> np.ndarray:
        """Class probabilities (N, n_classes) for every image of `images`."""
        model = self.model.to(device).eval()
        # Streams (each image is read once) in the channels the model was trained on.
        cache = PixelCache(images, self.input_size, max_bytes=0, channels=self.n_channels)
        transform = InputTransform(self.mean, self.std, torch.device(device))
        n_classes = len(self.class_names)
        out = []
        for start in range(0, len(images), PREDICT_BATCH):
            batch = cache.batch(np.arange(start, min(len(images), start + PREDICT_BATCH)))
            if self.quick_model is not None:
                out.append(quick.predict_proba(self.quick_model, quick.thumbnails(batch), n_classes))
            else:
                out.append(model(transform(batch)).float().softmax(dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, n_classes))

    def predict(self, images: ImageDataset) -> np.ndarray:
        return np.asarray(self.class_names)[self.predict_proba(images).argmax(axis=1)]


def _load_quick_model(folder: Path, meta: dict[str, Any]) -> Any:
    """The pickled quick model when `model.json` says it answered, else None; reads older zaps' folders too."""
    if meta.get("answered_by", meta.get(OLD_ANSWERED_BY_KEY)) != quick.ANSWERED_BY:
        return None
    for name in (QUICK_MODEL_FILE, OLD_QUICK_MODEL_FILE):
        if (folder / name).is_file():
            return pickle.loads((folder / name).read_bytes())
    raise ArtifactError(f"{folder}/model.json says the quick model answered, but {QUICK_MODEL_FILE} is missing; "
                        "copy the whole folder, or re-run `zap fit`")
