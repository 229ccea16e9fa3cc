"""ASlib scenarios: the reader (description, ARFF, repetitions, PAR10, folds), its errors, and the
cross-validated evaluation against single-best and oracle. Every scenario is written here, small."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from zap.benchmark.aslib import (
    ScenarioError,
    evaluate_scenario,
    load_description,
    read_arff,
    read_description,
    read_scenario,
)
from zap.selectors.base import Selector, Standardizer
from zap.selectors.baselines import FixedPipeline, SingleBest

CUTOFF = 100.0

RUNTIME_DESCRIPTION = """\
scenario_id: TOY-RUNTIME
performance_measures:
  - runtime
maximize:
  - false
performance_type:
  - runtime
algorithm_cutoff_time: 100
algorithm_cutoff_memory: ?
features_cutoff_time: ?
algorithms_deterministic:
  - A
  - B
  - C
algorithms_stochastic:
features_deterministic:
  - f1
  - f2
features_stochastic:
number_of_feature_steps: 1
feature_steps:
  base:
    provides:
      - f1
      - f2
"""

QUALITY_DESCRIPTION = """\
scenario_id: TOY-QUALITY
performance_measures: [accuracy]
maximize: [true]
performance_type: [solution_quality]
algorithm_cutoff_time: ?
algorithms_deterministic: [X, Y]
algorithms_stochastic: []
features_deterministic: [g]
number_of_feature_steps: 1
"""


def arff(relation: str, attributes: list[str], rows: list[str]) -> str:
    header = [f"% written by test_aslib\n@RELATION {relation}", ""]
    header += [f"@ATTRIBUTE {a}" for a in attributes]
    return "\n".join([*header, "", "@DATA", "% a comment inside the data", *rows]) + "\n"


def kind(k: int) -> str:
    """Even instances are A-instances (A fast, B times out), odd ones B-instances."""
    return "A" if k % 2 == 0 else "B"


def runtime_rows() -> list[str]:
    """A solves its kind in 5+k s and B in 8+k s, each times out on the other kind; C always takes 50 s.
    Special cells: i00 has two repetitions; i02/B crashes with no runtime; i03/A is `ok` at the cutoff;
    i05/A is a `timeout` reported below the cutoff."""
    rows = []
    for k in range(12):
        name = f"i{k:02d}"
        if k == 0:
            rows += [f"{name},1,A,4,ok", f"{name},2,A,6,ok", f"{name},1,B,100,timeout", f"{name},2,B,100,timeout",
                     f"{name},1,C,40,ok", f"{name},2,C,100,timeout"]
            continue
        a = f"{5 + k},ok" if kind(k) == "A" else "100,timeout"
        b = f"{8 + k},ok" if kind(k) == "B" else "100,timeout"
        a = {3: "100,ok", 5: "99.5,timeout"}.get(k, a)
        b = "?,crash" if k == 2 else b
        rows += [f"{name},1,A,{a}", f"{name},1,B,{b}", f"{name},1,C,50,ok"]
    return rows


def feature_rows() -> list[str]:
    rows = ["i00,1,0.2,0.5", "i00,2,0.3,0.7"]
    for k in range(1, 12):
        f1 = (0.2 if kind(k) == "A" else 0.8) + 0.01 * k
        rows.append(f"i{k:02d},1,{f1:.2f},{'?' if k == 5 else f'{0.5 + 0.01 * k:.2f}'}")
    return rows


def write_runtime(root: Path) -> Path:
    folder = root / "TOY-RUNTIME"
    folder.mkdir(parents=True)
    (folder / "description.txt").write_text(RUNTIME_DESCRIPTION)
    (folder / "algorithm_runs.arff").write_text(arff(
        "ALGORITHM_RUNS", ["instance_id STRING", "repetition NUMERIC", "algorithm STRING", "runtime NUMERIC",
                           "runstatus {ok, timeout, memout, not_applicable, crash, other}"], runtime_rows()))
    (folder / "feature_values.arff").write_text(arff(
        "FEATURES", ["instance_id STRING", "repetition NUMERIC", "f1 NUMERIC", "f2 REAL"], feature_rows()))
    cv = [f"i{k:02d},1,{k % 3 + 1}" for k in range(12)] + [f"i{k:02d},2,{(k + 1) % 3 + 1}" for k in range(12)]
    (folder / "cv.arff").write_text(arff(
        "CV", ["instance_id STRING", "repetition NUMERIC", "fold NUMERIC"], cv))
    return folder


def write_quality(root: Path) -> Path:
    """X is good (0.9) when g > 0.5 and poor (0.5) otherwise; Y is a steady 0.72. Instance ids are quoted
    and contain a comma."""
    folder = root / "TOY-QUALITY"
    folder.mkdir(parents=True)
    (folder / "description.txt").write_text(QUALITY_DESCRIPTION)
    runs, feats = [], []
    for k in range(9):
        g = 0.9 if k % 2 else 0.1
        runs += [f"'q,{k}',1,X,{0.9 if g > 0.5 else 0.5},ok", f"'q,{k}',1,Y,0.72,ok"]
        feats.append(f"\"q,{k}\",1,{g}")
    (folder / "algorithm_runs.arff").write_text(arff(
        "RUNS", ["instance_id STRING", "repetition INTEGER", "algorithm STRING", "accuracy NUMERIC",
                 "runstatus {ok, timeout, memout, not_applicable, crash, other}"], runs))
    (folder / "feature_values.arff").write_text(arff(
        "FEATURES", ["instance_id STRING", "repetition NUMERIC", "g NUMERIC"], feats))
    (folder / "cv.arff").write_text(arff(
        "CV", ["instance_id STRING", "repetition NUMERIC", "fold NUMERIC"], [f"'q,{k}',1,{k % 3}" for k in range(9)]))
    return folder


class NearestNeighbour(Selector):
    """Gives a new instance the (oriented) performance row of its nearest training instance."""

    name = "test-1nn"

    def _fit(self, x, enc, y, groups) -> None:
        self.scaler_ = Standardizer().fit(x)
        self.x_ = self.scaler_.transform(x)
        self.y_ = np.nan_to_num(y, nan=-np.inf)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        dist = ((self.scaler_.transform(x)[:, None, :] - self.x_[None]) ** 2).sum(axis=2)
        return self.y_[dist.argmin(axis=1)]


# ------------------------------------------------------------------------------------------------ reading


def test_runtime_scenario_shapes_and_values(tmp_path):
    s = read_scenario(write_runtime(tmp_path))
    assert s.name == "TOY-RUNTIME" and s.performance_type == "runtime" and s.maximize is False
    assert s.cutoff == CUTOFF
    assert s.instances == [f"i{k:02d}" for k in range(12)]
    assert s.algorithms == ["A", "B", "C"] and s.feature_names == ["f1", "f2"]
    assert s.features.shape == (12, 2) and s.performance.shape == (12, 3) and s.par10.shape == (12, 3)
    assert np.array_equal(s.encodings, np.eye(3))
    assert s.cost is s.par10
    assert s.performance[1].tolist() == [100.0, 9.0, 50.0]
    assert s.features[1].tolist() == pytest.approx([0.81, 0.51])
    assert math.isnan(s.features[5, 1]) and s.features[5, 0] == pytest.approx(0.85)


def test_repetitions_are_averaged(tmp_path):
    s = read_scenario(write_runtime(tmp_path))
    assert s.features[0].tolist() == pytest.approx([0.25, 0.6])
    assert s.performance[0].tolist() == pytest.approx([5.0, 100.0, 70.0])
    # PAR10 per repetition, then the mean: C is 40 once and a timeout once
    assert s.par10[0].tolist() == pytest.approx([5.0, 1000.0, (40.0 + 1000.0) / 2])


def test_par10_rule(tmp_path):
    s = read_scenario(write_runtime(tmp_path))
    penalty = 10 * CUTOFF
    assert s.par10[1, 0] == penalty and s.par10[1, 1] == 9.0  # timeout / ok below the cutoff
    assert math.isnan(s.performance[2, 1]) and s.par10[2, 1] == penalty  # crash, no runtime reported
    assert s.performance[3, 0] == CUTOFF and s.par10[3, 0] == penalty  # ok, but runtime >= cutoff
    assert s.performance[5, 0] == 99.5 and s.par10[5, 0] == penalty  # status timeout below the cutoff
    assert s.par10[4].tolist() == [9.0, penalty, 50.0]


def test_folds_come_from_the_first_repetition(tmp_path):
    s = read_scenario(write_runtime(tmp_path))
    assert s.folds.tolist() == [k % 3 + 1 for k in range(12)]
    assert s.folds.dtype.kind == "i"


def test_quality_scenario_with_quoted_ids(tmp_path):
    s = read_scenario(write_quality(tmp_path))
    assert s.performance_type == "solution_quality" and s.maximize is True and s.cutoff is None
    assert s.par10 is None and s.cost is s.performance
    assert s.instances[:2] == ["q,0", "q,1"] and s.algorithms == ["X", "Y"]
    assert s.performance[:2].tolist() == [[0.5, 0.72], [0.9, 0.72]]
    assert s.features[:, 0].tolist() == [0.1, 0.9] * 4 + [0.1]
    assert s.folds.tolist() == [k % 3 for k in range(9)]


@pytest.mark.parametrize("text", [RUNTIME_DESCRIPTION, QUALITY_DESCRIPTION])
def test_description_list_forms_and_unknown_values(tmp_path, text):
    """Block lists, flow lists and bare `?` (which plain YAML rejects) all read."""
    path = tmp_path / "description.txt"
    path.write_text(text)
    d = load_description(path)
    measures = d["performance_measures"]
    assert measures == ["runtime"] or measures == ["accuracy"]
    assert d["maximize"] in ([False], [True])
    assert d["algorithm_cutoff_memory" if "runtime" in measures else "algorithm_cutoff_time"] is None
    assert d["algorithms_deterministic"] in (["A", "B", "C"], ["X", "Y"])


def test_aslib_1x_comma_description_and_nested_metainfo(tmp_path):
    path = tmp_path / "description.txt"
    path.write_text("scenario_id: OLD\nperformance_measures: runtime\nmaximize: false\nperformance_type: runtime\n"
                    "algorithm_cutoff_time: 600\nalgorithm_cutoff_memory: ?\nfeatures_deterministic: a, b\n"
                    "algorithms_stochastic: \nmetainfo_algorithms:\n  x/1:\n    deterministic: true\n"
                    "  y:\n    configuration: ''\n")
    d = read_description(path)
    assert d.performance_measures == ["runtime"] and d.maximize == [False] and d.cutoff == 600.0
    assert d.algorithms == ["x/1", "y"] and d.features == ["a", "b"]


def test_arff_reader_types_quotes_and_missing(tmp_path):
    path = tmp_path / "t.arff"
    path.write_text("% head\n@relation 'r'\n@attribute 'my name' string\n@attribute v numeric\n"
                    "@attribute s {ok,crash}\n@data\n'a, b',?,ok\n\"c\",2.5,crash\n")
    table = read_arff(path)
    assert table.names == ["my name", "v", "s"] and table.types == ["string", "numeric", "nominal"]
    assert table.rows[0][0] == "a, b" and math.isnan(table.rows[0][1]) and table.rows[1] == ["c", 2.5, "crash"]


# ------------------------------------------------------------------------------------------------- errors


def test_missing_file_is_named(tmp_path):
    folder = write_runtime(tmp_path)
    (folder / "cv.arff").unlink()
    with pytest.raises(ScenarioError, match=r"cv\.arff: required ASlib file is missing"):
        read_scenario(folder)


@pytest.mark.parametrize(("file", "line", "message"), [
    # rows naming unknown instances or algorithms
    ("cv.arff", "ghost,1,2\n", r"cv\.arff: unknown instance 'ghost'"),
    ("algorithm_runs.arff", "i01,1,D,3,ok\n", r"algorithm 'D'.*not among the description's algorithms"),
    # malformed rows
    ("algorithm_runs.arff", "i01,1,A,3\n", r"algorithm_runs\.arff: Bad @DATA instance format in line \d+"),
    ("algorithm_runs.arff", "i01,1,A,fast,ok\n", r"algorithm_runs\.arff: Invalid numerical value, at line \d+"),
    ("algorithm_runs.arff", "i01,1,A,3,lost\n", r"algorithm_runs\.arff: Data value lost not found in nominal"),
    ("feature_values.arff", "'i01,1,0.2,0.5\n", r"feature_values\.arff: Invalid layout .* line \d+"),
])
def test_a_bad_arff_row_names_the_file_and_line(tmp_path, file, line, message):
    """A bad row (unknown instance or algorithm, or malformed) must stop with its file's name and what is
    wrong, not a traceback from inside the ARFF reader."""
    folder = write_runtime(tmp_path)
    with (folder / file).open("a") as handle:
        handle.write(line)
    with pytest.raises(ScenarioError, match=message):
        read_scenario(folder)


@pytest.mark.parametrize(("text", "message"), [
    ("performance_measures: [runtime\nmaximize: [false]\n", r"description\.txt: not valid YAML .*line 2"),
    ("- runtime\n- false\n", r"description\.txt: expected `key: value` lines .* got list"),
])
def test_a_bad_description_names_the_file(tmp_path, text, message):
    folder = write_runtime(tmp_path)
    (folder / "description.txt").write_text(text)
    with pytest.raises(ScenarioError, match=message):
        read_scenario(folder)


def test_description_without_performance_measures(tmp_path):
    folder = write_runtime(tmp_path)
    text = RUNTIME_DESCRIPTION.replace("performance_measures:\n  - runtime\n", "")
    (folder / "description.txt").write_text(text)
    with pytest.raises(ScenarioError, match="no performance_measures"):
        read_scenario(folder)


# --------------------------------------------------------------------------------------------- evaluation


def test_feature_driven_selector_closes_the_gap(tmp_path):
    s = read_scenario(write_runtime(tmp_path))
    result = evaluate_scenario(s, {"1nn": NearestNeighbour})
    assert result["1nn"]["par10"] < result["single-best"]["par10"]
    assert result["1nn"]["gap_closed"] > 0.5


def test_quality_evaluation_is_oriented_for_maximize(tmp_path):
    s = read_scenario(write_quality(tmp_path))
    result = evaluate_scenario(s, {"1nn": NearestNeighbour})
    assert set(result["oracle"]) == {"quality", "gap_closed"}
    assert result["oracle"]["quality"] == pytest.approx(s.performance.max(axis=1).mean())
    assert result["single-best"]["quality"] == pytest.approx(0.72)
    assert result["1nn"]["quality"] == pytest.approx(result["oracle"]["quality"])
    assert result["1nn"]["gap_closed"] == pytest.approx(1.0)


def test_gap_is_none_when_single_best_is_the_oracle(tmp_path):
    s = read_scenario(write_quality(tmp_path))
    s.performance[:, 0] = 1.0
    result = evaluate_scenario(s, {})
    assert result["single-best"]["gap_closed"] is None and result["oracle"]["gap_closed"] is None
    assert json.loads(json.dumps(result))["oracle"]["quality"] == 1.0


def test_reserved_method_names_are_refused(tmp_path):
    s = read_scenario(write_quality(tmp_path))
    with pytest.raises(ValueError, match="reserved"):
        evaluate_scenario(s, {"oracle": SingleBest})


def test_benchmark_cli_on_an_aslib_scenario(tmp_path, capsys):
    import json

    from zap.cli import main

    folder = write_runtime(tmp_path)
    report = tmp_path / "aslib.json"
    command = ["benchmark", "--aslib", str(folder), "--json", str(report), "--as-trials", "3", "--hpo-epochs", "3"]
    assert main(command) == 0
    result = json.loads(report.read_text())
    assert {"zap-hpo", "zap-as", "single-best", "oracle"} <= set(result)
    assert all("par10" in v and "gap_closed" in v for v in result.values())
    assert result["oracle"]["par10"] <= result["single-best"]["par10"]


# ------------------------------------------------------------------------- a scenario in the full format
# ASlib 2.x files as the library writes them: algorithms under metainfo_algorithms, quoted attribute names and
# instance ids, `?` for unknown values (bare and quoted), repetitions, ok/timeout/memout/crash runs, a runtime
# and a quality objective in the same runs file, feature_runstatus.arff (not read, but part of the format), and a
# cv.arff with two repetitions. Every expected number below is worked out by hand in its comment.

FULL_DESCRIPTION = """\
scenario_id: FULL-{first}
performance_measures:
- {first}
- {second}
maximize:
- {max_first}
- {max_second}
performance_type:
- {type_first}
- {type_second}
algorithm_cutoff_time: 10
algorithm_cutoff_memory: '?'
features_cutoff_time: ?
features_cutoff_memory: ?
features_deterministic:
- clause ratio
- n,vars
features_stochastic: []
number_of_feature_steps: 1
default_steps:
- base
feature_steps:
  base:
    provides:
    - clause ratio
    - n,vars
metainfo_algorithms:
  A:
    configuration: ''
    deterministic: true
  B:
    configuration: '--restarts 10'
    deterministic: true
  C:
    configuration: ''
    deterministic: false
"""

# instance, repetition, algorithm, runtime (s), quality, runstatus; cutoff 10 s
FULL_RUNS = """\
'inst 1',1,A,2,0.9,ok
'inst 1',1,B,10,0.2,timeout
'inst 1',1,C,5,0.5,ok
'inst 2',1,A,3,0.8,ok
'inst 2',2,A,10,0.6,timeout
'inst 2',1,B,4,0.6,ok
'inst 2',1,C,6,0.5,ok
'inst 3',1,A,1,0.9,ok
'inst 3',1,B,?,?,memout
'inst 3',1,C,8,0.4,ok
'inst 4',1,A,9,?,crash
'inst 4',1,B,2,0.8,ok
'inst 4',1,C,7,0.5,ok
'inst 5',1,A,4,0.7,ok
'inst 5',1,B,6,0.3,ok
'inst 5',1,C,?,?,memout
'inst 6',1,A,10,0.2,timeout
'inst 6',1,B,5,0.6,ok
'inst 6',1,C,9,0.5,ok
'inst 6',2,C,9.5,0.7,ok
"""

# PAR10 = the runtime of an `ok` run below the cutoff, else 10 x 10 s = 100; repetitions averaged after.
FULL_PAR10 = [
    [2.0, 100.0, 5.0],  # B timeout
    [(3 + 100) / 2, 4.0, 6.0],  # A: ok in 3 s, then a timeout -> 51.5
    [1.0, 100.0, 8.0],  # B memout, no runtime
    [100.0, 2.0, 7.0],  # A crash
    [4.0, 6.0, 100.0],  # C memout
    [100.0, 5.0, (9 + 9.5) / 2],  # A timeout; C two ok runs -> 9.25
]
# quality: the reported value whatever the status, `?` missing, repetitions averaged
FULL_QUALITY = [
    [0.9, 0.2, 0.5],
    [(0.8 + 0.6) / 2, 0.6, 0.5],
    [0.9, math.nan, 0.4],
    [math.nan, 0.8, 0.5],
    [0.7, 0.3, math.nan],
    [0.2, 0.6, (0.5 + 0.7) / 2],
]


def write_full(root: Path, objective: str) -> Path:
    """The scenario with `objective` ("runtime" or "quality") as the first performance measure, the one read."""
    runtime = ("runtime", "false", "runtime")
    quality = ("quality", "true", "solution_quality")
    first, second = (runtime, quality) if objective == "runtime" else (quality, runtime)
    folder = root / f"FULL-{objective}"
    folder.mkdir(parents=True)
    (folder / "description.txt").write_text(FULL_DESCRIPTION.format(
        first=first[0], second=second[0], max_first=first[1], max_second=second[1], type_first=first[2],
        type_second=second[2]))
    (folder / "algorithm_runs.arff").write_text(arff(
        "ALGORITHM_RUNS", ["'instance_id' STRING", "'repetition' NUMERIC", "'algorithm' STRING",
                           "'runtime' NUMERIC", "'quality' NUMERIC",
                           "'runstatus' {ok, timeout, memout, not_applicable, crash, other}"],
        FULL_RUNS.splitlines()))
    (folder / "feature_values.arff").write_text(arff(
        "FEATURES", ["instance_id STRING", "repetition NUMERIC", "'clause ratio' NUMERIC", '"n,vars" NUMERIC'],
        ['"inst 1",1,0.5,10', '"inst 1",2,0.7,?', '"inst 2",1,0.4,20', '"inst 3",1,?,?', '"inst 4",1,0.1,40',
         '"inst 5",1,0.9,50', '"inst 6",1,0.3,60']))
    (folder / "feature_runstatus.arff").write_text(arff(
        "FEATURE_RUNSTATUS", ["instance_id STRING", "repetition NUMERIC", "base {ok, timeout, memout, crash}"],
        [f"'inst {k}',1,ok" for k in range(1, 7)]))
    # repetition 1: folds {1, 2}, {3, 4}, {5, 6}; repetition 2 (not used) would split them otherwise
    cv = [f"'inst {k}',1,{(k + 1) // 2}" for k in range(1, 7)] + [f"'inst {k}',2,{k % 3 + 1}" for k in range(1, 7)]
    (folder / "cv.arff").write_text(arff("CV", ["instance_id STRING", "repetition NUMERIC", "fold NUMERIC"], cv))
    return folder


def test_full_format_is_read_as_written(tmp_path):
    """Catches a misread quoted name or id, a `?` taken as a number, repetitions not averaged, a status or the
    cutoff not applied, the wrong performance column, and folds from the wrong cv repetition."""
    s = read_scenario(write_full(tmp_path, "runtime"))
    assert s.name == "FULL-runtime" and s.performance_type == "runtime" and s.maximize is False and s.cutoff == 10
    assert s.instances == [f"inst {k}" for k in range(1, 7)] and s.algorithms == ["A", "B", "C"]
    assert s.feature_names == ["clause ratio", "n,vars"]
    # inst 1: clause ratio (0.5 + 0.7) / 2 = 0.6, n,vars 10 (its `?` repetition skipped); inst 3 all missing
    assert s.features[0].tolist() == pytest.approx([0.6, 10.0])
    assert np.isnan(s.features[2]).all()
    assert s.folds.tolist() == [1, 1, 2, 2, 3, 3]
    assert np.array_equal(s.par10, FULL_PAR10)
    # runtime as reported (`?` missing): inst 2/A (3 + 10) / 2 = 6.5, inst 4/A the crash's 9
    assert s.performance[1, 0] == 6.5 and s.performance[3, 0] == 9.0 and np.isnan(s.performance[2, 1])
    quality = read_scenario(write_full(tmp_path, "quality"))
    assert quality.maximize is True and quality.par10 is None and quality.cost is quality.performance
    assert np.allclose(quality.performance, FULL_QUALITY, equal_nan=True)


def test_full_format_runtime_sbs_vbs_par10_by_hand(tmp_path):
    """Catches a single best chosen on all instances (it must come from the training folds), a wrong
    oracle, and a wrong gap formula."""
    s = read_scenario(write_full(tmp_path, "runtime"))
    result = evaluate_scenario(s, {"always-A": lambda: FixedPipeline(0)})
    # VBS: the row minima 2, 4, 1, 2, 4, 5 -> 18 / 6 = 3.0
    assert result["oracle"]["par10"] == pytest.approx(3.0)
    # SBS per held-out fold, by mean PAR10 over the other two folds:
    #   fold 1 (train inst 3-6): A 205/4 = 51.25, B 113/4 = 28.25, C 124.25/4 = 31.06 -> B: 100 + 4
    #   fold 2 (train inst 1, 2, 5, 6): A 157.5/4 = 39.375, B 115/4 = 28.75, C 120.25/4 = 30.06 -> B: 100 + 2
    #   fold 3 (train inst 1-4): A 154.5/4 = 38.625, B 206/4 = 51.5, C 26/4 = 6.5 -> C: 100 + 9.25
    # -> 315.25 / 6 = 52.54 (C, the best over all six instances with 135.25 / 6 = 22.54, is not what CV picks)
    assert result["single-best"]["par10"] == pytest.approx(315.25 / 6)
    # always A: 2 + 51.5 + 1 + 100 + 4 + 100 = 258.5 -> 258.5 / 6; gap (315.25 - 258.5) / (315.25 - 18)
    assert result["always-A"]["par10"] == pytest.approx(258.5 / 6)
    assert result["always-A"]["gap_closed"] == pytest.approx(56.75 / 297.25)


def test_full_format_quality_sbs_vbs_by_hand(tmp_path):
    """The same for the maximized quality: catches the direction not flipped for maximize and a pick of a
    missing cell scored as anything but the instance's worst measured value."""
    s = read_scenario(write_full(tmp_path, "quality"))
    result = evaluate_scenario(s, {"always-B": lambda: FixedPipeline(1)})
    # VBS: the row maxima 0.9, 0.7, 0.9, 0.8, 0.7, 0.6 -> 4.6 / 6
    assert result["oracle"]["quality"] == pytest.approx(4.6 / 6)
    # SBS per held-out fold, by mean measured quality over the other two folds:
    #   fold 1: A 1.8/3 = 0.6, B 1.7/3 = 0.567, C 1.5/3 = 0.5 -> A: 0.9 + 0.7
    #   fold 2: A 2.5/4 = 0.625, B 1.7/4 = 0.425, C 1.6/3 = 0.533 -> A: 0.9 + (inst 4/A missing -> worst 0.5)
    #   fold 3: A 2.5/3 = 0.833, B 1.6/3 = 0.533, C 1.9/4 = 0.475 -> A: 0.7 + 0.2
    # -> 3.9 / 6 = 0.65
    assert result["single-best"]["quality"] == pytest.approx(3.9 / 6)
    # always B: 0.2 + 0.6 + (inst 3/B missing -> worst 0.4) + 0.8 + 0.3 + 0.6 = 2.9 -> 2.9 / 6;
    # gap (3.9 - 2.9) / (3.9 - 4.6) = -1 / 0.7: worse than single best, so negative
    assert result["always-B"]["quality"] == pytest.approx(2.9 / 6)
    assert result["always-B"]["gap_closed"] == pytest.approx(-1 / 0.7)
