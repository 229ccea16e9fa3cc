"""Choosing a budget level's candidates (`zap.metadataset.levels`) and the study that compares the rules
(benchmarks/level_portfolio.py), on hand-made levels whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import benchmark_script
from zap.metadataset.levels import best_by_core_rank, carried, greedy_portfolio
from zap.metadataset.problem import SelectionProblem


def hand_made_level(alc: list[list[float]], cores: list[str]):
    """A level with the given ALC matrix (datasets x candidates c0, c1, ...), measured once."""
    alc = np.array(alc, dtype=float)
    n, m = alc.shape
    return SelectionProblem(dataset_ids=[f"d{i}" for i in range(n)], cores=np.array(cores),
                            domains=np.array(["x"] * n), meta_features=np.zeros((n, 4)),
                            candidate_ids=[f"c{j}" for j in range(m)], encodings=np.zeros((m, 3)), alc=alc,
                            nauc=alc)


def test_the_next_levels_candidates_by_mean_rank_and_by_greedy_portfolio():
    # c0 is a good generalist, c1 a near twin of it, c2 wins big on core c only, c3 is poor everywhere;
    # core a has two variants, b and c one: every core weighs the same
    level = hand_made_level([[0.70, 0.69, 0.30, 0.20], [0.72, 0.71, 0.31, 0.22], [0.70, 0.69, 0.20, 0.30],
                             [0.50, 0.49, 0.95, 0.40]], ["a", "a", "b", "c"])
    assert best_by_core_rank(level, 2) == ["c0", "c1"]  # the generalists
    assert greedy_portfolio(level, 2) == ["c0", "c2"]  # the best on average, then what wins where it loses
    assert greedy_portfolio(level, 3, among=["c3", "c1", "c0"]) == ["c0", "c3", "c1"]
    assert greedy_portfolio(level, 9) == ["c0", "c2", "c1", "c3"]  # at most every candidate, once


def test_the_portfolio_study_measures_a_sets_gap_on_the_rows_it_is_given():
    with benchmark_script("level_portfolio") as study:
        level = hand_made_level([[0.70, 0.30], [0.60, 0.40], [0.20, 0.90]], ["a", "a", "b"])
        everything = np.ones(3, dtype=bool)
        # core means: c0 (0.65 + 0.2) / 2 = 0.425, c1 (0.35 + 0.9) / 2 = 0.625; Oracle (0.65 + 0.9) / 2 = 0.775
        assert study.set_gap(level, ["c0", "c1"], everything) == pytest.approx(0.775 - 0.625)
        assert study.set_gap(level, ["c0"], everything) == pytest.approx(0.0)  # one candidate: no gap
        assert study.set_gap(level, ["c0", "c1"], np.array([True, True, False])) == pytest.approx(0.0)


def test_the_portfolio_study_scores_both_rules_on_the_same_splits():
    with benchmark_script("level_portfolio") as study:
        rng = np.random.default_rng(0)
        level = hand_made_level(rng.uniform(0.2, 0.9, size=(8, 5)).tolist(), ["a", "a", "b", "b", "c", "c", "d", "d"])
        gaps = study.split_gaps(level, k=2, repetitions=4, seed=1)
        assert set(gaps) == {"mean rank", "greedy portfolio"}
        assert all(len(v) == 4 and (v >= 0).all() for v in gaps.values())  # an Oracle is never below its best column


def test_the_carry_over_tops_a_level_up_to_its_minimum_size():
    ranked = ["a", "b", "c", "d", "e"]
    assert carried(ranked, {"x", "y", "p", "q"}, 2, 6) == ["a", "b"]  # 6 with the first two
    assert carried(ranked, {"x", "y", "a"}, 2, 6) == ["a", "b", "c", "d"]  # "a" was already there
    assert carried(ranked[:3], {"x"}, 2, 6) == ["a", "b", "c"]  # fewer ranked than needed: all of them
