"""ASlib algorithm-selection scenarios read into the selector interface, and their evaluation.

A scenario folder (ASlib format, https://www.coseal.net/aslib/) holds `description.txt`, `algorithm_runs.arff`,
`feature_values.arff` and `cv.arff`. Reading it gives the same four arrays a ZAP meta-dataset gives
(meta-features, one-hot algorithm encodings, a performance matrix, groups = cv folds), so the selectors that
are benchmarked on ZAP are also benchmarked on the standard algorithm-selection scenarios.

Conventions, chosen to match the ASlib evaluation:
  * repetitions are averaged: feature values by their mean (missing `?` skipped), quality by its mean,
    runtime by its mean, and PAR10 per repetition first, then its mean (the expected PAR10 of one run);
  * PAR10: a run whose status is not `ok`, or whose runtime is >= the cutoff, costs 10 x cutoff;
  * quality scenarios keep the reported value whatever the runstatus (`?` = missing);
  * a missing (instance, algorithm) run stays NaN in the matrices; when a selector picks such a cell in
    `evaluate_scenario`, it is scored as that instance's worst measured cost (a pick is never free).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arff
import numpy as np
import yaml

from zap.benchmark.stats import gap_closed
from zap.errors import ZapError
from zap.selectors.base import Selector, one_hot_encodings
from zap.selectors.baselines import SingleBest

RUNSTATUSES = frozenset({"ok", "timeout", "memout", "not_applicable", "crash", "unknown", "other"})
REQUIRED_FILES = ("description.txt", "algorithm_runs.arff", "feature_values.arff", "cv.arff")
PAR_FACTOR = 10.0


class ScenarioError(ZapError, ValueError):
    """A scenario folder that cannot be read; the message names the file, the problem and the fix."""


# ============================================================================================ ARFF reader

NUMERIC_TYPES = ("numeric", "real", "integer")
ARFF_HINT = ("an ARFF file is a @RELATION line, one @ATTRIBUTE line per column, @DATA, then one comma-separated "
             "row per line with `?` for a missing value and quotes around a value with a space or comma")


@dataclass
class ArffTable:
    """An ARFF file's attributes and rows; numeric cells are float (NaN = `?`), the others str or None."""

    relation: str
    names: list[str]
    types: list[str]  # "numeric" | "real" | "integer" | "string" | "nominal"
    rows: list[list[Any]]

    def column(self, name: str, path: Path | str) -> list[Any]:
        position = self.index(name, path)
        return [row[position] for row in self.rows]

    def index(self, name: str, path: Path | str) -> int:
        """The column position of `name`, or a ScenarioError listing the columns that exist."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ScenarioError(f"{path}: no attribute {name!r} (attributes: {self.names}); "
                                f"add a `@ATTRIBUTE {name} ...` column") from None


def read_arff(path: str | Path) -> ArffTable:
    """One ARFF file read by liac-arff (scipy.io.arff rejects the STRING attributes that every ASlib file
    uses for instance ids); its errors become a ScenarioError that names the file."""
    path = Path(path)
    try:
        data = arff.loads(path.read_text(encoding="utf-8", errors="replace"))
    except arff.ArffException as err:
        raise ScenarioError(f"{path}: {err} ({ARFF_HINT})") from None
    names = [str(name) for name, _ in data["attributes"]]
    types = [kind.lower() if isinstance(kind, str) else "nominal" for _, kind in data["attributes"]]
    numeric = [kind in NUMERIC_TYPES for kind in types]
    rows = [[_number(v) if is_number else v for v, is_number in zip(row, numeric, strict=True)]
            for row in data["data"]]
    return ArffTable(str(data.get("relation") or ""), names, types, rows)


def _number(value: Any) -> float:
    """A numeric cell as float, so repetitions and folds compare alike whether declared INTEGER or REAL."""
    return math.nan if value is None else float(value)


# ====================================================================================== description.txt

# A bare `?` value (ASlib's "unknown") is YAML's complex-key marker, which PyYAML rejects: read it as null.
UNKNOWN_VALUE = re.compile(r"^(\s*(?:-\s*|[^#\n:]+:\s*))\?\s*$", flags=re.MULTILINE)


def load_description(path: str | Path) -> dict[str, Any]:
    """description.txt as a dict, read by PyYAML. ASlib 2.x writes YAML lists; 1.x writes `key: a, b, c`,
    which YAML reads as one string that `_as_list` splits."""
    path = Path(path)
    text = UNKNOWN_VALUE.sub(r"\1null", path.read_text(encoding="utf-8", errors="replace"))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = " ".join(str(err).replace('"<unicode string>", ', "").split())
        raise ScenarioError(f"{path}: not valid YAML ({problem}); write `key: value` lines, lists as "
                            "`key: [a, b]` or `- a` items") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected `key: value` lines (a YAML mapping), got {type(data).__name__}")
    return data


def _as_list(value: Any) -> list[str]:
    """A description field as a list of names: YAML lists, dicts (their keys) and 1.x comma strings."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _as_bool(value: Any, path: Path) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ScenarioError(f"{path}: maximize value {value!r} is not true/false; write `maximize: [false]`")


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class Description:
    """The fields of description.txt the reader uses; `raw` keeps everything else."""

    scenario_id: str
    performance_measures: list[str]
    maximize: list[bool]
    performance_type: list[str]
    cutoff: float | None
    algorithms: list[str]
    features: list[str]
    raw: dict[str, Any] = field(default_factory=dict)


def read_description(path: str | Path) -> Description:
    path = Path(path)
    raw = load_description(path)
    measures = _as_list(raw.get("performance_measures"))
    if not measures:
        raise ScenarioError(f"{path}: no performance_measures; add e.g. `performance_measures: [runtime]`")
    maximize = [_as_bool(v, path) for v in (_as_list(raw.get("maximize")) or ["false"])]
    types = [t.lower() for t in _as_list(raw.get("performance_type"))] or ["runtime"]
    if types[0] not in ("runtime", "solution_quality"):
        raise ScenarioError(f"{path}: performance_type {types[0]!r} is neither runtime nor solution_quality")
    algorithms = _as_list(raw.get("algorithms_deterministic")) + _as_list(raw.get("algorithms_stochastic"))
    if not algorithms:
        algorithms = _as_list(raw.get("metainfo_algorithms"))
    features = _as_list(raw.get("features_deterministic")) + _as_list(raw.get("features_stochastic"))
    return Description(str(raw.get("scenario_id") or path.parent.name), measures, maximize, types,
                       _as_float(raw.get("algorithm_cutoff_time")), algorithms, features, raw)


# ============================================================================================== scenario


@dataclass
class Scenario:
    """One ASlib scenario as arrays. `cost` is what selectors are fitted and scored on."""

    name: str
    instances: list[str]
    algorithms: list[str]
    features: np.ndarray  # [n_instances x n_features], NaN = missing
    feature_names: list[str]
    performance: np.ndarray  # [n_instances x n_algorithms], the first performance measure, repetition mean
    maximize: bool
    performance_type: str  # "runtime" | "solution_quality"
    cutoff: float | None
    folds: np.ndarray  # [n_instances] int, from cv.arff (first repetition)
    par10: np.ndarray | None = None  # runtime scenarios only
    description: Description | None = None

    @property
    def cost(self) -> np.ndarray:
        """PAR10 for runtime scenarios (minimize), the raw quality otherwise (direction = `maximize`)."""
        return self.par10 if self.par10 is not None else self.performance

    @property
    def encodings(self) -> np.ndarray:
        return one_hot_encodings(len(self.algorithms))


def read_scenario(folder: str | Path) -> Scenario:
    """Read an ASlib scenario folder; instances are ordered as in feature_values.arff (then any that
    only appear in algorithm_runs.arff), algorithms as in the description (else as first seen).

    A file with a header but no rows, or runs whose every performance value is missing, is refused here:
    read on, it would give all-NaN matrices and NaN scores (invalid JSON) in the evaluation."""
    folder = Path(folder)
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise ScenarioError(f"{folder / name}: required ASlib file is missing; a scenario folder needs "
                                f"{', '.join(REQUIRED_FILES)}")
    desc = read_description(folder / "description.txt")
    feat_table = _read_rows(folder / "feature_values.arff", "one row of feature values per instance")
    run_path = folder / "algorithm_runs.arff"
    run_table = _read_rows(run_path, "one row per run: instance, repetition, algorithm, performance, runstatus")
    instances = _unique(feat_table.column("instance_id", folder / "feature_values.arff")
                        + run_table.column("instance_id", run_path))
    algorithms = desc.algorithms or _unique(run_table.column("algorithm", run_path))
    feature_names, features = _feature_matrix(feat_table, instances, folder / "feature_values.arff")
    runtime = desc.performance_type[0] == "runtime"
    if runtime and desc.cutoff is None:
        raise ScenarioError(f"{folder / 'description.txt'}: a runtime scenario needs algorithm_cutoff_time "
                            "(PAR10 is 10 x cutoff); set it to the cutoff the runs used")
    performance, par10 = _run_matrices(run_table, instances, algorithms, desc.performance_measures[0],
                                       desc.cutoff if runtime else None, run_path)
    _check_measured(performance, desc.performance_measures[0], run_path)
    folds = _folds(_read_rows(folder / "cv.arff", "one row per instance and repetition: its fold"), instances,
                   folder / "cv.arff")
    return Scenario(desc.scenario_id, instances, algorithms, features, feature_names, performance,
                    desc.maximize[0], desc.performance_type[0], desc.cutoff, folds,
                    par10, desc)


def _read_rows(path: Path, needs: str) -> ArffTable:
    """An ARFF file that must hold data: a header alone would give empty or all-NaN matrices, and NaN
    scores (invalid JSON) downstream."""
    table = read_arff(path)
    if not table.rows:
        raise ScenarioError(f"{path}: no rows after @DATA; a scenario needs {needs}")
    return table


def _check_measured(performance: np.ndarray, measure: str, path: Path) -> None:
    """A scenario whose every performance value is missing has nothing to select on (all PAR10 equal, or
    every quality NaN); refuse it here rather than report NaN scores."""
    if np.isnan(performance).all():
        raise ScenarioError(f"{path}: every {measure!r} value is missing (`?`), so no instance has a measured "
                            "run; a scenario needs measured runs to select from")


def _unique(items: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(item) for item in items))


def _mean_cells(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _feature_matrix(table: ArffTable, instances: list[str], path: Path) -> tuple[list[str], np.ndarray]:
    """Features averaged over repetitions, NaN where every repetition is missing."""
    skip = {"instance_id", "repetition"}
    cols = [i for i, n in enumerate(table.names) if n not in skip]
    for i in cols:
        if table.types[i] not in NUMERIC_TYPES:
            raise ScenarioError(f"{path}: feature {table.names[i]!r} has type {table.types[i]}, features must "
                                "be NUMERIC; convert or drop it")
    row_of = {name: k for k, name in enumerate(instances)}
    sums = np.zeros((len(instances), len(cols)))
    counts = np.zeros_like(sums)
    id_col = table.names.index("instance_id")
    for row in table.rows:
        values = np.array([row[i] for i in cols], dtype=float)
        seen = ~np.isnan(values)
        r = row_of[str(row[id_col])]
        sums[r, seen] += values[seen]
        counts[r, seen] += 1
    return [table.names[i] for i in cols], _mean_cells(sums, counts)


def _run_matrices(table: ArffTable, instances: list[str], algorithms: list[str], measure: str,
                  cutoff: float | None, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(performance, PAR10) means over repetitions; PAR10 (only with a cutoff, i.e. for runtime) is applied
    per repetition, then averaged, so a sometimes-timing-out run costs its expected PAR10."""
    inst_col, alg_col = table.index("instance_id", path), table.index("algorithm", path)
    value_col, status_col = table.index(measure, path), table.index("runstatus", path)
    if table.types[value_col] not in NUMERIC_TYPES:
        raise ScenarioError(f"{path}: performance measure {measure!r} has type {table.types[value_col]}; "
                            f"declare it `@ATTRIBUTE {measure} NUMERIC`")
    row_of = {name: k for k, name in enumerate(instances)}
    col_of = {name: k for k, name in enumerate(algorithms)}
    shape = (len(instances), len(algorithms))
    perf_sum, perf_n, par_sum, par_n = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for row in table.rows:
        alg = str(row[alg_col])
        if alg not in col_of:
            raise ScenarioError(f"{path}: algorithm {alg!r} (instance {row[inst_col]!r}) is not among the "
                                f"description's algorithms {algorithms}; add it to algorithms_deterministic "
                                "or drop its rows")
        status = str(row[status_col]).strip().lower()
        if status not in RUNSTATUSES:
            raise ScenarioError(f"{path}: runstatus {row[status_col]!r} is not one of {sorted(RUNSTATUSES)}")
        r, c, value = row_of[str(row[inst_col])], col_of[alg], float(row[value_col])
        if not math.isnan(value):
            perf_sum[r, c] += value
            perf_n[r, c] += 1
        if cutoff is not None:
            par_sum[r, c] += _par10(value, status, cutoff)
            par_n[r, c] += 1
    return _mean_cells(perf_sum, perf_n), _mean_cells(par_sum, par_n) if cutoff is not None else None


def _par10(runtime: float, status: str, cutoff: float) -> float:
    """One run's penalized runtime: 10 x cutoff unless it finished (`ok`) strictly below the cutoff."""
    if status != "ok" or math.isnan(runtime) or runtime >= cutoff:
        return PAR_FACTOR * cutoff
    return runtime


def _folds(table: ArffTable, instances: list[str], path: Path) -> np.ndarray:
    """The fold of each instance in the first repetition of cv.arff; every instance must have one."""
    inst_col, rep_col, fold_col = (table.index(n, path) for n in ("instance_id", "repetition", "fold"))
    known = set(instances)
    reps = [row[rep_col] for row in table.rows if not math.isnan(float(row[rep_col]))]
    first = min(reps) if reps else math.nan
    fold_of: dict[str, int] = {}
    for row in table.rows:
        name = str(row[inst_col])
        if name not in known:
            raise ScenarioError(f"{path}: unknown instance {name!r} (not in feature_values.arff or "
                                "algorithm_runs.arff); remove the row or add the instance's features and runs")
        if float(row[rep_col]) == first:
            fold_of[name] = _fold_number(row[fold_col], name, path)
    missing = [name for name in instances if name not in fold_of]
    if missing:
        raise ScenarioError(f"{path}: {len(missing)} instance(s) have no fold in repetition {first:g}, e.g. "
                            f"{missing[:3]}; add a row per instance")
    return np.array([fold_of[name] for name in instances], dtype=int)


def _fold_number(value: Any, instance: str, path: Path) -> int:
    """A fold id as int; a missing (`?`) or non-numeric fold would otherwise fail inside int()."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != round(number):
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        shown = "`?` (missing)" if missing else repr(value)
        raise ScenarioError(f"{path}: instance {instance!r} has fold {shown}, not a fold number; give every "
                            "instance a whole-number fold")
    return int(number)


# ============================================================================================ evaluation

RESERVED = ("single-best", "oracle")


def impute_train_mean(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace NaN features by the training rows' column mean (0 where a column is missing on every
    training row). Selectors reject NaN (base.check_inputs) and ASlib features are often missing; using
    only the training fold's mean keeps the held-out fold unseen."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(x_train, axis=0)
    means = np.where(np.isnan(means), 0.0, means)
    return np.where(np.isnan(x_train), means, x_train), np.where(np.isnan(x_test), means, x_test)


def picked_cost(cost: np.ndarray, picks: np.ndarray, maximize: bool) -> np.ndarray:
    """The cost of each instance's picked algorithm; a never-measured cell counts as the instance's worst."""
    worst = np.nanmin(cost, axis=1) if maximize else np.nanmax(cost, axis=1)
    values = cost[np.arange(len(picks)), picks]
    return np.where(np.isnan(values), worst, values)


def cross_validated_picks(scenario: Scenario, factory: Callable[[], Selector]) -> np.ndarray:
    """Top-1 pick per instance, each fold predicted by a selector fitted on the other folds, with
    groups = the training instances' fold ids. Instances with no run at all get -1 (never scored)."""
    cost, measured = scenario.cost, ~np.isnan(scenario.cost).all(axis=1)
    picks = np.full(len(scenario.instances), -1, dtype=int)
    for fold in np.unique(scenario.folds):
        test = (scenario.folds == fold) & measured
        train = (scenario.folds != fold) & measured
        if not test.any():
            continue
        if len(np.unique(scenario.folds[train])) < 2:
            raise ScenarioError(f"scenario {scenario.name}: training on the folds other than {fold} leaves a "
                                "single fold, selectors need >= 2 groups; use a cv.arff with >= 3 folds")
        x_train, x_test = impute_train_mean(scenario.features[train], scenario.features[test])
        selector = factory().fit(x_train, scenario.encodings, cost[train], scenario.folds[train],
                                 maximize=scenario.maximize)
        picks[test] = selector.select(x_test)
    return picks


def evaluate_scenario(scenario: Scenario, methods: dict[str, Callable[[], Selector]]) -> dict[str, dict]:
    """Cross-validate every method on the scenario's own folds; `single-best` (a SingleBest per fold) and
    `oracle` (the per-instance best, the virtual best solver) are always added. Runtime scenarios report
    `par10`, quality scenarios `quality` (mean over the instances that have any run), each with
    `gap_closed` relative to single-best and oracle (None when these two are equal)."""
    clash = [name for name in methods if name in RESERVED]
    if clash:
        raise ValueError(f"method names {clash} are reserved for the baselines evaluate_scenario adds; rename them")
    cost = scenario.cost
    measured = ~np.isnan(cost).all(axis=1)
    key = "par10" if scenario.performance_type == "runtime" else "quality"
    best = np.nanmax if scenario.maximize else np.nanmin
    scores = {"single-best": _mean_picked(scenario, SingleBest, measured),
              "oracle": float(np.mean(best(cost[measured], axis=1)))}
    for name, factory in methods.items():
        scores[name] = _mean_picked(scenario, factory, measured)
    sbs, vbs = scores["single-best"], scores["oracle"]
    return {name: {key: float(value), "gap_closed": gap_closed(sbs, vbs, value)} for name, value in scores.items()}


def _mean_picked(scenario: Scenario, factory: Callable[[], Selector], measured: np.ndarray) -> float:
    picks = cross_validated_picks(scenario, factory)
    return float(np.mean(picked_cost(scenario.cost[measured], picks[measured], scenario.maximize)))
