"""A fine-tuned model as a self-contained artifact: save it, load it anywhere, predict new images.

The saved folder holds the weights (`model.pt`) and everything needed to rebuild the network and its
input pipeline (`model.json`), so prediction needs neither the training data nor the weight packages.
When the run's last released prediction came from the quick simple model (the CNN never validated
better within the budget), that model answers (`simple_model.pkl`, a pickled scikit-learn estimator:
load only folders you trust, as with any pickle).
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
from zap.finetune import simple
from zap.finetune.batches import InputTransform, PixelCache
from zap.finetune.runner import PREDICT_BATCH, RunResult
from zap.pipelines.zoo import create_model

SCHEMA_VERSION = 1


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
    simple_model: Any = None  # answers instead of the CNN when set

    @classmethod
    def from_result(cls, result: RunResult) -> Predictor:
        return cls(result.model, result.config["architecture"], result.class_names, result.input_size,
                   result.n_channels, result.mean, result.std, result.config, result.pipeline_id,
                   result.simple_model)

    @property
    def answers_with(self) -> str:
        return "cnn" if self.simple_model is None else "simple_model"

    def metadata(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "architecture": self.architecture, "class_names": self.class_names,
            "input_size": self.input_size, "n_channels": self.n_channels, "mean": list(self.mean),
            "std": list(self.std), "config": self.config, "pipeline_id": self.pipeline_id,
            "answers_with": self.answers_with,
        }

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "model.pt")
        simple_path = folder / "simple_model.pkl"
        if self.simple_model is not None:
            simple_path.write_bytes(pickle.dumps(self.simple_model))
        elif simple_path.exists():
            simple_path.unlink()  # a stale one from an earlier fit into the same folder
        (folder / "model.json").write_text(json.dumps(self.metadata(), indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Predictor:
        folder = Path(folder)
        meta_path, weights_path = folder / "model.json", folder / "model.pt"
        if not meta_path.is_file() or not weights_path.is_file():
            raise ValueError(f"{folder} is not a saved zap model: it needs model.json and model.pt "
                             "(written by `zap fit --out DIR` into DIR/model)")
        meta = json.loads(meta_path.read_text())
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{folder} was saved with model schema {meta.get('schema_version')}, this zap "
                             f"reads schema {SCHEMA_VERSION}; re-run `zap fit` to save it again")
        model = create_model(meta["architecture"], len(meta["class_names"]), pretrained=False)
        model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        simple_model = None
        if meta.get("answers_with") == "simple_model":
            simple_path = folder / "simple_model.pkl"
            if not simple_path.is_file():
                raise ValueError(f"{folder}/model.json says the simple model answers, but simple_model.pkl is "
                                 "missing; copy the whole folder, or re-run `zap fit`")
            simple_model = pickle.loads(simple_path.read_bytes())
        return cls(model.eval(), meta["architecture"], meta["class_names"], meta["input_size"],
                   meta["n_channels"], tuple(meta["mean"]), tuple(meta["std"]), meta["config"],
                   meta["pipeline_id"], simple_model)

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
            if self.simple_model is not None:
                out.append(simple.predict_proba(self.simple_model, simple.thumbnails(batch), n_classes))
            else:
                out.append(model(transform(batch)).float().softmax(dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, n_classes))

    def predict(self, images: ImageDataset) -> np.ndarray:
        return np.asarray(self.class_names)[self.predict_proba(images).argmax(axis=1)]
