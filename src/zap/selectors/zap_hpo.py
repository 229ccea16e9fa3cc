"""ZAP-HPO: an MLP surrogate scoring (meta-features, pipeline encoding) pairs, trained to rank.

Training rows are the measured cells of the performance matrix. With the default `bpr` loss each row
(the anchor) draws, every epoch, one pipeline that did strictly better and one that did strictly
worse *on the same dataset* (the anchor itself when there is none), and the loss is the binary
cross-entropy on the three sigmoid score differences (anchor > worse, better > anchor, better > worse):
only the order within a dataset matters, so datasets whose ALC scales differ count alike. `regression`
(MSE on z-scored performance) is the ablation.

Model selection as in the paper: the groups (cores) are split into folds; each fold model trains on
the other folds and keeps the epoch whose top-1 pick has the lowest mean true rank on its held-out
groups. To rank a new dataset, every fold model scores all candidates; their scores, z-scored per
dataset, are averaged (`ensemble="zscore"`), or each model votes for its top-1 (`"vote"`, the ablation
and the paper's online submission). `n_seeds` > 1 repeats all of this with other seeds, so other fold
deals and initialisations, and pools every member's z-scores: the pick of a single seed moves with the
seed by as much as the gaps between methods, and the pool is what makes the shipped model stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zap.finetune.threads import torch_threads
from zap.selectors.base import MAX_SEED, Selector, SelectorError, Standardizer, check_choice, check_setting
from zap.selectors.baselines import column_means

if TYPE_CHECKING:
    from zap.selectors.store import StateReader

LOSSES = ("bpr", "regression", "listwise")
ENSEMBLES = ("zscore", "vote")
PAIR_WEIGHTS = ("none", "delta")
META_TRANSFORMS = ("none", "log")
SELECT_BY = ("rank", "regret")
# Bounds on the settings (`ZapHPO._check_settings`), far above any model zap trains (the paper's is 5 x 190, with
# 5 folds and 1 seed), but low enough that a saved file cannot ask for a network that fills the memory.
MAX_LAYERS, MAX_UNITS, MAX_MEMBERS, MAX_THREADS = 32, 4096, 100, 256
SEED_STRIDE = 7919  # member j of a seed ensemble uses seed + j * SEED_STRIDE: no overlap with the folds' seed + k


def group_folds(groups: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    """The groups dealt into `n_folds` folds in a seeded random order; returns, per fold, a boolean mask
    over datasets. A group is never split across folds."""
    names = np.unique(groups)
    if len(names) < 2:
        raise SelectorError("ZAP-HPO validates on held-out groups and needs at least 2 groups")
    order = np.random.default_rng(seed).permutation(names)
    k = min(n_folds, len(names))
    return [np.isin(groups, order[i::k]) for i in range(k)]


@dataclass
class Rows:
    """The measured cells of a performance matrix as training rows."""

    dataset: np.ndarray  # row -> dataset index
    pipeline: np.ndarray  # row -> pipeline index
    y: np.ndarray  # performance, higher is better

    @classmethod
    def of(cls, y: np.ndarray, datasets: np.ndarray) -> Rows:
        sub = y[datasets]
        d, p = np.nonzero(~np.isnan(sub))
        return cls(datasets[d], p, sub[d, p])


class PairSampler:
    """Draws, for every row, a uniformly random strictly-better and strictly-worse row of the same dataset.

    Rows are sorted by (dataset, performance); for an anchor, the worse rows of its dataset are the
    positions [start, lo) and the better ones [hi, end), so one epoch's draw is a few vector operations.
    """

    def __init__(self, rows: Rows):
        order = np.lexsort((rows.y, rows.dataset))
        self.order = order
        self.y = rows.y
        d, y = rows.dataset[order], rows.y[order]
        starts = np.searchsorted(d, d, side="left")
        ends = np.searchsorted(d, d, side="right")
        lo = np.empty(len(y), dtype=int)
        hi = np.empty(len(y), dtype=int)
        for s, e in zip(np.unique(starts), np.unique(ends), strict=True):
            lo[s:e] = s + np.searchsorted(y[s:e], y[s:e], side="left")
            hi[s:e] = s + np.searchsorted(y[s:e], y[s:e], side="right")
        self.start, self.end, self.lo, self.hi = starts, ends, lo, hi
        self.position = np.empty(len(y), dtype=int)
        self.position[order] = np.arange(len(y))

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(worse, better) row indices for every row, the anchor itself where none exists."""
        n = len(self.order)
        u, v = rng.random(n), rng.random(n)
        n_worse, n_better = self.lo - self.start, self.end - self.hi
        worse = np.where(n_worse > 0, self.start + (u * n_worse).astype(int), np.arange(n))
        better = np.where(n_better > 0, self.hi + (v * n_better).astype(int), np.arange(n))
        # back from sorted positions to row indices, anchors in their original order
        return self.order[worse[self.position]], self.order[better[self.position]]


@dataclass
class ListTargets:
    """Rows grouped by dataset, with ListNet's target: per dataset, the softmax of its performances
    z-scored within the dataset and divided by the temperature (a dataset with one value: uniform)."""

    groups: list[np.ndarray]  # per dataset, its row indices
    probability: np.ndarray  # row -> target probability within its dataset

    @classmethod
    def of(cls, rows: Rows, temperature: float) -> ListTargets:
        groups = [np.flatnonzero(rows.dataset == d) for d in np.unique(rows.dataset)]
        probability = np.empty(len(rows.y))
        for index in groups:
            z = zscore_rows(rows.y[index][None, :])[0] / temperature
            weights = np.exp(z - z.max())
            probability[index] = weights / weights.sum()
        return cls(groups, probability)


def _picked(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per dataset, the performance of the top-scored measured pipeline."""
    masked = np.where(np.isnan(y), -np.inf, scores)
    return y[np.arange(len(y)), masked.argmax(axis=1)]


def true_rank_of_pick(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per dataset, how many measured pipelines did strictly better than the top-scored measured one
    (0 = the pick was the best); the paper's rank@1."""
    return np.nansum(y > _picked(scores, y)[:, None], axis=1).astype(float)


def regret_of_pick(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per dataset, the performance lost by the top-scored measured pipeline against the best measured one:
    unlike rank@1 it weighs a near-tie as almost no mistake and a collapse as a large one."""
    return np.nanmax(y, axis=1) - _picked(scores, y)


def zscore_rows(scores: np.ndarray) -> np.ndarray:
    std = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(std == 0, 1.0, std)


class ZapHPO(Selector):
    """The ZAP-HPO surrogate. Defaults: the paper's 5 x 190 MLP with dropout 0.023, trained with Adam
    (lr 1e-3) for at most `max_epochs` with early stopping on the validation rank@1 (`patience`), which
    replaces the paper's 400 epochs of SGD at lr 1.6e-4 so that a model trains in seconds on a CPU."""

    name = "zap-hpo"

    def __init__(self, loss: str = "bpr", hidden_layers: int = 5, hidden_units: int = 190, dropout: float = 0.0233,
                 lr: float = 1e-3, weight_decay: float = 1e-5, batch_size: int = 64, max_epochs: int = 80,
                 patience: int = 15, n_folds: int = 5, ensemble: str = "zscore", keep: float = 1.0,
                 use_meta_features: bool = True, meta_transform: str = "none", pair_weight: str = "none",
                 prior: float = 0.0, select_by: str = "rank", list_temperature: float = 0.5, n_seeds: int = 1,
                 seed: int = 0, threads: int = 1):
        self.loss = loss
        self.hidden_layers = hidden_layers
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.n_folds = n_folds
        self.ensemble = ensemble
        self.keep = keep
        self.use_meta_features = use_meta_features
        self.meta_transform = meta_transform
        self.pair_weight = pair_weight
        self.prior = prior
        self.select_by = select_by
        self.list_temperature = list_temperature
        self.n_seeds = n_seeds
        self.seed = seed
        self.threads = threads

    # ------------------------------------------------------------------------------------ training

    def _fit(self, x, enc, y, groups) -> None:
        self.models_, self.history_ = [], []
        rng = np.random.default_rng(self.seed)
        y = self._sparsified(y, rng)
        self.prior_ = self._single_best_prior(y)
        with torch_threads(self.threads):
            for member in range(self.n_seeds):
                seed = self.seed + member * SEED_STRIDE
                for k, validation in enumerate(group_folds(groups, self.n_folds, seed)):
                    model, scaler, history = self._fit_fold(x, enc, y, ~validation, validation, seed + k)
                    self.models_.append((model, scaler))
                    self.history_.append(history)

    def _check_settings(self) -> None:
        """`fit` checks these before training, and loading a saved ZAP-HPO before it builds any network: the
        network's size comes from them, so a file must not ask for one larger than `MAX_LAYERS` x `MAX_UNITS`,
        nor for a thread count torch refuses at scoring."""
        for option, allowed in (("loss", LOSSES), ("ensemble", ENSEMBLES), ("pair_weight", PAIR_WEIGHTS),
                                ("meta_transform", META_TRANSFORMS), ("select_by", SELECT_BY),
                                ("use_meta_features", (True, False))):
            check_choice(self, option, allowed)
        for name, low, high in (("hidden_layers", 0, MAX_LAYERS), ("hidden_units", 1, MAX_UNITS),
                                ("n_folds", 2, MAX_MEMBERS), ("n_seeds", 1, MAX_MEMBERS), ("threads", 1, MAX_THREADS),
                                ("batch_size", 1, 10**7), ("max_epochs", 1, 10**6), ("patience", 1, 10**6),
                                ("seed", 0, MAX_SEED)):
            check_setting(self, name, low, high)
        for name, low, high in (("dropout", 0, 0.99), ("weight_decay", 0, 1e3), ("prior", -1e12, 1e12)):
            check_setting(self, name, low, high, whole=False)
        for name, high in (("keep", 1), ("list_temperature", 1e6), ("lr", 1e3)):
            check_setting(self, name, 0, high, whole=False, open_low=True)

    @staticmethod
    def _single_best_prior(y: np.ndarray) -> np.ndarray:
        """The pipelines' z-scored mean training performance (never-measured ones at the lowest): what
        `prior` adds to the surrogate's z-scores, pulling a pick towards pipelines that do well everywhere
        when the meta-features say little."""
        means = column_means(y)
        finite = means[np.isfinite(means)]
        means = np.where(np.isfinite(means), means, finite.min() if len(finite) else 0.0)
        return zscore_rows(means[None, :])[0]

    def _sparsified(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.keep >= 1:
            return y
        dropped = (rng.random(y.shape) >= self.keep) & ~np.isnan(y)
        kept_any = ((~dropped) & ~np.isnan(y)).any(axis=1)
        dropped[~kept_any] = False  # a dataset keeps its cells rather than vanishing
        return np.where(dropped, np.nan, y)

    def _inputs(self, x: np.ndarray, enc: np.ndarray, datasets: np.ndarray, pipelines: np.ndarray) -> np.ndarray:
        if self.meta_transform == "log":  # sizes spread over orders of magnitude; sign-safe for any feature
            x = np.sign(x) * np.log1p(np.abs(x))
        parts = [x[datasets]] if self.use_meta_features else []
        return np.column_stack([*parts, enc[pipelines]])

    def _network(self, n_in: int):
        from torch import nn

        layers, width = [], n_in
        for _ in range(self.hidden_layers):  # Linear -> Dropout -> ReLU, as in the reference
            layers += [nn.Linear(width, self.hidden_units), nn.Dropout(self.dropout), nn.ReLU()]
            width = self.hidden_units
        return nn.Sequential(*layers, nn.Linear(width, 1))

    def _fit_fold(self, x, enc, y, train_mask, valid_mask, seed):
        import torch

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        rows = Rows.of(y, np.flatnonzero(train_mask))
        scaler = Standardizer().fit(self._inputs(x, enc, rows.dataset, rows.pipeline))
        inputs = torch.tensor(scaler.transform(self._inputs(x, enc, rows.dataset, rows.pipeline)),
                              dtype=torch.float32)
        model = self._network(inputs.shape[1])
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        step, state = self._loss_step(rows)
        valid = np.flatnonzero(valid_mask)
        criterion = true_rank_of_pick if self.select_by == "rank" else regret_of_pick
        best, best_state, waited, history = np.inf, None, 0, []
        for _ in range(self.max_epochs):
            model.train()
            step(model, optimizer, inputs, state, rng)
            loss = float(np.nan_to_num(criterion(self._score_with(model, scaler, x[valid], enc), y[valid]).mean(),
                                       nan=np.inf))
            history.append(loss)
            if loss < best or best_state is None:  # keep some state even if validation never scores
                best, waited = loss, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= self.patience:
                    break
        model.load_state_dict(best_state)
        model.eval()
        return model, scaler, {"epochs": len(history), "best_epoch": int(np.argmin(history)) + 1,
                               f"valid_{self.select_by}": best}

    def _loss_step(self, rows: Rows):
        """The epoch function of this loss and the state it draws from."""
        if self.loss == "bpr":
            return self._bpr_epoch, PairSampler(rows)
        if self.loss == "listwise":
            return self._listwise_epoch, ListTargets.of(rows, self.list_temperature)
        return self._regression_epoch, self._standardized_targets(rows)

    def _batches(self, n: int, rng: np.random.Generator):
        order = rng.permutation(n)
        return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]

    def _bpr_epoch(self, model, optimizer, inputs, sampler: PairSampler, rng) -> None:
        import torch
        from torch.nn.functional import logsigmoid

        worse, better = sampler.draw(rng)
        y = torch.as_tensor(sampler.y, dtype=torch.float32)
        for batch in self._batches(len(inputs), rng):
            # one forward pass over anchors, worse and better rows: a third of the calls at this size
            f_x, f_s, f_l = model(inputs[np.concatenate([batch, worse[batch], better[batch]])]).squeeze(-1).split(
                len(batch))
            terms = torch.cat([logsigmoid(f_x - f_s), logsigmoid(f_l - f_x), logsigmoid(f_l - f_s)])
            if self.pair_weight == "none":
                loss = -terms.mean()
            else:  # "delta": a pair counts by how much performance separates it, so costly mistakes dominate
                y_x, y_s, y_l = y[batch], y[worse[batch]], y[better[batch]]
                weights = torch.cat([y_x - y_s, y_l - y_x, y_l - y_s])
                loss = -(weights * terms).sum() / weights.sum().clamp_min(1e-12)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @staticmethod
    def _standardized_targets(rows: Rows):
        import torch

        std = rows.y.std() or 1.0
        return torch.tensor((rows.y - rows.y.mean()) / std, dtype=torch.float32)

    def _regression_epoch(self, model, optimizer, inputs, targets, rng) -> None:
        from torch.nn.functional import mse_loss

        for batch in self._batches(len(inputs), rng):
            loss = mse_loss(model(inputs[batch]).squeeze(-1), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def _listwise_epoch(self, model, optimizer, inputs, targets: ListTargets, rng) -> None:
        """Batches of whole datasets, about `batch_size` rows each; the loss is the mean over a batch's
        datasets of the cross-entropy between the target and the softmax of the scores within a dataset."""
        import torch

        per_batch = max(1, round(self.batch_size * len(targets.groups) / len(inputs)))
        probability = torch.as_tensor(targets.probability, dtype=torch.float32)
        order = rng.permutation(len(targets.groups))
        for start in range(0, len(order), per_batch):
            chosen = [targets.groups[d] for d in order[start:start + per_batch]]
            index = torch.as_tensor(np.concatenate(chosen))
            group = torch.as_tensor(np.repeat(np.arange(len(chosen)), [len(c) for c in chosen]))
            scores = model(inputs[index]).squeeze(-1)
            peak = torch.full((len(chosen),), -torch.inf).scatter_reduce(0, group, scores.detach(), "amax")
            total = torch.zeros(len(chosen)).index_add(0, group, torch.exp(scores - peak[group]))
            log_probability = scores - (peak + torch.log(total))[group]
            loss = -(probability[index] * log_probability).sum() / len(chosen)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    # ------------------------------------------------------------------------------------ scoring

    def _score_with(self, model, scaler: Standardizer, x: np.ndarray, enc: np.ndarray) -> np.ndarray:
        import torch

        n, p = len(x), len(enc)
        grid = self._inputs(x, enc, np.repeat(np.arange(n), p), np.tile(np.arange(p), n))
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(torch.tensor(scaler.transform(grid), dtype=torch.float32)).squeeze(-1).numpy()
        model.train(was_training)
        return out.reshape(n, p).astype(float)

    def fold_scores(self, meta_features) -> np.ndarray:
        """[n_folds x n_datasets x n_pipelines] raw scores of each fold model."""
        x = np.asarray(meta_features, dtype=float).reshape(-1, self.n_features_)
        with torch_threads(self.threads):
            return np.stack([self._score_with(m, s, x, self.encodings_) for m, s in self.models_])

    def _scores(self, x: np.ndarray) -> np.ndarray:
        per_model = np.stack([zscore_rows(s) for s in self.fold_scores(x)])
        mean = per_model.mean(axis=0) + self.prior * self.prior_
        if self.ensemble == "zscore":
            return mean
        votes = np.zeros_like(mean)
        for scores in per_model:
            votes[np.arange(len(scores)), scores.argmax(axis=1)] += 1
        return votes + 1e-3 * mean / (np.abs(mean).max() + 1e-12)  # ties among votes: the mean z-score

    # ------------------------------------------------------------------------------------ saving

    def _state(self) -> dict[str, Any]:
        """Each fold model as its input scaling and its weights (arrays: the network is rebuilt from the
        settings), the training history and the Single-best prior."""
        members = [{"mean": scaler.mean_, "std": scaler.std_,
                    "weights": {name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()}}
                   for model, scaler in self.models_]
        return {"members": members, "history": self.history_, "prior": self.prior_}

    def _from_state(self, state: StateReader) -> None:
        """The settings were checked (`_check_settings`); every weight array is checked against the layer
        shapes they give before any network is built, so a file's settings never size an allocation its
        arrays do not back."""
        import torch

        first = np.zeros(1, int)
        n_in = self._inputs(np.zeros((1, self.n_features_)), self.encodings_, first, first).shape[1]
        with torch.device("meta"):  # the layers' shapes, with no memory spent on weights
            shapes = {name: tuple(tensor.shape) for name, tensor in self._network(n_in).state_dict().items()}
        members = state.children("members")
        if not members:
            raise state.error("members", "is empty: a fitted ZAP-HPO has at least one fold model")
        if len(members) > self.n_folds * self.n_seeds:
            raise state.error("members", f"holds {len(members)} fold models, more than n_folds x n_seeds "
                                         f"({self.n_folds} x {self.n_seeds})")
        checked = [self._checked_member(member, n_in, shapes) for member in members]
        self.history_ = state.value("history", list)
        if len(self.history_) != len(members) or not all(isinstance(h, dict) for h in self.history_):
            raise state.error("history", f"is not one record per fold model ({len(members)})")
        self.prior_ = state.array("prior", (len(self.encodings_),))
        self.models_ = [(self._restored_network(n_in, weights), scaler) for scaler, weights in checked]

    @staticmethod
    def _checked_member(state: StateReader, n_in: int,
                        shapes: dict[str, tuple[int, ...]]) -> tuple[Standardizer, dict[str, np.ndarray]]:
        """A fold model's input scaling and weights, each array of the shape its layer has."""
        scaler = Standardizer()
        scaler.mean_, scaler.std_ = state.array("mean", (n_in,)), state.array("std", (n_in,))
        weights = state.child("weights")
        return scaler, {name: weights.array(name, shape) for name, shape in shapes.items()}

    def _restored_network(self, n_in: int, weights: dict[str, np.ndarray]):
        import torch

        model = self._network(n_in)
        model.load_state_dict({name: torch.from_numpy(array) for name, array in weights.items()})
        return model.eval()
