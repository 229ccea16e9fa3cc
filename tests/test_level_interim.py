"""benchmarks/level_interim.py on hand-made records whose answers are known."""

import json

from conftest import benchmark_script
from zap.finetune.runner import RUNNER_VERSION
from zap.metadataset.plan import Plan
from zap.metadataset.protocol import Protocol


def _record(dataset: str, pipeline: str, budget: float, rows: list[tuple[float, int]], alc: float,
            final: float, seed: int = 0, runner: int = RUNNER_VERSION, status: str = "ok") -> dict:
    """A cell whose curve holds (ref time, steps) rows; the other columns do not matter here."""
    curve = [[t, t, steps, 0.5, 0.5, t] for t, steps in rows]
    return {"dataset": dataset, "pipeline_id": pipeline, "budget": budget, "clock": "ref", "seed": seed,
            "status": status, "alc": alc, "final_nauc": final, "curve": curve, "provenance": {"runner": runner}}


def test_shares_and_gains_per_level(tmp_path):
    records = [
        _record("a", "p", 20.0, [(1.0, 0), (15.0, 40)], alc=0.4, final=0.6),  # the CNN answers at 20
        _record("b", "p", 20.0, [(1.0, 0), (25.0, 40)], alc=0.3, final=0.5),  # its CNN answer came late
        _record("a", "p", 60.0, [(1.0, 0), (30.0, 90)], alc=0.6, final=0.7),
        _record("b", "p", 60.0, [(1.0, 0), (50.0, 90)], alc=0.5, final=0.9),
        _record("a", "q", 60.0, [(2.0, 0)], alc=0.2, final=0.2),  # only at 60: no gain pair
        _record("c", "p", 60.0, [(1.0, 0)], alc=0.0, final=0.0, seed=1),  # another seed: not counted
        _record("b", "q", 60.0, [(1.0, 0), (3.0, 5)], alc=0.9, final=0.9, runner=RUNNER_VERSION - 1),
        _record("b", "r", 60.0, [], alc=0.0, final=0.0, status="error"),
    ]
    (tmp_path / "records").mkdir()
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (tmp_path / "records" / "x.jsonl").write_text(lines + '{"torn": ')  # a torn last line is skipped
    with benchmark_script("level_interim") as study:
        levels = study.cells_by_level(Plan(tmp_path, Protocol(clock="ref"), [], (20.0, 60.0)), seed=0)
        assert {b: len(c) for b, c in levels.items()} == {20.0: 2, 60.0: 3}
        at20, at60 = study.answered_share(levels[20.0], 20.0), study.answered_share(levels[60.0], 60.0)
        assert (at20["cnn"], at20["simple_model"], at20["cnn_share"]) == (1, 1, 0.5)
        assert (at60["cnn"], at60["simple_model"]) == (2, 1)
        gained = study.gain(levels[20.0], levels[60.0])
        assert gained["cells"] == 2
        assert abs(gained["median_alc_gain"] - 0.2) < 1e-9 and abs(gained["median_final_nauc_gain"] - 0.25) < 1e-9
        assert study.gain(levels[20.0], {}) is None


def test_rank_agreement_knows_when_the_budget_reorders_the_candidates():
    """Dataset d keeps its order between levels; e reverses it, so its low-level best is its worst."""
    scores_low = {"d": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "e": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}
    scores_high = {"d": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7], "e": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]}

    def level(scores):
        return {(d, f"p{i}"): {"alc": v} for d, values in scores.items() for i, v in enumerate(values)}

    with benchmark_script("level_interim") as study:
        agreement = study.rank_agreement(level(scores_low), level(scores_high), "alc")
        assert agreement["datasets"] == 2 and agreement["same_best"] == 1
        assert abs(agreement["median_rho"] - 0.0) < 1e-9  # rho 1 and rho -1
        assert abs(agreement["mean_regret"] - (0.0 + 0.5) / 2) < 1e-9
        assert study.rank_agreement(level(scores_low), level(scores_high), "alc", min_shared=7) is None


def test_oracle_gap_uses_only_datasets_complete_at_every_level_with_records(tmp_path):
    """At 20: Single-best is p (mean 0.5 against 0.45); the Oracle takes q on dataset b. Dataset c lacks a
    cell at 60, so it is left out everywhere; level 120 has candidates but no records, so it is ignored."""
    plan = Plan(tmp_path, Protocol(clock="ref"), [
        {"pipeline_id": "p", "levels": [20.0, 60.0, 120.0]}, {"pipeline_id": "q", "levels": [20.0]},
        {"pipeline_id": "r", "levels": [60.0]}], (20.0, 60.0, 120.0))
    cells = {20.0: {("a", "p"): 0.6, ("a", "q"): 0.2, ("b", "p"): 0.4, ("b", "q"): 0.7,
                    ("c", "p"): 0.9, ("c", "q"): 0.9},
             60.0: {("a", "p"): 0.8, ("a", "r"): 0.7, ("b", "p"): 0.5, ("b", "r"): 0.9, ("c", "p"): 0.9}}
    levels = {b: {k: {"alc": v} for k, v in c.items()} for b, c in cells.items()}
    with benchmark_script("level_interim") as study:
        candidates = study.level_candidates(plan)
        assert candidates == {20.0: ["p", "q"], 60.0: ["p", "r"], 120.0: ["p"]}
        gap = study.oracle_gap(levels, candidates, "alc")
        assert gap["datasets"] == 2 and set(gap["levels"]) == {"20", "60"}
        at20, at60 = gap["levels"]["20"], gap["levels"]["60"]
        assert abs(at20["oracle"] - 0.65) < 1e-9 and abs(at20["single_best"] - 0.5) < 1e-9
        assert abs(at60["oracle"] - 0.85) < 1e-9 and abs(at60["single_best"] - 0.8) < 1e-9
        assert abs(at60["gap"] - 0.05) < 1e-9 and at60["candidates"] == 2
        assert study.oracle_gap({20.0: {}}, {20.0: ["p"]}, "alc") is None
