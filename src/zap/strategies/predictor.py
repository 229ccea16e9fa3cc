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
        if not isinstance(meta, dict) or meta.get("schema") != PREDICTOR_SCHEMA:
            found = meta.get("schema") if isinstance(meta, dict) else None
            raise ArtifactError(f"{path} has curve-predictor schema {found!r}; this zap reads "
                                f"{PREDICTOR_SCHEMA}: train it again with `zap meta-train --refine`")
        try:
            return _restored(cls, state, meta)
        except _Damaged as exc:
            raise ArtifactError(f"{path} is not a usable zap curve predictor: {exc}; train it again with "
                                "`zap meta-train --refine`") from None


class _Damaged(Exception):
    """What is wrong inside a saved predictor, before `load` names the file."""


# A saved predictor's settings may size no network larger than these: a file's numbers must never decide an
# allocation its weights do not back (the shipped one has 5 members of 64 units).
LIMITS = {"n_members": 100, "hidden": 4096, "epochs": 100_000, "batch_size": 1 << 20, "seed": 2**32 - 1}
MAX_FEATURES = 10_000


def _whole(place: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _Damaged(f"{place} is {value!r}, expected a whole number in [{low}, {high}]")
    return value


def _restored(cls: type[CurvePredictor], state: dict, meta: dict) -> tuple[CurvePredictor, dict]:
    """Every setting and array checked against what the settings imply, then the networks built."""
    params, context = meta.get("params"), meta.get("context")
    if not isinstance(params, dict) or set(params) != set(LIMITS) | {"lr", "weight_decay"}:
        raise _Damaged(f"params must hold exactly {sorted(set(LIMITS) | {'lr', 'weight_decay'})}")
    for name, high in LIMITS.items():
        _whole(f"params.{name}", params[name], 0 if name == "seed" else 1, high)
    for name in ("lr", "weight_decay"):
        if not isinstance(params[name], float | int) or not np.isfinite(params[name]) or params[name] < 0:
            raise _Damaged(f"params.{name} is {params[name]!r}, expected a finite number >= 0")
    if not isinstance(context, dict):
        raise _Damaged("context is missing or not a JSON object")
    n_in = _whole("n_in", meta.get("n_in"), 1, MAX_FEATURES)
    n_out = _whole("n_out", meta.get("n_out"), len(TARGETS), len(TARGETS))
    predictor = cls(**params)
    predictor.n_in_, predictor.n_out_ = n_in, n_out
    predictor.x_mean_, predictor.x_std_ = (_vector(state, name, n_in) for name in ("x_mean", "x_std"))
    if not (predictor.x_std_ > 0).all():
        raise _Damaged("x_std holds a spread <= 0, which no fit writes")
    members = state.get("members")
    if not isinstance(members, list) or not 1 <= len(members) <= predictor.n_members:
        raise _Damaged(f"members must be a list of 1 to n_members ({predictor.n_members}) weight sets")
    with torch.device("meta"):  # the layers' shapes, with no memory spent on weights
        shapes = {name: tuple(t.shape) for name, t in _Member(n_in, predictor.hidden, n_out).state_dict().items()}
    predictor.members_ = []
    for index, weights in enumerate(members):
        found = ({name: tuple(t.shape) for name, t in weights.items() if isinstance(t, torch.Tensor)}
                 if isinstance(weights, dict) else None)
        if found != shapes or len(weights) != len(shapes):
            raise _Damaged(f"members[{index}] does not hold the weights of a {n_in}-{predictor.hidden}-{n_out} "
                           "network")
        member = _Member(n_in, predictor.hidden, n_out)
        member.load_state_dict(weights)
        predictor.members_.append(member.eval())
    return predictor, context


def _vector(state: dict, name: str, length: int) -> np.ndarray:
    tensor = state.get(name)
    if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != (length,) or not torch.isfinite(tensor).all():
        raise _Damaged(f"{name} is not {length} finite numbers")
    return tensor.numpy()


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
