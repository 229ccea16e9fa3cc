"""A run's output folder is one set, put into place whole: a kill at any moment leaves the previous complete
run or a folder marked incomplete, never a new curve beside an old model; Ctrl-C saves what the run had; a
run whose only prediction came after the budget says so."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import zap.report as report
from conftest import FAST_CONFIG, write_folder
from zap import ZAP
from zap.cli import main
from zap.data import SplitSettings, load_dataset, train_test_split
from zap.errors import ArtifactError
from zap.finetune import Budget, run
from zap.finetune.predictor import Predictor
from zap.report import RunFolder, leftovers, model_folder, write_run

QUICK_FIRST = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}  # a prediction right away


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def quick_first(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "quick_first.json"
    path.write_text(json.dumps(QUICK_FIRST))
    return path


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory, data, quick_first) -> Path:
    """A complete run written by `zap fit`: what a later run into the same folder must keep or replace whole."""
    out = tmp_path_factory.mktemp("previous") / "run"
    assert main(["fit", str(data), "--budget", "2", "--clock", "cpu", "--config", str(quick_first),
                 "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def run_dir(tmp_path, previous_run) -> Path:
    out = tmp_path / "run"
    shutil.copytree(previous_run, out)
    return out


@pytest.fixture(scope="module")
def fitted(data) -> ZAP:
    """A second run, fitted on a step budget: quick and deterministic."""
    return ZAP(budget=2, clock="steps", config=dict(QUICK_FIRST), threads=1).fit(str(data))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def predicts(folder: Path, images: Path, tmp_path: Path) -> int:
    return main(["predict", str(folder), str(images), "--out", str(tmp_path / "p.csv"), "--quiet"])


# ------------------------------------------------------------------------------- writing and putting in place


@pytest.mark.parametrize("failing", ["plot_curve", "save"])
def test_a_writer_failing_midway_leaves_the_previous_run(run_dir, fitted, data, tmp_path, monkeypatch, capsys,
                                                         failing):
    """What a kill during the final writes leaves, made testable: a writer raises half-way (the plot, or the
    model after the curve and the plot are written)."""
    before = snapshot(run_dir)
    folder = RunFolder(run_dir)
    folder.begin({"data": str(data)})

    def broken(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(*(report, "plot_curve", broken) if failing == "plot_curve" else (fitted, "save", broken))
    with pytest.raises(OSError, match="no space"):
        write_run(folder.partial, fitted, fitted.summary())
    assert snapshot(run_dir) == before  # the previous run, whole
    assert json.loads((folder.partial / "summary.json").read_text())["status"] == "incomplete"
    assert (folder.partial / "learning_curve.csv").is_file()  # written before the failure
    with pytest.raises(ArtifactError, match="never finished"):
        model_folder(folder.partial)
    assert predicts(run_dir, data / "class_0", tmp_path) == 0  # the previous run's model, beside its own curve
    assert predicts(folder.partial, data / "class_0", tmp_path) == 2
    assert "never finished" in capsys.readouterr().err


@pytest.mark.parametrize("exchange", [True, False], ids=["atomic-exchange", "two-renames"])
def test_a_complete_run_replaces_the_previous_one_whole(run_dir, fitted, monkeypatch, exchange):
    (run_dir / "from_the_previous_run.txt").write_text("old")
    if not exchange:  # a system or file system without renameat2's exchange
        monkeypatch.setattr(report, "_exchange", lambda a, b: False)
    folder = RunFolder(run_dir)
    folder.begin({})
    write_run(folder.partial, fitted, fitted.summary() | {"run": "new"})
    assert folder.publish() == run_dir
    assert json.loads((run_dir / "summary.json").read_text())["run"] == "new"
    assert not (run_dir / "from_the_previous_run.txt").exists() and leftovers(run_dir) == []
    assert Predictor.load(model_folder(run_dir)).pipeline_id == fitted.summary()["pipeline_id"]


def test_a_run_into_a_new_folder_is_one_rename(tmp_path, fitted):
    folder = RunFolder(tmp_path / "new")
    folder.begin({})
    write_run(folder.partial, fitted, fitted.summary())
    folder.publish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]
    assert json.loads((tmp_path / "new" / "summary.json").read_text())["status"] == "ok"


def test_a_kill_between_the_two_renames_is_named_by_predict(run_dir, fitted, data, tmp_path, monkeypatch, capsys):
    """Without the atomic exchange, a kill after DIR moved aside and before the new run moved in leaves no DIR:
    both runs are kept, and `zap predict DIR` names them instead of saying the model is missing."""
    before = snapshot(run_dir)
    monkeypatch.setattr(report, "_exchange", lambda a, b: False)
    folder = RunFolder(run_dir)
    folder.begin({})
    write_run(folder.partial, fitted, fitted.summary())
    renames = []

    def killed_at_the_second(source, target):
        renames.append(target)
        if len(renames) == 2:
            raise OSError("killed")
        os.replace(source, target)

    monkeypatch.setattr(report.os, "rename", killed_at_the_second)
    with pytest.raises(ArtifactError, match=r"\(killed\); the complete run is in .*partial"):
        folder.publish()
    monkeypatch.undo()
    assert not run_dir.exists()
    previous = run_dir.with_name(f"run.previous-{os.getpid()}")
    assert leftovers(run_dir) == [folder.partial, previous]
    assert snapshot(previous) == before
    assert json.loads((folder.partial / "summary.json").read_text())["status"] == "ok"
    assert predicts(run_dir, data / "class_0", tmp_path) == 2
    err = capsys.readouterr().err
    assert f"{folder.partial} (a complete run, status ok)" in err and "rename a complete run to" in err
    assert f"{previous} (the run before the one being put in place, status ok)" in err


def test_an_interrupted_run_never_replaces_a_complete_one(run_dir, fitted, tmp_path):
    """Ctrl-C mid-training saves what the run had; over a complete earlier run that went in its place, and the
    good run was lost (a helper's kill sweep). Now it goes beside it; over nothing, or over another
    interrupted run, it takes DIR's place as before."""
    before = snapshot(run_dir)
    interrupted = fitted.summary() | {"status": "interrupted"}
    for turn in range(2):  # the second replaces the first interrupted one, beside DIR
        folder = RunFolder(run_dir)
        folder.begin({})
        write_run(folder.partial, fitted, interrupted | {"turn": turn})
        assert folder.publish("interrupted") == run_dir.with_name("run.interrupted")
    assert snapshot(run_dir) == before and leftovers(run_dir) == []
    assert json.loads((run_dir.with_name("run.interrupted") / "summary.json").read_text())["turn"] == 1
    fresh = RunFolder(tmp_path / "fresh")
    fresh.begin({})
    write_run(fresh.partial, fitted, interrupted)
    assert fresh.publish("interrupted") == tmp_path / "fresh"


def test_an_interrupted_run_never_replaces_what_is_not_a_run(run_dir, fitted):
    """The name beside DIR holds a user's file: the interrupted run stays in its partial folder, which is named."""
    beside = run_dir.with_name("run.interrupted")
    beside.write_text("mine")
    folder = RunFolder(run_dir)
    folder.begin({})
    write_run(folder.partial, fitted, fitted.summary() | {"status": "interrupted"})
    assert folder.publish("interrupted") == folder.partial and beside.read_text() == "mine"


def test_the_summary_turns_final_only_after_the_report(tmp_path, fitted):
    """A kill after the summary and before report.html left a folder that said "ok" without its report."""
    folder = RunFolder(tmp_path / "run")
    folder.begin({})
    seen = []

    def report_file(out):
        seen.append(json.loads((out / "summary.json").read_text())["status"])
        raise OSError("killed while writing report.html")

    with pytest.raises(OSError, match="killed"):
        write_run(folder.partial, fitted, fitted.summary(), report=report_file)
    assert seen == ["incomplete"]
    assert json.loads((folder.partial / "summary.json").read_text())["status"] == "incomplete"


def test_a_kill_while_the_old_run_is_deleted_leaves_no_complete_looking_run(run_dir, fitted, monkeypatch):
    folder = RunFolder(run_dir)
    folder.begin({})
    write_run(folder.partial, fitted, fitted.summary() | {"run": "new"})
    monkeypatch.setattr(report.shutil, "rmtree", lambda path: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(ArtifactError, match="killed"):
        folder.publish()
    assert json.loads((run_dir / "summary.json").read_text())["run"] == "new"
    assert not (folder.partial / "summary.json").exists() and (folder.partial / "model").is_dir()  # the old run


def test_ctrl_c_while_the_folders_move_is_held_until_they_have(run_dir, fitted, monkeypatch):
    """A KeyboardInterrupt right after the exchange reached `zap fit`'s "DIR is as it was", which was false."""
    exchange = report._exchange

    def interrupted_midway(a, b):
        os.kill(os.getpid(), signal.SIGINT)
        return exchange(a, b)

    folder = RunFolder(run_dir)
    folder.begin({})
    write_run(folder.partial, fitted, fitted.summary() | {"run": "new"})
    monkeypatch.setattr(report, "_exchange", interrupted_midway)
    with pytest.warns(UserWarning, match="let finish"):
        assert folder.publish() == run_dir
    assert json.loads((run_dir / "summary.json").read_text())["run"] == "new" and leftovers(run_dir) == []


def test_predict_refuses_a_model_that_is_not_the_runs(run_dir, data, tmp_path, capsys):
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps(summary | {"pipeline_id": "0123456789ab"}))
    assert predicts(run_dir, data / "class_0", tmp_path) == 2
    assert "the model is not this run's" in capsys.readouterr().err


def test_a_bug_during_the_writes_leaves_the_previous_run(run_dir, data, quick_first, monkeypatch):
    """`zap fit` itself: any failure after the partial folder exists removes it, and DIR stays as it was."""
    before = snapshot(run_dir)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a writer")

    monkeypatch.setattr(report, "plot_curve", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["fit", str(data), "--budget", "1", "--clock", "cpu", "--config", str(quick_first),
              "--out", str(run_dir), "--quiet"])
    assert snapshot(run_dir) == before and leftovers(run_dir) == []


# ---------------------------------------------------------------------------------------------- Ctrl-C


def test_the_runner_stops_at_ctrl_c_and_keeps_what_it_had(arrays):
    """A real SIGINT right after the first CNN prediction: the run stops, says so, and returns the model whose
    prediction counted; a run that is not interruptible (the meta-dataset's) lets it through."""
    split = train_test_split(load_dataset(arrays), SplitSettings(0.3, 100, 0))
    config = FAST_CONFIG | {"eval_first_frac": 0.01}

    def ctrl_c(curve):
        signal.raise_signal(signal.SIGINT)

    result = run(split.train, split.test, config, Budget(400, "steps"), interruptible=True, on_prediction=ctrl_c)
    assert result.status == "interrupted" and "Ctrl-C" in result.error and result.events[-1]["event"] == "interrupted"
    assert len(result.curve) == 1 and result.elapsed["steps"] < 400
    reference = run(split.train, split.test, config, Budget(result.curve.rows[0]["steps"], "steps"), anytime=False)
    for ours, theirs in zip(result.model.state_dict().values(), reference.model.state_dict().values(), strict=True):
        assert torch.equal(ours, theirs)  # the model of the prediction, not of a step after it
    # Python's own handler for the rest (another test may have imported dask-jobqueue, whose handler exits)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(split.train, split.test, config, Budget(400, "steps"), on_prediction=ctrl_c)
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _fit(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zap.cli", "fit", *argv, "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_ctrl_c_saves_what_the_run_had_and_exits_130(tmp_path):
    out = tmp_path / "run"
    process = _fit(["digits", "--budget", "60", "--threads", "1", "--config", "recommended", "--out", str(out)])
    _wait_for(out.with_name(f"run.partial-{process.pid}") / "learning_curve.csv", process)  # a first prediction
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == 130 and stdout == "", stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1 and stderr.startswith("zap: interrupted; saved")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and "Ctrl-C" in summary["error"] and summary["n_predictions"] >= 1
    assert summary["elapsed_s"] < 60 and leftovers(out) == []
    assert len(Predictor.load(out / "model").class_names) == 10
    assert (out / "learning_curve.csv").read_text().count("\n") == summary["n_predictions"] + 1


# ------------------------------------------------------------------------------------------------ SIGKILL


@pytest.mark.parametrize("moment", ["summary.json", "learning_curve.csv"], ids=["at-start", "while-training"])
def test_sigkill_leaves_the_previous_run_or_a_folder_marked_incomplete(run_dir, data, quick_first, tmp_path,
                                                                       capsys, moment):
    """Killed as soon as the partial folder exists (before the data is read), or after its first prediction."""
    before = snapshot(run_dir)
    process = _fit([str(data), "--budget", "60", "--clock", "cpu", "--config", str(quick_first),
                    "--out", str(run_dir)])
    partial = run_dir.with_name(f"run.partial-{process.pid}")
    _wait_for(partial / moment, process)
    process.kill()
    process.communicate(timeout=60)
    assert snapshot(run_dir) == before
    assert json.loads((partial / "summary.json").read_text())["status"] == "incomplete"
    assert predicts(run_dir, data / "class_0", tmp_path) == 0
    assert predicts(partial, data / "class_0", tmp_path) == 2
    assert "never finished" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ late predictions


def test_a_run_whose_only_prediction_came_after_the_budget_is_late(tmp_path, data, capsys):
    """The first prediction is never abandoned, so a budget shorter than one prediction pass makes one that
    ALC cannot count: the run says "late" (exit 3), not "ok". Reference seconds make it deterministic."""
    fast = tmp_path / "fast.json"
    fast.write_text(json.dumps(FAST_CONFIG))
    out = tmp_path / "run"
    assert main(["fit", str(data), "--budget", "0.001", "--clock", "ref", "--threads", "1", "--config", str(fast),
                 "--out", str(out), "--quiet"]) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "late" and summary["alc"] == 0 and summary["n_predictions"] == 1
    assert "after the budget" in summary["error"] and "note: status late" in capsys.readouterr().err


def test_a_run_in_time_is_ok(fitted):
    assert fitted.summary()["status"] == "ok" and not fitted.result_.late


def test_zero_shot_keeps_the_top_five(data):
    """A report writer needs the selector's runners-up: the pick and the four after it, ranked."""
    model = ZAP(budget=1, clock="steps", threads=1).fit(str(data))
    top = model.summary()["selection"]["top_k"]
    assert [s["rank"] for s in top] == [1, 2, 3, 4, 5]
    assert top[0]["pipeline_id"] == model.summary()["pipeline_id"]
    scores = [s["score"] for s in top]
    # the selector's order, after Single-best where the fallback put it first (and said so)
    ranked = scores[1:] if model.summary()["selection"]["fallback"]["fell_back"] else scores
    assert ranked == sorted(ranked, reverse=True)
    assert set(top[0]) == {"rank", "pipeline_id", "name", "score"}


def test_predict_refuses_a_run_without_a_model_or_with_a_damaged_summary(tmp_path):
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    (run_folder / "summary.json").write_text(json.dumps({"status": "interrupted", "n_predictions": 0}))
    with pytest.raises(ArtifactError, match="interrupted before its first prediction: it saved no model"):
        model_folder(run_folder)
    (run_folder / "summary.json").write_text('{"status": "ok", ')
    with pytest.raises(ArtifactError, match="summary.json is damaged"):
        model_folder(run_folder)


def test_ctrl_c_stops_a_run_even_where_a_library_replaced_the_sigint_handler(arrays):
    """dask-jobqueue, once imported, makes SIGINT exit the process; an interruptible run still gets its
    KeyboardInterrupt, and the library's handler is back afterwards."""
    import sys

    split = train_test_split(load_dataset(arrays), SplitSettings(0.3, 100, 0))

    def library_handler(*_):
        sys.exit(9)

    previous = signal.signal(signal.SIGINT, library_handler)
    try:
        result = run(split.train, split.test, FAST_CONFIG | {"eval_first_frac": 0.01}, Budget(400, "steps"),
                     interruptible=True, on_prediction=lambda curve: signal.raise_signal(signal.SIGINT))
        assert result.status == "interrupted"
        assert signal.getsignal(signal.SIGINT) is library_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_summary_json_is_strict_json_even_with_numbers_a_run_did_not_keep(tmp_path):
    """Python writes NaN as a bare `NaN`, which is no JSON (a browser's JSON.parse refuses it): a clock a run
    did not keep is written as null, in nested records too."""
    import numpy as np

    path = tmp_path / "summary.json"
    report.write_json(path, {"alc": 0.5, "elapsed": {"ref_s": float("nan"), "wall_s": np.float32("inf")},
                             "trace": [1.0, float("-inf")], "steps": np.int64(3)})
    text = path.read_text()
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in summary.json")) == {
        "alc": 0.5, "elapsed": {"ref_s": None, "wall_s": None}, "trace": [1.0, None], "steps": 3}


def test_folders_left_by_killed_runs_are_named_and_kept(tmp_path, capsys):
    """Each killed run leaves a folder about as large as a run, which nothing deletes: a later `zap fit --out`
    names those whose process is gone, and leaves the live one (a run still writing) out of the count."""
    from zap.cli import _note_stale_leftovers

    out = tmp_path / "run"
    dead, alive = out.with_name("run.partial-999999999"), out.with_name(f"run.partial-{os.getpid()}")
    for folder in (dead, alive, out.with_name("run.interrupted")):
        folder.mkdir()
    assert report.stale_leftovers(out) == [dead]
    _note_stale_leftovers(str(out))
    assert "1 folder(s) beside" in capsys.readouterr().err and dead.is_dir() and alive.is_dir()


def test_zap_fit_says_where_an_interrupted_run_went(tmp_path, capsys):
    from argparse import Namespace

    from zap.cli import _report_fit

    args = Namespace(quiet=True, out=str(tmp_path / "run"), budget=2, clock="cpu")
    summary = {"status": "interrupted", "n_predictions": 1, "alc": 0.5}
    assert _report_fit(args, summary, tmp_path / "run.interrupted") == 130
    err = capsys.readouterr().err
    assert f"saved what the run had to {tmp_path / 'run.interrupted'}" in err and "still holds the earlier" in err
    assert _report_fit(args, summary, (tmp_path / "run").resolve()) == 130
    err = capsys.readouterr().err
    assert f"saved what the run had to {args.out} (" in err and "still holds" not in err
