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

import numpy as np

from zap.selectors.base import Selector, one_hot_encodings
from zap.selectors.baselines import SingleBest

RUNSTATUSES = frozenset({"ok", "timeout", "memout", "not_applicable", "crash", "unknown", "other"})
REQUIRED_FILES = ("description.txt", "algorithm_runs.arff", "feature_values.arff", "cv.arff")
PAR_FACTOR = 10.0


class ScenarioError(ValueError):
    """A scenario folder that cannot be read; the message names the file, the problem and the fix."""


# ============================================================================================ ARFF reader


@dataclass
class ArffTable:
    """An ARFF file's attributes and rows; values are float (numeric, NaN = `?`) or str/None (others)."""

    relation: str
    names: list[str]
    types: list[str]
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


NUMERIC_TYPES = ("numeric", "real", "integer")


def split_values(line: str) -> list[str | None]:
    """Split one comma-separated ARFF line, honouring '...' / "..." quoting and backslash escapes.
    Unquoted `?` becomes None (missing); a quoted '?' stays a string."""
    values: list[str | None] = []
    buf: list[str] = []
    quote: str | None = None
    quoted = False
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and i + 1 < len(line):
                buf.append(line[i + 1])
                i += 1
            elif ch == quote:
                quote = None
            else:
                buf.append(ch)
        elif ch in "'\"":
            quote, quoted = ch, True
        elif ch == ",":
            values.append(_finish(buf, quoted))
            buf, quoted = [], False
        else:
            buf.append(ch)
        i += 1
    if quote:
        raise ValueError(f"unterminated {quote} quote in line: {line[:80]!r}")
    values.append(_finish(buf, quoted))
    return values


def _finish(buf: list[str], quoted: bool) -> str | None:
    text = "".join(buf) if quoted else "".join(buf).strip()
    return None if (not quoted and text == "?") else text


def _parse_attribute(rest: str) -> tuple[str, str]:
    """`name type` from what follows @ATTRIBUTE; the name may be quoted, the type may be `{a, b}`."""
    rest = rest.strip()
    if rest[:1] in "'\"":
        end = rest.find(rest[0], 1)
        name, kind = rest[1:end], rest[end + 1:].strip()
    else:
        name, kind = [*rest.split(None, 1), ""][:2]
    if kind.startswith("{"):
        return name, "nominal"
    return name, kind.split()[0].lower() if kind.strip() else "string"


def read_arff(path: str | Path) -> ArffTable:
    """A small, dependency-free ARFF reader (dense data only). scipy.io.arff rejects STRING attributes,
    which every ASlib file uses for instance ids, hence this one."""
    path = Path(path)
    relation, names, types, rows = "", [], [], []
    in_data = False
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        if not in_data:
            head = line.split(None, 1)
            keyword = head[0].lower()
            if keyword == "@relation":
                relation = head[1].strip().strip("'\"") if len(head) > 1 else ""
            elif keyword == "@attribute":
                name, kind = _parse_attribute(head[1] if len(head) > 1 else "")
                names.append(name)
                types.append(kind)
            elif keyword == "@data":
                in_data = True
            else:
                raise ScenarioError(f"{path}:{number}: unexpected header line {line[:60]!r}; "
                                    "expected @RELATION, @ATTRIBUTE or @DATA")
            continue
        rows.append(_parse_row(line, types, path, number))
    if not in_data:
        raise ScenarioError(f"{path}: no @DATA section; is this an ARFF file?")
    return ArffTable(relation, names, types, rows)


def _parse_row(line: str, types: list[str], path: Path, number: int) -> list[Any]:
    if line.startswith("{"):
        raise ScenarioError(f"{path}:{number}: sparse ARFF rows are not supported; write the data densely")
    try:
        values = split_values(line)
    except ValueError as err:
        raise ScenarioError(f"{path}:{number}: {err}") from None
    if len(values) != len(types):
        raise ScenarioError(f"{path}:{number}: {len(values)} values, but the header declares {len(types)} "
                            "attributes; fix the row or the @ATTRIBUTE lines")
    return [_convert(v, t, path, number) for v, t in zip(values, types, strict=True)]


def _convert(value: str | None, kind: str, path: Path, number: int) -> Any:
    if kind not in NUMERIC_TYPES:
        return value
    if value is None:
        return math.nan
    try:
        return float(value)
    except ValueError:
        raise ScenarioError(f"{path}:{number}: {value!r} is not a number in a numeric column; "
                            "use ? for a missing value") from None


# ====================================================================================== description.txt


def parse_description(text: str, use_yaml: bool = True) -> dict[str, Any]:
    """description.txt as a dict. ASlib 2.x writes YAML, ASlib 1.x a `key: a, b, c` format; both contain
    bare `?` values that YAML rejects, so `?` is turned into null first. PyYAML is used when installed
    (it is not a zap dependency), else (or when it fails) a small parser that reads `key: value`,
    `key: [a, b]` and `- a` lists."""
    text = re.sub(r"^(\s*(?:-\s*|[^#\n:]+:\s*))\?\s*$", r"\1null", text, flags=re.MULTILINE)
    data = _load_yaml(text) if use_yaml else None
    return data if data is not None else _parse_simple_yaml(text)


def _load_yaml(text: str) -> dict[str, Any] | None:
    """The YAML mapping, or None when PyYAML is missing or the text is not a YAML mapping."""
    try:
        import yaml
    except ImportError:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("", "null", "~", "?"):
        return None
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(item) for item in text[1:-1].split(",") if item.strip()]
    return text


def _parse_simple_yaml(text: str) -> dict[str, Any]:
    """Top-level keys, `- item` lists under them, and for nested mappings (feature_steps,
    metainfo_algorithms) their first-level sub-keys only, which is all the reader needs from them."""
    data: dict[str, Any] = {}
    key: str | None = None
    sub_indent: int | None = None
    for raw in text.splitlines():
        line = "" if raw.lstrip().startswith("#") else raw.split(" #")[0].rstrip()
        if not line.strip():
            continue
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if indent == 0 and ":" in stripped and not stripped.startswith("-"):
            key, _, value = stripped.partition(":")
            key, sub_indent = key.strip(), None
            data[key] = _scalar(value)
        elif key is not None and stripped.startswith("-") and not isinstance(data.get(key), dict):
            current = data.get(key)
            data[key] = ([*current] if isinstance(current, list) else []) + [_scalar(stripped[1:])]
        elif key is not None and indent > 0 and ":" in stripped:
            sub_indent = indent if sub_indent is None else sub_indent
            if indent == sub_indent:
                current = data.get(key)
                sub, _, value = stripped.partition(":")
                data[key] = {**(current if isinstance(current, dict) else {}), sub.strip(): _scalar(value)}
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
    raw = parse_description(path.read_text(encoding="utf-8", errors="replace"))
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
    only appear in algorithm_runs.arff), algorithms as in the description (else as first seen)."""
    folder = Path(folder)
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise ScenarioError(f"{folder / name}: required ASlib file is missing; a scenario folder needs "
                                f"{', '.join(REQUIRED_FILES)}")
    desc = read_description(folder / "description.txt")
    feat_table = read_arff(folder / "feature_values.arff")
    run_table = read_arff(folder / "algorithm_runs.arff")
    run_path = folder / "algorithm_runs.arff"
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
    folds = _folds(read_arff(folder / "cv.arff"), instances, folder / "cv.arff")
    return Scenario(desc.scenario_id, instances, algorithms, features, feature_names, performance,
                    desc.maximize[0], desc.performance_type[0], desc.cutoff, folds,
                    par10, desc)


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
            fold_of[name] = int(row[fold_col])
    missing = [name for name in instances if name not in fold_of]
    if missing:
        raise ScenarioError(f"{path}: {len(missing)} instance(s) have no fold in repetition {first:g}, e.g. "
                            f"{missing[:3]}; add a row per instance")
    return np.array([fold_of[name] for name in instances], dtype=int)


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


def gap_closed(sbs: float, vbs: float, score: float) -> float | None:
    """(sbs - m) / (sbs - vbs): 0 = single best, 1 = oracle, for either direction (the sign of both
    differences flips together). None when single best is already the oracle."""
    if math.isclose(sbs, vbs, rel_tol=1e-12, abs_tol=1e-12):
        return None
    return float((sbs - score) / (sbs - vbs))


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
