"""The learning-curve predictor `refine` decides with: a deep ensemble (Lakshminarayanan et al., 2017).

Each member is a small MLP with a mean and a log-variance head per target, trained by Gaussian negative
log-likelihood on a bootstrap of the rows; the ensemble's prediction is the mixture's mean and standard
deviation. The members' disagreement is the uncertainty about what was never seen (a pipeline on an
unusual dataset), the variance heads the noise of a single run; acquisition needs both.

Saved as plain tensors and JSON (`torch.load(weights_only=True)`), so loading a shipped or downloaded
predictor runs no code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from zap.errors import ArtifactError, ConfigError
from zap.finetune.threads import torch_threads
from zap.resources import selectors_dir
from zap.strategies.curves import CURVE_FEATURES, TARGETS, all_level_rows

PREDICTOR_SCHEMA = 1
MIN_STD = 1e-3
PREDICTOR_FILE = "refine-curves.pt"


class _Member(nn.Module):
    def __init__(self, n_in: int, hidden: int, n_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mean = nn.Linear(hidden, n_out)
        self.log_var = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mean(h), self.log_var(h).clamp(-12.0, 4.0)


class CurvePredictor:
    """Predicts a run's ALC and final NAUC (with their spread) from the dataset, budget, pipeline and the
    partial curve (`zap.strategies.curves`). scikit-learn style: settings in `__init__`, `fit`, `predict`."""

    def __init__(self, n_members: int = 5, hidden: int = 64, epochs: int = 60, batch_size: int = 1024,
                 lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0):
        if min(n_members, hidden, epochs, batch_size) < 1 or not lr > 0:
            raise ConfigError("CurvePredictor needs n_members, hidden, epochs and batch_size >= 1 and lr > 0")
        self.n_members, self.hidden, self.epochs, self.batch_size = n_members, hidden, epochs, batch_size
        self.lr, self.weight_decay, self.seed = lr, weight_decay, seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> CurvePredictor:
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.ndim != 2 or len(x) < 2 or len(x) != len(y):
            raise ConfigError(f"a curve predictor needs >= 2 rows of features and targets, got {x.shape}, {y.shape}")
        # a feature constant in training (an encoding column no candidate varies) is centred, not scaled: a
        # user's pipeline that differs there must not be blown up by a near-zero spread
        spread = x.std(axis=0)
        self.x_mean_, self.x_std_ = x.mean(axis=0), np.where(spread > 1e-6, spread, 1.0)
        self.n_in_, self.n_out_ = x.shape[1], y.shape[1]
        rng = np.random.default_rng(self.seed)
        with torch_threads(1):
            self.members_ = [self._fit_member(x, y, rng.integers(0, len(x), len(x)), m)
                             for m in range(self.n_members)]
        return self

    def _fit_member(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray, index: int) -> _Member:
        torch.manual_seed(self.seed * 1000 + index)
        member = _Member(self.n_in_, self.hidden, self.n_out_)
        xt = torch.tensor((x[rows] - self.x_mean_) / self.x_std_, dtype=torch.float32)
        yt = torch.tensor(y[rows], dtype=torch.float32)
        optimizer = torch.optim.AdamW(member.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = nn.GaussianNLLLoss()
        order = torch.Generator().manual_seed(self.seed * 1000 + index)
        for _ in range(self.epochs):
            for batch in torch.randperm(len(xt), generator=order).split(self.batch_size):
                mean, log_var = member(xt[batch])
                loss = loss_fn(mean, yt[batch], log_var.exp())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return member.eval()

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per row and target: the mixture of the members' Gaussians."""
        x = np.atleast_2d(np.asarray(x, float))
        if x.shape[1] != self.n_in_:
            raise ConfigError(f"this curve predictor takes {self.n_in_} features, got {x.shape[1]}")
        xt = torch.tensor((x - self.x_mean_) / self.x_std_, dtype=torch.float32)
        with torch.no_grad(), torch_threads(1):
            outs = [member(xt) for member in self.members_]
        means = np.stack([m.numpy() for m, _ in outs])
        variances = np.stack([v.exp().numpy() for _, v in outs])
        mean = means.mean(axis=0)
        var = (variances + means ** 2).mean(axis=0) - mean ** 2
        return mean, np.sqrt(np.maximum(var, MIN_STD ** 2))

    def target_index(self, objective: str) -> int:
        return TARGETS.index("alc" if objective == "alc" else "final")

    # ----------------------------------------------------------------------------------------- files
    def save(self, path: str | Path, context: dict | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"schema": PREDICTOR_SCHEMA, "params": self.get_params(), "n_in": self.n_in_, "n_out": self.n_out_,
                "targets": list(TARGETS), "context": context or {}}
        state = {"meta": json.dumps(meta), "x_mean": torch.tensor(self.x_mean_), "x_std": torch.tensor(self.x_std_),
                 "members": [m.state_dict() for m in self.members_]}
        tmp = path.with_name(path.name + ".partial")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    def get_params(self) -> dict:
        return {"n_members": self.n_members, "hidden": self.hidden, "epochs": self.epochs,
                "batch_size": self.batch_size, "lr": self.lr,
                "weight_decay": self.weight_decay, "seed": self.seed}

    @classmethod
    def load(cls, path: str | Path) -> tuple[CurvePredictor, dict]:
        """The predictor and the context it was saved with; tensors and JSON only, no code runs."""
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"no curve predictor at {path}; train one with `zap meta-train --refine`")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(state["meta"])
        except Exception as exc:  # a damaged or foreign file, whatever torch or json make of it
            raise ArtifactError(f"{path} is not a zap curve predictor ({type(exc).__name__}: {exc})") from None
        if meta.get("schema") != PREDICTOR_SCHEMA:
            raise ArtifactError(f"{path} has curve-predictor schema {meta.get('schema')!r}; this zap reads "
                                f"{PREDICTOR_SCHEMA}: train it again with `zap meta-train --refine`")
        predictor = cls(**meta["params"])
        predictor.n_in_, predictor.n_out_ = meta["n_in"], meta["n_out"]
        predictor.x_mean_, predictor.x_std_ = state["x_mean"].numpy(), state["x_std"].numpy()
        predictor.members_ = []
        for weights in state["members"]:
            member = _Member(predictor.n_in_, predictor.hidden, predictor.n_out_)
            member.load_state_dict(weights)
            predictor.members_.append(member.eval())
        return predictor, meta["context"]


def predictor_path(folder: str | Path | None = None) -> Path:
    """Where `zap meta-train --refine` puts the curve predictor: beside the selectors."""
    return Path(folder or selectors_dir()) / PREDICTOR_FILE


def meta_train_predictor(artifact: str | Path, out: str | Path | None = None, seed: int = 0) -> dict:
    """Fit the curve predictor on every stored curve of the artifact (every level) and save it; returns its
    path, row count and seconds."""
    from zap.metadataset.artifact import load, measured_budgets

    start = time.perf_counter()
    payload = load(Path(artifact))
    rows = all_level_rows(payload)
    if len(rows.x) < 2:
        raise ArtifactError(f"{artifact} stores no learning curves to train the refine predictor on")
    predictor = CurvePredictor(seed=seed).fit(rows.x, rows.y)
    context = {"protocol_hash": payload["protocol_hash"], "levels": measured_budgets(payload),
               "clock": payload["protocol"].get("clock"), "curve_features": list(CURVE_FEATURES),
               "n_rows": len(rows.x), "n_cores": len(set(rows.cores.tolist())),
               "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path = predictor.save(predictor_path(out), context)
    return {"path": str(path), "rows": len(rows.x), "seconds": round(time.perf_counter() - start, 2)}
