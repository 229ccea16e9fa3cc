"""benchmarks/budget_overrun.py's arithmetic and file reading, without running zap fit: the overrun
statistics that decide PASS/FAIL, and the first prediction's time read from a curve zap itself writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import benchmark_script
from zap.errors import ArtifactError
from zap.scoring.curve import LearningCurve


@pytest.fixture(scope="module")
def bo():
    """The script imports its neighbours (`common`, `ref_clock`) as top-level modules, as when run."""
    with benchmark_script("budget_overrun") as module:
        yield module


def row(budget: float, condition: str, process: float, elapsed: float | None, first: float | None = 1.0) -> dict:
    return {"budget": budget, "condition": condition, "process_wall_s": process, "elapsed_s": elapsed,
            "budget_s": budget, "first_prediction_s": first}


def test_overrun_is_a_share_of_the_budget(bo):
    assert bo.overrun(10.5, 10) == pytest.approx(0.05)
    assert bo.overrun(27.0, 30) == pytest.approx(-0.1)


def test_distribution_median_p95_max(bo):
    values = [0.0, 0.01, 0.02, 0.03, 0.10]
    d = bo.distribution(values)
    assert d["median"] == pytest.approx(0.02)
    assert d["p95"] == pytest.approx(0.03 + 0.8 * 0.07)  # rank 0.95 * 4 = 3.8: between the 4th and 5th
    assert d["max"] == pytest.approx(0.10)
    assert bo.distribution([]) == {"median": None, "p95": None, "max": None}


def test_verdict_target_is_inclusive(bo):
    assert bo.verdict(0.05) == "PASS"
    assert bo.verdict(0.0501) == "FAIL"
    assert bo.verdict(-0.2) == "PASS"
    assert bo.verdict(None) == "n/a"


def test_first_prediction_from_a_curve_zap_writes(bo, tmp_path):
    curve = LearningCurve()
    curve.add(wall_s=1.25, cpu_s=2.0, steps=0, nauc=0.3, accuracy=0.4, ref_s=0.9)
    curve.add(wall_s=4.0, cpu_s=7.5, steps=30, nauc=0.6, accuracy=0.7, ref_s=3.1)
    curve.to_csv(tmp_path / "learning_curve.csv")
    assert bo.first_prediction_s(tmp_path / "learning_curve.csv") == pytest.approx(1.25)
    assert bo.first_prediction_s(tmp_path / "learning_curve.csv", "cpu_s") == pytest.approx(2.0)


def test_first_prediction_finds_the_column_by_header(bo, tmp_path):
    path = tmp_path / "curve.csv"
    path.write_text("steps,cpu_s,wall_s\n0,9.0,2.5\n10,12.0,6.0\n")
    assert bo.first_prediction_s(path) == pytest.approx(2.5)


def test_first_prediction_of_an_empty_curve_is_none(bo, tmp_path):
    LearningCurve().to_csv(tmp_path / "learning_curve.csv")
    assert bo.first_prediction_s(tmp_path / "learning_curve.csv") is None


def test_first_prediction_refuses_a_file_without_the_column(bo, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("time,score\n1.0,0.5\n")
    with pytest.raises(ArtifactError, match="no 'wall_s' column"):
        bo.first_prediction_s(path)


def test_summarize_groups_and_judges_each_clock(bo):
    rows = [row(10, "idle", 10.2, 10.01, 0.8), row(10, "idle", 10.3, 10.02, 1.2), row(10, "idle", 10.4, 10.03, 1.0),
            row(10, "busy", 13.0, 10.1, 2.0), row(10, "busy", 40.0, None, None)]  # the second busy run: timeout
    idle, busy = bo.summarize(rows)
    assert (idle["budget"], idle["condition"], idle["runs"]) == (10, "idle", 3)
    assert idle["run_clock"]["max"] == pytest.approx(0.003)
    assert idle["process"]["median"] == pytest.approx(0.03)
    assert idle["first_prediction_s"] == pytest.approx(1.0)
    assert busy["run_clock"]["max"] == pytest.approx(0.01)  # the killed run has no run clock
    assert busy["process"]["max"] == pytest.approx(3.0)  # but counts on the process clock
    assert busy["no_prediction"] == 1
    lines = bo.table([idle, busy]).splitlines()
    assert lines[2].count("PASS") == 2
    assert lines[3].count("PASS") == 1 and lines[3].count("FAIL") == 1
    assert "(1 without)" in lines[3]


def test_fit_command_fixes_the_pipeline_unless_zero_shot(bo):
    zap = sys.executable  # any executable passes the check; the command is only built here
    fixed = bo.fit_command(bo.parse(["--zap", zap]), 10.0, Path("out"))
    assert fixed[1:] == ["fit", "digits", "--budget", "10", "--out", "out", "--threads", "2", "--quiet",
                         "--config", "recommended"]
    chosen = bo.fit_command(bo.parse(["--zap", zap, "--zero-shot", "--threads", "1"]), 30.0, Path("out"))
    assert "--config" not in chosen and chosen[chosen.index("--threads") + 1] == "1"


@pytest.mark.parametrize(("argv", "named"), [
    (["--budgets", "10", "0"], "--budgets"), (["--repeats", "0"], "--repeats"),
    (["--zap", "/nonexistent/zap"], "--zap"), (["--json", "/nonexistent/dir/rows.json"], "--json"),
    (["--conditions", "hot"], "--conditions")])
def test_bad_arguments_stop_before_any_run(bo, argv, named, capsys):
    with pytest.raises(SystemExit) as stop:
        bo.parse(argv)
    assert stop.value.code == 2
    assert named in capsys.readouterr().err
