"""The one interface every selector implements, and what they share: input checks, ranking output,
feature scaling, and save/load with a schema version, a specification hash and the versions that saved it
(the file format, data only, is `zap.selectors.store`'s).

A selector learns from four arrays and nothing else (never images):
    meta_features       [n_datasets x f]   e.g. the four ZAP features
    pipeline_encodings  [n_pipelines x e]  `zap.pipelines.encode` rows, or a one-hot for plain algorithms
    performance         [n_datasets x n_pipelines], NaN where a cell is missing
    groups              [n_datasets]       the core (or any grouping) each dataset came from
so the same code learns from a ZAP meta-dataset and from an algorithm-selection scenario.
`rank(meta_features)` returns, per new dataset, every pipeline ordered best first with its score
(higher is better whatever `maximize` was: scores are oriented at fit time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from zap.errors import ZapError
from zap.resources import check_versions
from zap.utils import stable_hash

if TYPE_CHECKING:
    from zap.selectors.store import StateReader

SELECTOR_SCHEMA = 2  # 2: a zip of JSON, arrays and allow-listed skops estimators (`store`); 1 was a pickle
MAX_SEED = 2**32 - 1  # numpy's legacy seeding, ConfigSpace's and SMAC's, takes no larger seed


class SelectorError(ZapError, ValueError):
    """Bad input to a selector, or a saved selector that does not fit what it is used with."""


@dataclass(frozen=True)
class Ranking:
    """One dataset's candidates, best first: `order[i]` is a pipeline index, `scores[i]` its score."""

    order: np.ndarray
    scores: np.ndarray

    @property
    def best(self) -> int:
        return int(self.order[0])

    def top(self, k: int) -> list[tuple[int, float]]:
        return [(int(i), float(s)) for i, s in zip(self.order[:k], self.scores[:k], strict=True)]


def one_hot_encodings(n_pipelines: int) -> np.ndarray:
    """The encoding of algorithms that have no parameters (as in algorithm-selection scenarios)."""
    return np.eye(n_pipelines)


def check_inputs(meta_features, pipeline_encodings, performance, groups) -> tuple[np.ndarray, ...]:
    """Arrays of consistent shapes, or a SelectorError that says which one is wrong and how."""
    x = np.asarray(meta_features, dtype=float)
    enc = np.asarray(pipeline_encodings, dtype=float)
    y = np.asarray(performance, dtype=float)
    g = np.asarray(groups)
    if x.ndim != 2:
        raise SelectorError(f"meta_features must be 2-D [n_datasets x n_features], got shape {x.shape}")
    if enc.ndim != 2:
        raise SelectorError(f"pipeline_encodings must be 2-D [n_pipelines x n_dims], got shape {enc.shape}; "
                            "use one_hot_encodings(n) for algorithms without parameters")
    if y.shape != (x.shape[0], enc.shape[0]):
        raise SelectorError(f"performance has shape {y.shape}, expected (n_datasets, n_pipelines) = "
                            f"({x.shape[0]}, {enc.shape[0]}) from meta_features and pipeline_encodings")
    if g.shape != (x.shape[0],):
        raise SelectorError(f"groups must have one entry per dataset ({x.shape[0]}), got shape {g.shape}")
    if not np.isfinite(x).all():
        raise SelectorError("meta_features contain NaN or infinity; impute them first (e.g. with the training "
                            "rows' means, as zap.benchmark.aslib.impute_train_mean does)")
    if not np.isfinite(enc).all():
        raise SelectorError("pipeline_encodings contain NaN or infinity")
    if np.isinf(y).any():
        raise SelectorError("performance contains infinity; use NaN for missing cells")
    empty = np.isnan(y).all(axis=1)
    if empty.any():
        raise SelectorError(f"{int(empty.sum())} dataset(s) have no performance at all (rows "
                            f"{np.flatnonzero(empty)[:5].tolist()}...); drop them before fitting")
    if len(np.unique(g)) < 2:
        raise SelectorError("groups hold a single group; selectors validate on held-out groups and need >= 2")
    return x, enc, y, g


def oriented(performance: np.ndarray, maximize: bool) -> np.ndarray:
    """Performance turned so that higher is better."""
    return performance if maximize else -performance


class Standardizer:
    """Z-scores the columns that are not binary (one-hot and boolean columns stay 0/1), with the mean and
    std of the training rows; a zero std becomes 1. This is ZAP-HPO's input scaling (log scales are
    already in the pipeline encoding)."""

    def fit(self, x: np.ndarray) -> Standardizer:
        binary = np.all((x == 0) | (x == 1), axis=0)
        self.mean_ = np.where(binary, 0.0, x.mean(axis=0))
        std = x.std(axis=0)
        self.std_ = np.where(binary | (std == 0), 1.0, std)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.std_


def spec_hash(payload: Any) -> str:
    """A short hash of what a trained selector's meaning depends on (its settings and the candidates'
    encodings): loading it against other candidates is an error, not a silent mismatch."""
    return stable_hash(payload, default=lambda v: np.asarray(v).round(8).tolist(), compact=False)


def check_setting(selector: Selector, name: str, low: float, high: float, *, whole: bool = True,
                  open_low: bool = False) -> None:
    """Refuse a numeric setting of the wrong kind or outside [low, high] (`open_low`: (low, high]). A caller, or
    a saved selector's file, may set any value, and one out of range fails, or exhausts memory, deep in
    training or scoring instead of here."""
    value = getattr(selector, name)
    number = isinstance(value, int | np.integer) or (not whole and isinstance(value, float | np.floating))
    inside = number and not isinstance(value, bool) and (low < value if open_low else low <= value) and value <= high
    if not inside:
        kind, bracket = ("a whole number" if whole else "a number"), "(" if open_low else "["
        raise SelectorError(f"{type(selector).__name__} setting {name} must be {kind} in {bracket}{low}, {high}], "
                            f"got {value!r}")


def check_choice(selector: Selector, name: str, allowed: tuple[Any, ...]) -> None:
    """Refuse a setting that is not one of `allowed` (compared by type too: True is no 1)."""
    value = getattr(selector, name)
    if not any(type(value) is type(option) and value == option for option in allowed):
        raise SelectorError(f"{type(selector).__name__} setting {name} must be one of {allowed}, got {value!r}")


class Selector:
    """Base class: subclasses implement `_fit` and `_scores`; everything else is shared."""

    name: ClassVar[str] = "selector"

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def fit(self, meta_features, pipeline_encodings, performance, groups, maximize: bool = True) -> Selector:
        x, enc, y, g = check_inputs(meta_features, pipeline_encodings, performance, groups)
        self._check_settings()
        self.maximize_ = bool(maximize)
        self.n_features_ = x.shape[1]
        self.encodings_ = enc
        self.spec_hash_ = self.spec_hash_for(enc)
        self._fit(x, enc, oriented(y, self.maximize_), g)
        return self

    def spec_hash_for(self, encodings) -> str:
        """The spec hash of this selector, with its settings, for candidates of these encodings: what `fit`
        records, and what loading recomputes to refuse a selector whose candidates are now encoded otherwise."""
        return spec_hash({"selector": self.name, "params": self.get_params(),
                          "encodings": np.asarray(encodings, dtype=float), "n_features": self.n_features_,
                          "maximize": self.maximize_})

    def scores(self, meta_features) -> np.ndarray:
        """[n_datasets x n_pipelines] scores, higher is better."""
        if not hasattr(self, "spec_hash_"):
            raise SelectorError(f"{type(self).__name__} is not fitted: call fit(...) or load a saved one")
        x = np.asarray(meta_features, dtype=float)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != self.n_features_:
            raise SelectorError(f"{x.shape[1]} meta-features given, the selector was fitted on {self.n_features_}")
        return np.asarray(self._scores(x), dtype=float)

    def rank(self, meta_features) -> list[Ranking]:
        rankings = []
        for row in self.scores(meta_features):
            order = np.argsort(-row, kind="stable")
            rankings.append(Ranking(order, row[order]))
        return rankings

    def select(self, meta_features) -> np.ndarray:
        """The top-1 pipeline index per dataset."""
        return np.array([r.best for r in self.rank(meta_features)], dtype=int)

    def _check_settings(self) -> None:
        """Refuse settings that training or scoring could not use (`check_setting`, `check_choice`): `fit` runs
        it before training, and loading runs it on a saved file's settings before rebuilding its state."""

    def _fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        raise NotImplementedError

    def _scores(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ save/load

    def _state(self) -> dict[str, Any]:
        """The fitted attributes `_fit` sets, as JSON values, numpy arrays, scikit-learn estimators and selectors:
        what `save` writes, without pickle. A selector that can be saved says what they are."""
        raise SelectorError(f"{type(self).__name__} cannot be saved: it does not say what its fitted state is "
                            "(`_state` and `_from_state`, docs/extending.md)")

    def _from_state(self, state: StateReader) -> None:
        """Set the fitted attributes from what `_state` saved, reading each through `state`, which checks its
        type and shape. The settings and the attributes `fit` sets for every selector (`maximize_`,
        `n_features_`, `encodings_`, `spec_hash_`) are in place already."""
        raise SelectorError(f"{type(self).__name__} cannot be loaded: it does not say how to rebuild its fitted "
                            "state (`_from_state`, docs/extending.md)")

    def save(self, path: str | Path, context: dict[str, Any] | None = None) -> Path:
        """One `.zsel` file (`zap.selectors.store`): schema, selector name, spec hash, `context` (e.g. the
        meta-dataset's protocol hash and candidate ids), the versions of zap and its libraries, and the fitted
        state, as data only: loading the file runs no code from it."""
        from zap.selectors.store import write

        return write(self, Path(path), context or {})


@dataclass
class LoadedSelector:
    selector: Selector
    context: dict[str, Any]


def load_selector(path: str | Path, expect_hash: str | None = None, *,
                  encode: Callable[[Mapping[str, Any]], Any] | None = None,
                  expect_protocol: str | None = None) -> LoadedSelector:
    """Read a saved selector, as data only (`zap.selectors.store`: nothing in the file runs, and a file that is
    damaged, foreign or an older zap's pickle is refused). It is an error if its schema differs, if its spec
    hash is not `expect_hash`, if `encode` (how the running program encodes a candidate's configuration)
    encodes its candidates otherwise than when it was trained, or if it was trained under a protocol other
    than `expect_protocol`; a `VersionMismatchWarning` if other versions of zap or its libraries saved it."""
    from zap.selectors.store import read, selector_of

    archive = read(Path(path))
    payload = archive.meta
    check_versions(payload["versions"], f"selector {path}", "retrain it with `zap meta-train`")
    loaded = LoadedSelector(selector_of(archive), payload["context"])
    if expect_hash is not None and payload["spec_hash"] != expect_hash:
        raise SelectorError(f"{path} was trained for specification {payload['spec_hash']}, not {expect_hash} "
                            "(other candidates or settings); retrain it with `zap meta-train`")
    if encode is not None:
        _check_encodings(path, loaded, encode)
    if expect_protocol is not None and loaded.context.get("protocol_hash") != expect_protocol:
        raise SelectorError(f"{path} was trained on a meta-dataset of protocol {loaded.context.get('protocol_hash')}, "
                            f"but the meta-dataset beside it has protocol {expect_protocol}; retrain the selectors "
                            "on it with `zap meta-train`")
    return loaded


def _check_encodings(path: Path, loaded: LoadedSelector, encode: Callable[[Mapping[str, Any]], Any]) -> None:
    """The candidates' configurations, encoded as the running program does, must give the spec hash the
    selector was trained with: otherwise the search space or its encoding changed since, and the selector
    would score vectors it never learned from."""
    candidates = loaded.context.get("candidates")  # a list of dicts with an id and a config: `store` checked it
    if not candidates:
        raise SelectorError(f"{path} holds no candidate configurations to check against this zap's encoding; "
                            "save it with `zap meta-train`")
    try:
        encoded = [encode(c["config"]) for c in candidates]
    except Exception as exc:  # the configurations are the file's data: whatever encoding them raises is the file's
        raise SelectorError(f"{path} holds a candidate configuration this zap cannot encode ({type(exc).__name__}: "
                            f"{exc}); retrain it with `zap meta-train`") from None
    now = loaded.selector.spec_hash_for(encoded)
    if now != loaded.selector.spec_hash_:
        raise SelectorError(f"{path} was trained on candidates encoded as specification {loaded.selector.spec_hash_}; "
                            f"this zap encodes them as {now} (its search space or encoding changed); retrain it "
                            "with `zap meta-train`")
