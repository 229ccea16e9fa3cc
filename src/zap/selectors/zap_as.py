"""ZAP-AS: AutoFolio-style algorithm selection (Lindauer et al. 2015, as ZAP uses it), written here with scikit-learn.

The datasets are the instances and the pipelines the algorithms. One configuration (a point in
`zap_as_space`) picks the preprocessing of the meta-features (scaler, PCA), the selector type
and its random-forest or k-means settings; with `tune=True` SMAC3 picks it by group-held-out inner
cross-validation, as AutoFolio's `--tune` does with its inner CV folds.

Selector types (all return [n x n_pipelines] scores, higher is better):
    classifier        one RF classifier of the best pipeline, weighted by the row's std (AutoFolio's MultiClassifier)
    pairwise          one RF classifier of "i beats j" on [features, enc_i, enc_j], weighted by the gap
    regression-joint  one RF regressor on [features, encoding] (AutoFolio's JointRegressor)
    regression-per    one RF regressor per pipeline on the features
    clustering        k-means on the features; a cluster's mean performance per pipeline

Why rows are scaled to [0, 1] for the regression and clustering types: ALC scales differ a lot between
datasets (an easy dataset's worst pipeline can beat a hard dataset's best), so a regressor fitted to raw
values spends its capacity on "which dataset is easy" and a cluster mean is dominated by the easy
members; scaled per dataset, every dataset says only how the pipelines compare on it, which is all a
selector needs. The classifier types need no scaling: they only see the argmax or the sign of a gap
(the weights keep raw gaps, as AutoFolio does, so datasets where the choice matters count more).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from ConfigSpace import Categorical, Configuration, ConfigurationSpace, EqualsCondition, InCondition, Integer
from ConfigSpace.util import deactivate_inactive_hyperparameters
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from zap.selectors.base import MAX_SEED, Selector, SelectorError, check_choice, check_setting
from zap.selectors.baselines import column_means

if TYPE_CHECKING:
    from zap.selectors.store import StateReader

SELECTOR_TYPES = ("classifier", "pairwise", "regression-joint", "regression-per", "clustering")
RF_TYPES = SELECTOR_TYPES[:4]
# the forest settings every random-forest selector type uses (rf_criterion only the classifiers use)
RF_SETTINGS = ("rf_n_estimators", "rf_max_features", "rf_max_depth", "rf_min_samples_split", "rf_min_samples_leaf",
               "rf_bootstrap")
PAIRWISE_OPPONENTS = 64  # pairwise scoring compares each pipeline with at most this many fixed opponents
PAIRWISE_ROWS = 32  # datasets scored per forest call: bounds the pair matrix (rows x pipelines x opponents)
TIE_EPS = 1e-6  # below any real difference of probabilities: only decides exact ties
# Hyperparameters that configurations tuned by an older zap carry and this space has dropped; resolving
# such a configuration ignores them. AutoFolio's `imputer` never saw a missing value here (selectors
# refuse NaN meta-features and the ASlib reader imputes before fitting), so all its choices were one model.
RETIRED = frozenset({"imputer"})


# AutoFolio's untuned default: a pairwise random forest whose pair samples are weighted by the
# performance difference (the space's forest defaults are AutoFolio's). Hard to beat on small scenarios,
# so it is where tuning starts and what tuning must clearly beat to be left (`ZapAS.min_gain`).
AUTOFOLIO_DEFAULT = {"selector": "pairwise"}


def zap_as_space(n_features: int, seed: int = 0) -> ConfigurationSpace:
    """ZAP-AS's configuration space (AutoFolio's ranges, §6). PCA's upper bound follows the feature
    count (at least 2 so the range is valid; `n_components` is clipped again at fit time)."""
    pca_max = max(2, min(20, int(n_features)))
    space = ConfigurationSpace(seed=seed)
    space.add([
        Categorical("scaler", [True, False], default=True),
        Categorical("pca", [False, True], default=False),
        Integer("pca_n_components", (1, pca_max), default=min(7, pca_max), log=True),
        Categorical("selector", list(SELECTOR_TYPES), default=AUTOFOLIO_DEFAULT["selector"]),
        Integer("rf_n_estimators", (10, 100), default=10, log=True),
        Categorical("rf_criterion", ["gini", "entropy"], default="gini"),  # regressors: squared_error only
        Categorical("rf_max_features", ["sqrt", "log2", "all"], default="sqrt"),  # "all" is sklearn's None
        Integer("rf_max_depth", (10, 2**31), default=2**31, log=True),
        Integer("rf_min_samples_split", (2, 100), default=2, log=True),
        Integer("rf_min_samples_leaf", (2, 100), default=10, log=True),
        Categorical("rf_bootstrap", [True, False], default=True),
        Integer("clustering_k", (2, 20), default=5),
    ])
    selector = space["selector"]
    space.add([
        EqualsCondition(space["pca_n_components"], space["pca"], True),
        InCondition(space["rf_criterion"], selector, ["classifier", "pairwise"]),  # regressors have one criterion
        *(InCondition(space[name], selector, list(RF_TYPES)) for name in RF_SETTINGS),
        EqualsCondition(space["clustering_k"], selector, "clustering"),
    ])
    return space


def _native(value: Any) -> Any:
    """Plain Python values (ConfigSpace samples numpy scalars), so configs hash and print cleanly."""
    return value.item() if isinstance(value, np.generic) else value


def resolve_config(config: dict[str, Any] | None, space: ConfigurationSpace) -> dict[str, Any]:
    """The active values of `config` with the space's defaults filled in: a partial config such as
    {"selector": "clustering"} is complete afterwards. Which values are active is the space's conditions'
    call (ConfigSpace), so tuning and a given config cannot disagree. Unknown names or illegal values are
    errors; a `RETIRED` one is dropped."""
    given = {k: v for k, v in (config or {}).items() if k not in RETIRED}
    full = {name: hp.default_value for name, hp in space.items()}
    unknown = sorted(set(given) - set(full))
    if unknown:
        raise SelectorError(f"unknown ZAP-AS hyperparameter(s) {unknown}; known: {sorted(full)}")
    full.update(given)
    for name, value in full.items():
        if not space[name].legal_value(value):
            raise SelectorError(f"ZAP-AS hyperparameter {name}={value!r} is outside its range {space[name]}")
    active = dict(deactivate_inactive_hyperparameters(full, space))
    return {k: _native(v) for k, v in full.items() if k in active}


# ------------------------------------------------------------------------------------ helpers


def scale_rows(y: np.ndarray) -> np.ndarray:
    """Each dataset's row mapped to [0, 1] by its measured min and max (a constant row -> 0.5); NaN stays."""
    lo, hi = np.nanmin(y, axis=1, keepdims=True), np.nanmax(y, axis=1, keepdims=True)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(span > 0, (y - lo) / np.where(span > 0, span, 1.0), np.where(np.isnan(y), np.nan, 0.5))


def tie_break(means: np.ndarray) -> np.ndarray:
    """Tiny increasing offsets by training mean: equal scores then fall back to Single-best order."""
    ranks = np.argsort(np.argsort(means, kind="stable"), kind="stable")
    return TIE_EPS * ranks / max(len(means), 1)


def filled_means(y: np.ndarray, fallback: float = 0.0) -> np.ndarray:
    """Column means over measured cells, `fallback` for a column never measured."""
    means = column_means(y)
    return np.where(np.isfinite(means), means, fallback)


def rf_params(config: dict[str, Any], kind: str, seed: int) -> dict[str, Any]:
    """sklearn RandomForest arguments from a config; kind is "clf" or "reg". Regressors keep sklearn's
    squared_error: friedman_mse is a deprecated alias of it and absolute_error is too slow to tune."""
    max_features = None if config["rf_max_features"] == "all" else config["rf_max_features"]
    criterion = config["rf_criterion"] if kind == "clf" else "squared_error"
    return {"n_estimators": int(config["rf_n_estimators"]), "criterion": criterion,
            "max_features": max_features, "max_depth": min(int(config["rf_max_depth"]), 2**31 - 1),
            "min_samples_split": int(config["rf_min_samples_split"]),
            "min_samples_leaf": int(config["rf_min_samples_leaf"]), "bootstrap": bool(config["rf_bootstrap"]),
            "random_state": seed, "n_jobs": 1}


def preprocessor(config: dict[str, Any], n_samples: int, n_features: int, seed: int) -> Pipeline:
    """Optional scaler, optional PCA (components clipped to what the data allows); with neither, the
    features pass through."""
    steps: list[tuple[str, Any]] = []
    if config["scaler"]:
        steps.append(("scale", StandardScaler()))
    if config["pca"]:
        n = max(1, min(int(config["pca_n_components"]), n_features, n_samples))
        steps.append(("pca", PCA(n_components=n, random_state=seed)))
    return Pipeline(steps or [("identity", "passthrough")])


def pair_sample(y: np.ndarray, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(dataset, i, j) index arrays of ordered pairs i != j measured on the same dataset: all of them
    when there are at most `max_pairs`, else `max_pairs` drawn uniformly over all such pairs."""
    measured = ~np.isnan(y)
    m = measured.sum(axis=1)
    counts = m * (m - 1)
    cols = np.argsort(~measured, axis=1, kind="stable")  # each row's measured columns come first
    if counts.sum() <= max_pairs:
        parts = [(np.full(c, d), *_all_pairs(cols[d, : m[d]])) for d, c in enumerate(counts) if c > 0]
        if not parts:
            return tuple(np.zeros(0, dtype=int) for _ in range(3))
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))
    d = rng.choice(len(y), size=max_pairs, p=counts / counts.sum())
    a = rng.integers(0, m[d])
    b = rng.integers(0, m[d] - 1)
    b = b + (b >= a)
    return d, cols[d, a], cols[d, b]


def _all_pairs(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.meshgrid(cols, cols, indexing="ij")
    off = i != j
    return i[off], j[off]


# ------------------------------------------------------------------------------------ selector types


def forest_predict(forest, x: np.ndarray) -> np.ndarray:
    """A regression forest's prediction, tree by tree without joblib: identical to `forest.predict`
    but much faster for the single row of a zero-shot decision, where joblib's dispatch dominates
    (docs/selectors.md, "ZAP-AS")."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    return np.mean([tree.tree_.predict(x32).reshape(len(x32), -1)[:, 0] for tree in forest.estimators_], axis=0)


class ClassifierModel:
    """Predicts the best pipeline per dataset; a dataset's weight is the std of its row, so datasets
    where the choice hardly matters count little (AutoFolio's MultiClassifier)."""

    def __init__(self, config: dict[str, Any], seed: int, max_pairs: int):
        self.config, self.seed = config, seed

    def fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray) -> ClassifierModel:
        weight = np.nanstd(y, axis=1)
        weight = weight if weight.sum() > 0 else np.ones(len(y))
        self.rf_ = RandomForestClassifier(**rf_params(self.config, "clf", self.seed))
        self.rf_.fit(x, np.nanargmax(y, axis=1), sample_weight=weight)
        self.n_pipelines_, self.tie_ = enc.shape[0], tie_break(column_means(y))
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), self.n_pipelines_))
        out[:, self.rf_.classes_] = self.rf_.predict_proba(x)
        return out + self.tie_

    def state(self) -> dict[str, Any]:
        return {"forest": self.rf_, "tie": self.tie_}

    def restore(self, state: StateReader, enc: np.ndarray, width: int) -> ClassifierModel:
        self.n_pipelines_, self.tie_ = len(enc), state.array("tie", (len(enc),))
        self.rf_ = state.estimator("forest", (RandomForestClassifier,), width)
        if not np.isin(self.rf_.classes_, np.arange(len(enc))).all():
            raise state.error("forest", f"predicts classes outside the {len(enc)} pipelines")
        return self


class PairwiseModel:
    """One classifier of "pipeline i beats pipeline j on this dataset" over [features, enc_i, enc_j],
    each pair weighted by its gap (a near-tie teaches little); score_i = mean_j P(i beats j). The
    encodings let one model share what it learns across similar pipelines."""

    def __init__(self, config: dict[str, Any], seed: int, max_pairs: int):
        self.config, self.seed, self.max_pairs = config, seed, max_pairs

    def fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray) -> PairwiseModel:
        rng = np.random.default_rng(self.seed)
        d, i, j = pair_sample(y, self.max_pairs, rng)
        gap = y[d, i] - y[d, j]
        keep = gap != 0
        d, i, j, gap = d[keep], i[keep], j[keep], gap[keep]
        self.enc_, self.tie_ = enc, tie_break(column_means(y))
        n = enc.shape[0]
        self.opponents_ = np.arange(n) if n <= PAIRWISE_OPPONENTS else np.sort(
            rng.choice(n, PAIRWISE_OPPONENTS, replace=False))
        self.rf_ = None
        if len(np.unique(gap > 0)) == 2:
            self.rf_ = RandomForestClassifier(**rf_params(self.config, "clf", self.seed))
            self.rf_.fit(np.hstack([x[d], enc[i], enc[j]]), gap > 0, sample_weight=np.abs(gap))
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        if self.rf_ is None:  # no informative pair in training: Single-best order
            return np.tile(self.tie_, (len(x), 1))
        chunks = [self._rows(x[at:at + PAIRWISE_ROWS]) for at in range(0, len(x), PAIRWISE_ROWS)]
        return np.concatenate(chunks) + self.tie_

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """Each dataset's mean win probability against the opponents, from one forest call for all of `x`'s
        rows: a call per row spent most of an inner fold's scoring in the forest's per-call dispatch."""
        n, opp = self.enc_.shape[0], self.opponents_
        i, j = np.repeat(np.arange(n), len(opp)), np.tile(opp, n)
        pairs = np.hstack([self.enc_[i], self.enc_[j]])
        feats = np.hstack([np.repeat(x, len(i), axis=0), np.tile(pairs, (len(x), 1))])
        p_win = self.rf_.predict_proba(feats)[:, list(self.rf_.classes_).index(True)].reshape(len(x), n, len(opp))
        p_win = np.where((i == j).reshape(n, len(opp)), 0.0, p_win)
        return p_win.sum(axis=2) / np.maximum((i != j).reshape(n, len(opp)).sum(axis=1), 1)

    def state(self) -> dict[str, Any]:
        return {"forest": self.rf_, "tie": self.tie_, "opponents": self.opponents_}

    def restore(self, state: StateReader, enc: np.ndarray, width: int) -> PairwiseModel:
        n = len(enc)
        self.enc_, self.tie_ = enc, state.array("tie", (n,))
        self.opponents_ = state.indices("opponents", min(n, PAIRWISE_OPPONENTS), n)
        self.rf_ = state.estimator("forest", (RandomForestClassifier,), width + 2 * enc.shape[1], optional=True)
        if self.rf_ is not None and self.rf_.classes_.tolist() != [False, True]:
            raise state.error("forest", f"has classes {self.rf_.classes_.tolist()}, expected [False, True]")
        return self


class JointRegressionModel:
    """One regressor on [features, encoding] -> scaled performance (AutoFolio's JointRegressor); rows
    beyond `max_pairs` measured cells are subsampled (seeded) to bound fit time."""

    def __init__(self, config: dict[str, Any], seed: int, max_pairs: int):
        self.config, self.seed, self.max_pairs = config, seed, max_pairs

    def fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray) -> JointRegressionModel:
        target = scale_rows(y)
        d, p = np.nonzero(~np.isnan(target))
        if len(d) > self.max_pairs:
            keep = np.sort(np.random.default_rng(self.seed).choice(len(d), self.max_pairs, replace=False))
            d, p = d[keep], p[keep]
        self.enc_ = enc
        self.rf_ = RandomForestRegressor(**rf_params(self.config, "reg", self.seed))
        self.rf_.fit(np.hstack([x[d], enc[p]]), target[d, p])
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        n = self.enc_.shape[0]
        feats = np.hstack([np.repeat(x, n, axis=0), np.tile(self.enc_, (len(x), 1))])
        return forest_predict(self.rf_, feats).reshape(len(x), n)

    def state(self) -> dict[str, Any]:
        return {"forest": self.rf_}

    def restore(self, state: StateReader, enc: np.ndarray, width: int) -> JointRegressionModel:
        self.enc_ = enc
        self.rf_ = state.estimator("forest", (RandomForestRegressor,), width + enc.shape[1])
        return self


class PerPipelineRegressionModel:
    """One regressor per pipeline, features -> that pipeline's scaled performance (its NaN rows
    skipped); a pipeline measured on fewer than 2 datasets gets its training mean instead."""

    def __init__(self, config: dict[str, Any], seed: int, max_pairs: int):
        self.config, self.seed = config, seed

    def fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray) -> PerPipelineRegressionModel:
        target = scale_rows(y)
        self.means_ = filled_means(target)
        self.models_: list[RandomForestRegressor | None] = []
        for p in range(target.shape[1]):
            rows = ~np.isnan(target[:, p])
            model = None
            if rows.sum() >= 2:
                model = RandomForestRegressor(**rf_params(self.config, "reg", self.seed))
                model.fit(x[rows], target[rows, p])
            self.models_.append(model)
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        cols = [forest_predict(m, x) if m is not None else np.full(len(x), self.means_[p])
                for p, m in enumerate(self.models_)]
        return np.column_stack(cols)

    def state(self) -> dict[str, Any]:
        return {"means": self.means_, "forests": [{"forest": model} for model in self.models_]}

    def restore(self, state: StateReader, enc: np.ndarray, width: int) -> PerPipelineRegressionModel:
        self.means_ = state.array("means", (len(enc),))
        self.models_ = [forest.estimator("forest", (RandomForestRegressor,), width, optional=True)
                        for forest in state.children("forests", len(enc))]
        return self


class ClusteringModel:
    """k-means on the features; a new dataset gets its cluster's mean scaled performance per pipeline
    (the global mean where the cluster never measured that pipeline)."""

    def __init__(self, config: dict[str, Any], seed: int, max_pairs: int):
        self.config, self.seed = config, seed

    def fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray) -> ClusteringModel:
        target = scale_rows(y)
        k = max(1, min(int(self.config["clustering_k"]), len(x) - 1))
        self.kmeans_ = KMeans(n_clusters=k, n_init=10, random_state=self.seed)
        with warnings.catch_warnings():  # duplicate points: fewer distinct clusters than k is fine
            warnings.simplefilter("ignore")
            labels = self.kmeans_.fit_predict(x)
        overall = filled_means(target)
        self.means_ = np.tile(overall, (k, 1))
        for c in range(k):
            member = target[labels == c]
            seen = (~np.isnan(member)).any(axis=0)
            self.means_[c, seen] = np.nanmean(member[:, seen], axis=0)
        self.means_ += tie_break(overall)
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.means_[self.kmeans_.predict(x)]

    def state(self) -> dict[str, Any]:
        return {"kmeans": self.kmeans_, "means": self.means_}

    def restore(self, state: StateReader, enc: np.ndarray, width: int) -> ClusteringModel:
        self.kmeans_ = state.estimator("kmeans", (KMeans,), width)
        self.means_ = state.array("means", (len(self.kmeans_.cluster_centers_), len(enc)))
        return self


MODELS = {"classifier": ClassifierModel, "pairwise": PairwiseModel, "regression-joint": JointRegressionModel,
          "regression-per": PerPipelineRegressionModel, "clustering": ClusteringModel}


class ZapASModel:
    """One configuration fitted: the feature preprocessing followed by its selector type."""

    def __init__(self, config: dict[str, Any], seed: int = 0, max_pairs: int = 20000):
        self.config, self.seed, self.max_pairs = config, seed, max_pairs

    def fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray) -> ZapASModel:
        self.pre_ = preprocessor(self.config, x.shape[0], x.shape[1], self.seed).fit(x)
        model = MODELS[self.config["selector"]](self.config, self.seed, self.max_pairs)
        self.model_ = model.fit(self.pre_.transform(x), enc, y)
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.model_.scores(self.pre_.transform(x))

    def state(self) -> dict[str, Any]:
        return {"preprocessing": self.pre_, "model": self.model_.state()}

    def restore(self, state: StateReader, enc: np.ndarray, n_features: int) -> ZapASModel:
        """The fitted model from its state, for candidates `enc` and `n_features` meta-features."""
        self.pre_ = state.estimator("preprocessing", (Pipeline,))
        width = self.pre_.transform(np.zeros((1, n_features))).shape[1]  # refuses a scaler of another width
        model = MODELS[self.config["selector"]](self.config, self.seed, self.max_pairs)
        self.model_ = model.restore(state.child("model"), enc, width)
        return self


# ------------------------------------------------------------------------------------ inner CV


def inner_splits(groups: np.ndarray, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) row indices with whole groups held out: GroupKFold(min(n_folds, n_groups)),
    so no core's variants are on both sides (they are near-copies and would leak)."""
    groups = np.asarray(groups)
    n = min(int(n_folds), len(np.unique(groups)))
    if n < 2:
        raise SelectorError("inner cross-validation needs at least 2 groups")
    return list(GroupKFold(n_splits=n).split(np.zeros(len(groups)), groups=groups))


def normalized_regret(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per dataset (best - picked) / (best - worst) over its measured cells, the pick being the
    highest-scored measured pipeline (an unmeasured pick cannot be judged); 0 when best == worst."""
    measured = ~np.isnan(y)
    pick = np.argmax(np.where(measured, scores, -np.inf), axis=1)
    picked = y[np.arange(len(y)), pick]
    best, worst = np.nanmax(y, axis=1), np.nanmin(y, axis=1)
    span = best - worst
    return np.where(span > 0, (best - picked) / np.where(span > 0, span, 1.0), 0.0)


def inner_regrets(config: dict[str, Any], x: np.ndarray, enc: np.ndarray, y: np.ndarray, groups: np.ndarray,
                  n_folds: int = 5, seed: int = 0, max_pairs: int = 20000) -> np.ndarray:
    """Per dataset, the normalized regret of `config`'s pick when its group was held out (y oriented:
    higher is better), in row order."""
    regrets = np.zeros(len(y))
    for train, valid in inner_splits(groups, n_folds):
        model = ZapASModel(config, seed, max_pairs).fit(x[train], enc, y[train])
        regrets[valid] = normalized_regret(model.scores(x[valid]), y[valid])
    return regrets


def inner_loss(config: dict[str, Any], x: np.ndarray, enc: np.ndarray, y: np.ndarray, groups: np.ndarray,
               n_folds: int = 5, seed: int = 0, max_pairs: int = 20000) -> float:
    """Mean normalized regret of `config` on held-out groups (y oriented: higher is better)."""
    return float(inner_regrets(config, x, enc, y, groups, n_folds, seed, max_pairs).mean())


def clear_gain(start_regrets: np.ndarray, tuned_regrets: np.ndarray, groups: np.ndarray, min_gain: float,
               alpha: float = 0.05) -> tuple[bool, float | None]:
    """Whether the tuned configuration beats the start clearly: a mean regret lower by at least `min_gain`
    and a Wilcoxon signed-rank p below `alpha` over the groups (the unit inner CV holds out), with the
    gain's sign. Tuning that only fits the inner folds' noise ends worse out of sample than the start,
    so anything less keeps the start. Returns (leave the start, p)."""
    from scipy.stats import wilcoxon

    gain = float(start_regrets.mean() - tuned_regrets.mean())
    labels, index = np.unique(np.asarray(groups), return_inverse=True)
    per_group = np.bincount(index, start_regrets - tuned_regrets) / np.bincount(index)
    if gain < min_gain or len(labels) < 2 or np.all(per_group == 0):
        return False, None
    p = float(wilcoxon(per_group, alternative="greater").pvalue)
    return p < alpha, p


def _key(config: dict[str, Any]) -> str:
    return json.dumps({k: _native(v) for k, v in config.items()}, sort_keys=True)


def single_thread_surrogate(scenario):
    """The HPO facade's random-forest surrogate with its settings, but on one thread: SMAC's forest
    defaults to n_jobs=-1, which inside a Dask worker (a daemon process) makes joblib warn on every
    prediction and fall back to one job anyway, and outside one takes cores the caller did not give."""
    from smac.model.random_forest import RandomForest

    return RandomForest(scenario.configspace, log_y=True, n_trees=10, bootstrapping=True, ratio_features=1.0,
                        min_samples_split=2, min_samples_leaf=1, max_depth=2**20,
                        instance_features=scenario.instance_features, seed=scenario.seed, n_jobs=1)


def tune_config(space: ConfigurationSpace, start: dict[str, Any], loss, n_trials: int,
                seed: int) -> tuple[dict[str, Any], dict[str, float]]:
    """SMAC3 (HPO facade, deterministic) over `space`, `start` evaluated first; returns the config with the
    lowest loss seen and {"best_loss", "default_loss", "n_evaluated"}. Output goes to a temporary folder."""
    from smac import HyperparameterOptimizationFacade as Facade
    from smac import Scenario

    seen: dict[str, tuple[dict[str, Any], float]] = {}

    def target(config: Configuration, seed: int = 0) -> float:  # the model's seed is fixed: deterministic
        values = {k: _native(v) for k, v in dict(config).items()}
        if _key(values) not in seen:
            seen[_key(values)] = (values, loss(values))
        return seen[_key(values)][1]

    folder = tempfile.mkdtemp(prefix="zap-as-smac-")
    try:
        scenario = Scenario(space, name="zap-as", output_directory=folder, deterministic=True,
                            n_trials=int(n_trials), seed=seed)
        design = Facade.get_initial_design(scenario, additional_configs=[Configuration(space, values=start)])
        model = single_thread_surrogate(scenario)
        with warnings.catch_warnings():  # SMAC's local search averages empty slices on tiny run histories,
            warnings.simplefilter("ignore", RuntimeWarning)  # and it calls ConfigSpace's deprecated API
            warnings.simplefilter("ignore", DeprecationWarning)
            Facade(scenario, target, model=model, initial_design=design, overwrite=True,
                   logging_level=40).optimize()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    default_loss = seen[_key(start)][1] if _key(start) in seen else loss(start)
    best, best_loss = min(seen.values(), key=lambda item: item[1]) if seen else (start, default_loss)
    if default_loss <= best_loss:  # ties go to the start config
        best, best_loss = start, default_loss
    return best, {"best_loss": best_loss, "default_loss": default_loss, "n_evaluated": len(seen)}


# ------------------------------------------------------------------------------------ the selector


class ZapAS(Selector):
    """AutoFolio-style selection (see the module docstring). `config` is a full or partial ZAP-AS
    configuration (missing values take the space's defaults, AutoFolio's); with `tune=True` it is only
    SMAC's starting point, `n_trials` configurations are tried by `inner_folds`-fold group-held-out CV,
    and the best of them replaces the start only on a clear gain (`clear_gain`, `min_gain`)."""

    name = "zap-as"

    def __init__(self, config: dict[str, Any] | None = None, tune: bool = True, n_trials: int = 50,
                 inner_folds: int = 5, seed: int = 0, max_pairs: int = 20000, min_gain: float = 0.02):
        self.config = dict(config) if config else None
        self.tune = tune
        self.min_gain = min_gain
        self.n_trials = n_trials
        self.inner_folds = inner_folds
        self.seed = seed
        self.max_pairs = max_pairs

    def _check_settings(self) -> None:
        config = self.config
        if not (config is None or (isinstance(config, dict) and all(isinstance(key, str) for key in config))):
            raise SelectorError(f"ZapAS setting config must be a dict of hyperparameters, got {self.config!r}")
        check_choice(self, "tune", (True, False))
        for name, low, high in (("n_trials", 1, 10**6), ("inner_folds", 2, 1000), ("seed", 0, MAX_SEED),
                                ("max_pairs", 1, 10**9)):
            check_setting(self, name, low, high)
        check_setting(self, "min_gain", -1, 1, whole=False)

    def _fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        space = zap_as_space(x.shape[1], self.seed)
        start = resolve_config(self.config, space)
        self.config_, self.tuning_ = start, None
        if self.tune:
            began = time.perf_counter()

            def loss(config: dict[str, Any]) -> float:
                return inner_loss(config, x, enc, y, groups, self.inner_folds, self.seed, self.max_pairs)

            tuned, result = tune_config(space, start, loss, self.n_trials, self.seed)
            self.config_, result["kept_start"], result["gain_p"] = self._keep_or_leave(start, tuned, x, enc, y,
                                                                                     groups)
            self.tuning_ = {"n_trials": self.n_trials, **result, "seconds": time.perf_counter() - began}
        self.model_ = ZapASModel(self.config_, self.seed, self.max_pairs).fit(x, enc, y)

    def _keep_or_leave(self, start, tuned, x, enc, y, groups) -> tuple[dict[str, Any], bool, float | None]:
        """The tuned configuration if inner CV shows it clearly better than the start, else the start."""
        if tuned == start:
            return start, True, None
        regrets = [inner_regrets(c, x, enc, y, groups, self.inner_folds, self.seed, self.max_pairs)
                   for c in (start, tuned)]
        leave, p = clear_gain(*regrets, groups, self.min_gain)
        return (tuned, False, p) if leave else (start, True, p)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return self.model_.scores(x)

    def _state(self) -> dict[str, Any]:
        return {"config": self.config_, "tuning": self.tuning_, "model": self.model_.state()}

    def _from_state(self, state: StateReader) -> None:
        config = state.value("config", dict)
        if resolve_config(config, zap_as_space(self.n_features_, self.seed)) != config:
            raise state.error("config", "is not a complete ZAP-AS configuration")
        self.config_, self.tuning_ = config, state.value("tuning", (dict, type(None)))
        self.model_ = ZapASModel(config, self.seed, self.max_pairs).restore(state.child("model"), self.encodings_,
                                                                            self.n_features_)
