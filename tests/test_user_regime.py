"""benchmarks/user_regime.py's plan and paired table, without running zap fit: the pairing is what the
default rule will be read from, so a core counted twice or a reference run shared wrongly must fail here."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import benchmark_script


@pytest.fixture(scope="module")
def ur():
    with benchmark_script("user_regime") as module:
        yield module


def test_recommended_runs_once_per_core_budget_and_seed(ur):
    plan = list(ur.planned(["a", "b"], [30.0], ["alc", "final"], [0, 1]))
    assert len(plan) == 2 * 2 * (1 + 2 * 2)
    assert sum(m == "recommended" for *_, m in plan) == 4 and {o for _, _, o, _, m in plan if m == "recommended"} == {
        "any"}
    assert len(set(plan)) == len(plan)


def test_the_table_pairs_by_core_with_seeds_averaged_and_shares_recommended_across_objectives(ur):
    runs = []
    values = {("a", "zap"): [0.6, 0.8], ("a", "single-best"): [0.5, 0.5], ("a", "recommended"): [0.4, 0.6],
              ("b", "zap"): [0.3, 0.3], ("b", "single-best"): [0.4, 0.4], ("b", "recommended"): [0.2, 0.2]}
    for (core, method), per_seed in values.items():
        for seed, alc in enumerate(per_seed):
            objective = "any" if method == "recommended" else "alc"
            runs.append({"level": "x", "threads": 2, "core": core,
                         "budget": 30.0, "objective": objective, "seed": seed, "method": method,
                         "alc": alc, "accuracy": 1 - alc})
    runs.append({"level": "x", "threads": 2, "core": "c",
                 "budget": 30.0, "objective": "alc", "seed": 0, "method": "zap", "alc": 0.9,
                 "accuracy": 0.1})  # a core with no reference runs: left out of every pair
    (row,) = ur.paired_table(runs)
    assert (row["budget"], row["objective"], row["n_cores"]) == (30.0, "alc", 2)
    assert row["zap_alc"] == pytest.approx(np.mean([0.7, 0.3]))  # each core's seeds first, then the cores
    assert row["vs_recommended_alc"]["diff"] == pytest.approx(np.mean([0.7 - 0.5, 0.3 - 0.2]))
    assert row["vs_single-best_alc"]["diff"] == pytest.approx(np.mean([0.7 - 0.5, 0.3 - 0.4]))
    assert row["vs_single-best_alc"]["ahead"] == 1
    assert row["vs_recommended_accuracy"]["diff"] == pytest.approx(-row["vs_recommended_alc"]["diff"])
