"""benchmarks/answered_by_levels.py on hand-made records whose answers are known."""

import json

from conftest import benchmark_script
from zap.finetune.runner import RUNNER_VERSION


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
    with benchmark_script("answered_by_levels") as study:
        levels = study.cells_by_level(tmp_path, seed=0)
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

    with benchmark_script("answered_by_levels") as study:
        agreement = study.rank_agreement(level(scores_low), level(scores_high), "alc")
        assert agreement["datasets"] == 2 and agreement["same_best"] == 1
        assert abs(agreement["median_rho"] - 0.0) < 1e-9  # rho 1 and rho -1
        assert abs(agreement["mean_regret"] - (0.0 + 0.5) / 2) < 1e-9
        assert study.rank_agreement(level(scores_low), level(scores_high), "alc", min_shared=7) is None
