"""The HTML reports (zap.html) rendered for real: a fit on the bundled digits, a benchmark run on a synthetic
meta-dataset and the shipped v1 benchmark folder, and the shipped v1 meta-dataset; each is opened in
headless Chromium, screenshot and read back from the rendered DOM. The tests skip only where Chromium is
missing (`bash scripts/install-test-tools.sh` installs it)."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_folder
from synthetic import write_synthetic_artifact
from zap.cli import main
from zap.errors import ConfigError
from zap.html import write_benchmark_report, write_fit_report
from zap.html.fit import confusion_matrix, nearest_datasets, report_level
from zap.html.page import render

ROOT = Path(__file__).resolve().parents[1]
V1_ARTIFACT = ROOT / "artifacts" / "metadataset" / "v1.json.gz"
V1_BENCHMARK = ROOT / "docs" / "data" / "benchmark_v1"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def browser() -> None:
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed: run `bash scripts/install-test-tools.sh` (make test does)")


def rendered(report: Path, tmp_path: Path) -> str:
    """Check that Chromium draws the report as a real page and return the DOM it rendered."""
    text = report.read_text()
    assert not EXTERNAL.findall(text), "the report must not fetch anything"
    png = tmp_path / f"{report.parent.name}.png"
    dom = render(report, png)
    picture = Image.open(png).convert("RGB")
    assert picture.size == (1280, 2400)
    assert np.asarray(picture).std() > 20  # not a blank page
    assert len(picture.getcolors(maxcolors=1 << 24)) > 200  # figures and text, not a flat colour
    assert "</main>" in dom  # the whole page was parsed
    return dom


def card(dom: str, label: str) -> str:
    """The value shown large under a label."""
    found = re.search(rf'<div class="label">{re.escape(label)}</div><div class="value">([^<]*)</div>', dom)
    assert found, f"no card {label!r}"
    return found.group(1)


# ------------------------------------------------------------------------------------------------- fit


CLASSES = ("<img src=x onerror=alert(1)>", "x & y", '"quoted"')


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A real zero-shot fit (the shipped selector picks) of a tiny image folder whose path and class names
    look like markup, a few CPU seconds."""
    from zap import ZAP

    root = tmp_path_factory.mktemp("data") / 'a<b>&"c"'
    write_folder(root, n_classes=3, per_class=12)
    for i, name in enumerate(CLASSES):
        (root / f"class_{i}").rename(root / name)
    model = ZAP(budget=2, clock="cpu", threads=1).fit(root)
    return model, model.summary() | {"data": str(root)}


def test_fit_report_shows_the_runs_numbers_pick_errors_and_time(fitted, browser, tmp_path):
    model, summary = fitted
    dom = rendered(write_fit_report(tmp_path / "fit", model, summary), tmp_path)
    assert card(dom, "ALC") == f"{summary['alc']:.3f}"
    assert card(dom, "final NAUC") == f"{summary['final_nauc']:.3f}"
    assert card(dom, "accuracy") == f"{summary['accuracy']:.3f}"
    assert card(dom, "status") == summary["status"]
    assert card(dom, "budget") == "2 cpu-s"
    assert summary["pipeline_id"] in dom and "zap-hpo" in dom
    for warning in summary["selection"]["warnings"]:  # e.g. 36 training images lie outside the meta-dataset
        assert html.escape(warning, quote=False) in dom
    # the confusion matrix and the grid come from the released test prediction the accuracy was scored on
    labels, predicted = model.split_.test.labels, model.result_.test_probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, len(CLASSES))
    assert matrix.sum() == len(labels) and matrix.trace() / matrix.sum() == pytest.approx(summary["accuracy"])
    wrong = int((labels != predicted).sum())
    assert f"{wrong} of {len(labels)} test images misclassified" in dom
    assert dom.count('alt="misclassified image"') == min(wrong, 24)
    assert dom.count('<tr class="hl"><td>cpu') == 1  # the budget's clock, with its share of the budget


def test_fit_report_escapes_class_names_and_paths(fitted, tmp_path):
    """Class folders and a path named like markup show as text, never become markup."""
    text = write_fit_report(tmp_path / "fit", *fitted).read_text()
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert 'a<b>&"c"' not in text and "a&lt;b&gt;&amp;&quot;c&quot;" in text
    assert "x &amp; y" in text and "&quot;quoted&quot;" in text  # in the table of the hardest classes


def test_fit_report_says_how_busy_the_machine_was_when_zap_chose_the_threads(fitted, tmp_path):
    model, summary = fitted
    chosen = summary | {"threads": 1, "threads_choice": {"threads": 1, "cores": 2, "busy_cores": 1.9, "rule": "r"}}
    text = write_fit_report(tmp_path / "chosen", model, chosen).read_text()
    assert "1 torch thread(s) on 2 cores: other work kept 1.9 cores busy at the start" in text
    named = write_fit_report(tmp_path / "named", model, summary | {"threads": 3, "threads_choice": None}).read_text()
    assert "3 thread(s) ·" in named and "other work kept" not in named


def test_fit_report_says_when_the_selector_fell_back(fitted, tmp_path):
    model, summary = fitted
    selection = {"selector": "zap-hpo", "fallback": "recommended",
                 "warnings": ["no trained 'zap-hpo' selector at /x/<home>/zap-hpo.zsel"]}
    text = write_fit_report(tmp_path, model, summary | {"selection": selection}).read_text()
    assert "fallback: ran the &#x27;recommended&#x27; pipeline instead" in text
    assert "/x/&lt;home&gt;/zap-hpo.zsel" in text and "could not pick" in text
    assert "Top candidates" not in text  # no ranking to show: the selector never ran


def test_fit_report_says_why_the_pipeline_that_ran_was_chosen(fitted, tmp_path):
    """A trained selector's record: the fallback decision and the suggestions passed over for their price are
    said in words, as `zap fit` prints them, never dumped (the report once printed the decision's dict as the
    name of a pipeline)."""
    model, summary = fitted
    selection = {"selector": "zap-hpo", "pipeline_id": "bbb", "name": None, "score": 0.2, "warnings": [],
                 "top_k": [{"rank": 1, "pipeline_id": "aaa", "score": 0.3}, {"rank": 2, "pipeline_id": "bbb",
                                                                             "score": 0.2}],
                 "priced_out": [{"pipeline_id": "aaa", "rank": 1, "first_answer_ref_s": 3.25}],
                 "fallback": {"fell_back": True, "reason": "outside <range>", "pick": "ccc", "single_best": "aaa"}}
    text = write_fit_report(tmp_path, model, summary | {"selection": selection, "pipeline_id": "bbb"}).read_text()
    assert "fell_back" not in text and "ran the &#x27;{" not in text
    assert "zap-hpo&#x27;s suggestion 2: the best-ranked whose first answer can come within the budget" in text
    assert "instead of zap-hpo&#x27;s pick ccc: outside &lt;range&gt;" in text
    assert "3.25" in text.split("Top candidates")[1].split("</table>")[0]


def test_fit_report_names_every_budget_level_the_selector_learned_from(fitted, tmp_path):
    """A multi-level selector's protocol records its lowest level's budget; the report names all its levels."""
    model, summary = fitted
    trained = {"protocol": {"budget": 20.0, "clock": "ref", "threads": 1}, "n_datasets": 96, "n_cores": 32,
               "protocol_hash": "abc", "levels": [20.0, 60.0]}
    selection = {"selector": "zap-hpo", "pipeline_id": summary["pipeline_id"], "score": 0.5, "warnings": [],
                 "trained_on": trained}
    text = write_fit_report(tmp_path / "levels", model, summary | {"selection": selection}).read_text()
    assert "measured at 20 and 60 ref-s" in text
    one = trained | {"protocol": {"budget": 20.0, "clock": "cpu"}, "levels": [20.0]}
    text = write_fit_report(tmp_path / "one", model, summary | {"selection": selection | {"trained_on": one}})
    assert "measured at 20.0 cpu-s" in text.read_text()


def test_fit_report_names_the_default_rules_band(fitted, tmp_path):
    model, summary = fitted
    assert summary["default_rule"]  # strategy and selector were left to auto
    text = write_fit_report(tmp_path, model, summary).read_text()
    assert "the default rule chose the strategy and selector (left to auto)" in text
    assert html.escape(summary["default_rule"]["evidence"]) in text
    chosen = summary | {"default_rule": None}
    assert "default rule" not in write_fit_report(tmp_path / "mine", model, chosen).read_text()


def test_nearest_datasets_are_found_in_standardized_log_meta_feature_space():
    from zap.metadataset.artifact import load

    payload = load(V1_ARTIFACT)
    target = payload["datasets"][7]
    vector = np.array([target["meta_features"][k] for k in ("n_channels", "n_classes", "n_train", "resolution")])
    alc = np.array([[np.nan if v is None else v for v in row] for row in payload["matrices"]["0"]["alc"]])
    second = payload["candidates"][int(np.argsort(-alc[7])[1])]["id"]  # by the first seed: ranks may shift
    rows = nearest_datasets(vector, payload, second)
    assert len(rows) == 5 and rows[0]["dataset"] == target["id"] and rows[0]["distance"] == pytest.approx(0)
    assert [r["distance"] for r in rows] == sorted(r["distance"] for r in rows)
    assert rows[0]["chosen_rank"] >= 1 and rows[0]["chosen_alc"] <= rows[0]["best_alc"]
    best = rows[0]["best_pipeline"]
    assert nearest_datasets(vector, payload, best)[0]["chosen_rank"] == 1


def test_the_report_compares_a_run_with_the_measured_level_nearest_its_budget(fitted, tmp_path):
    """On a multi-level meta-dataset the nearest datasets are ranked at the level nearest the run's budget
    (log scale), among that level's candidates; a level with no measured cell is never it."""
    import gzip
    import json

    from synthetic import synthetic_levels_artifact
    from zap.metadataset.artifact import load

    payload = synthetic_levels_artifact(budgets=(20.0, 60.0, 120.0))  # 8 candidates at 20, 6 above
    for matrices in payload["levels"]["120"]["matrices"].values():
        matrices["alc"] = matrices["final_nauc"] = [[None] * len(row) for row in matrices["alc"]]
    assert [report_level(payload, b) for b in (5, 34, 35, 100, 5000, None)] == [20, 20, 60, 60, 60, 20]
    assert report_level(load(V1_ARTIFACT), 60) is None
    path = tmp_path / "levels.json.gz"
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    model, summary = fitted
    for budget, expected in ((50.0, "ranked among the 6 candidates of its 60 ref-s level"),
                             (10.0, "ranked among the 8 candidates of its 20 ref-s level")):
        text = write_fit_report(tmp_path / f"at{budget:g}", model, summary | {"budget_ref_s": budget},
                                artifact=path).read_text()
        assert expected in text


def test_an_unfitted_estimator_or_a_file_as_folder_is_a_clear_error(fitted, tmp_path):
    from zap import ZAP

    with pytest.raises(ConfigError, match="fitted"):
        write_fit_report(tmp_path, ZAP(), {})
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        write_fit_report(tmp_path / "file", *fitted)


# ------------------------------------------------------------------------------------------------ tune


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A real search (SMAC3 on a tiny dataset, 1.5 reference seconds, the caller's two pipelines first), its
    summary as `zap tune` writes it (through JSON) and its curve."""
    import json

    from test_tune import GIVEN, dataset
    from zap.data import SplitSettings, train_test_split
    from zap.finetune import Budget
    from zap.report import write_json
    from zap.strategies.tune import tune

    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(1.5, "ref"), init=GIVEN, k=2, seed=0, trial_budget=1.0)
    path = tmp_path_factory.mktemp("tune") / "summary.json"
    write_json(path, result.summary() | {"data": "<tiny & data>", "seed": 0})
    return json.loads(path.read_text()), result.curve


def test_tune_report_shows_the_searchs_numbers_and_every_trial(tuned, browser, tmp_path):
    from zap.html import write_tune_report

    summary, curve = tuned
    dom = rendered(write_tune_report(tmp_path / "tune", summary, curve), tmp_path)
    search = summary["tune"]
    assert card(dom, "search ALC") == f"{summary['alc']:.3f}"
    assert card(dom, "final NAUC") == f"{summary['final_nauc']:.3f}"
    assert card(dom, "accuracy") == f"{summary['accuracy']:.3f}"
    assert card(dom, "budget") == "1.5 ref-s"
    assert card(dom, "trials") == str(search["n_trials"]) and search["n_trials"] > 2
    assert card(dom, "incumbent") == f"trial {search['incumbent']['n']}"
    table = dom.split('id="trials"')[1].split("</section>")[0]
    assert table.count("<tr") == search["n_trials"] + 1  # a header and one row per trial
    highlighted = re.findall(r'<tr class="hl"><td[^>]*>(\d+)</td>', table)
    assert highlighted == [str(search["incumbent"]["n"])]
    origins = re.findall(r'<tr[^>]*><td[^>]*>\d+</td><td>([^<]*)</td>', table)
    assert origins == [t["origin"] for t in search["trials"]] and origins[:2] == ["zero-shot"] * 2
    assert dom.count('alt="trials"') == 1 and dom.count('alt="search curve"') == 1
    assert "&lt;tiny &amp; data&gt;" in dom and "<tiny & data>" not in dom


def test_tune_report_lists_the_trials_skipped_for_their_price(tuned, tmp_path):
    import copy

    from zap.html import write_tune_report

    summary, curve = tuned
    title = "Skipped: no answer possible within their budget"
    skipped = summary["tune"]["skipped"]
    assert skipped  # the tiny search skips the CNNs whose first step and pass cannot fit in 1/9 ref-s
    page = write_tune_report(tmp_path / "real", summary, curve).read_text()
    section = page.split(f"{title} ({len(skipped)})")[1].split("</table>")[0]
    assert all(t["pipeline_id"] in section for t in skipped) and section.count("<tr>") == len(skipped) + 1
    summary = copy.deepcopy(summary)
    summary["tune"]["skipped"] = []
    assert title not in write_tune_report(tmp_path / "none", summary, curve).read_text()
    summary["tune"]["skipped"] = [{"pipeline_id": "<slow>", "origin": "model", "budget": 0.111,
                                   "asked_budget": 0.111, "first_answer_s": 0.256, "config": {}}]
    page = write_tune_report(tmp_path / "escaped", summary, curve).read_text()
    assert "&lt;slow&gt;" in page.split(f"{title} (1)")[1] and "<slow>" not in page
    summary["tune"]["passed"] = [{"pipeline_id": "<late>", "origin": "random", "budget": 0.05, "asked_budget": 0.333,
                                  "first_answer_s": 0.256, "after_trial": 7}]
    page = write_tune_report(tmp_path / "passed", summary, curve).read_text()
    section = page.split("Passed over: no room left for their first answer (1)")[1].split("</table>")[0]
    assert "&lt;late&gt;" in section and "<late>" not in page and ">7<" in section


def test_tune_report_refuses_another_runs_summary(tuned, fitted, tmp_path):
    from zap.html import write_tune_report

    _, curve = tuned
    with pytest.raises(ConfigError, match="summary of a `zap tune` run"):
        write_tune_report(tmp_path, fitted[1], curve)


# ------------------------------------------------------------------------------------------- benchmark


def test_benchmark_report_of_a_run_on_a_synthetic_meta_dataset(browser, tmp_path):
    from zap.benchmark import BenchmarkOptions, run_protocols
    from zap.metadataset.artifact import load

    write_synthetic_artifact(tmp_path / "md.json.gz", n_groups=5, per_group=3, n_pipelines=8, seed=0)
    out = tmp_path / "bench"
    options = BenchmarkOptions(protocols=("loco",), methods=("random",), repetitions=1, ablations=False,
                               max_folds=2, rerun_picks=0, objectives=("alc",))  # no selector to train: fast
    result = run_protocols(load(tmp_path / "md.json.gz"), out, options)
    dom = rendered(write_benchmark_report(out, result), tmp_path)
    for level, view in result.runs[0].view["alc"].items():
        assert f"loco: ALC at {level} s" in dom
        for method in ("single-best", "oracle"):
            assert card(dom, f"{method} (ALC)") == f"{view[method]['score']:.3f}"
        assert f"<tr><td>random</td><td class=\"num\">{view['random']['score']:.3f}</td>" in dom
    assert "Per core" in dom and dom.count("Mean rank per core") == len(result.runs[0].view["alc"])


def test_benchmark_report_of_the_shipped_v1_benchmark(browser, tmp_path):
    """The layout before objectives and budget levels, read from disk alone."""
    import json

    out = tmp_path / "benchmark_v1"
    shutil.copytree(V1_BENCHMARK, out)
    dom = rendered(write_benchmark_report(out), tmp_path)
    loco = json.loads((V1_BENCHMARK / "loco.json").read_text())
    assert card(dom, "zap-hpo (ALC)") == f"{loco['zap-hpo']['alc']:.3f}"
    assert card(dom, "oracle (ALC)") == f"{loco['oracle']['alc']:.3f}"
    assert all(f'id="{tag}"' in dom for tag in ("loco", "lodo", "loco-dropown"))
    assert "Picks re-run" in dom and dom.count("chars-arabic") >= 3  # per-core tables from the folds


def test_benchmark_report_needs_a_benchmark_folder(tmp_path):
    with pytest.raises(ConfigError, match="no benchmark summary"):
        write_benchmark_report(tmp_path)


# ----------------------------------------------------------------------------------------- metadataset


def test_metadataset_report_of_the_shipped_v1_artifact(browser, tmp_path, capsys):
    from zap.metadataset.problem import SelectionProblem

    assert main(["metadataset", "report", str(V1_ARTIFACT), "--out", str(tmp_path / "md")]) == 0
    report = tmp_path / "md" / "report.html"
    assert str(report) in capsys.readouterr().out
    dom = rendered(report, tmp_path)
    problem = SelectionProblem.load(V1_ARTIFACT)
    alc = problem.alc[problem.complete_rows()]  # the Oracle and Single-best recomputed from the matrix
    assert card(dom, "Oracle ALC") == f"{alc.max(axis=1).mean():.3f}"
    assert card(dom, "Single-best ALC") == f"{alc.mean(axis=0).max():.3f}"
    assert card(dom, "Random ALC") == f"{alc.mean():.3f}"
    assert card(dom, "datasets") == "88" and card(dom, "candidates") == "34"
    assert 'alt="cost matrix"' in dom and 'alt="winners"' in dom and "Noise floor" in dom


def test_metadataset_report_errors_are_one_line(tmp_path, capsys):
    assert main(["metadataset", "report", str(tmp_path / "missing.json.gz"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["metadataset", "report", str(V1_ARTIFACT), "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_names_show_as_spelled_even_with_bidirectional_controls():
    """U+202E (right-to-left override) makes "‮gnp.exe.png" display as another name; the report shows the code
    point instead, in text and in attributes alike."""
    from zap.html.page import esc

    assert esc("\u202egnp.exe.png") == "&lt;U+202E&gt;gnp.exe.png"
    assert esc('a\u2066"b') == "a&lt;U+2066&gt;&quot;b" and esc("naïve ✓") == "naïve ✓"
