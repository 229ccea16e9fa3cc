"""The benchmark statistics on hand-made numbers whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zap.benchmark.stats import (
    core_means,
    critical_difference,
    friedman_p,
    gap_closed,
    markdown_table,
    mean_ranks,
    per_core_table,
    plot_critical_difference,
    summarize,
    wilcoxon_p,
)


def test_core_means_unequal_variants_and_nans():
    cores = ["b", "a", "b", "b", "c", "a"]
    values = np.array(
        [
            [1.0, 2.0, 3.0, np.nan, np.nan, 4.0],
            [0.0, 0.0, 0.0, 0.0, 5.0, np.nan],
        ]
    )
    names, means = core_means(values, cores)
    assert names == ["a", "b", "c"]
    np.testing.assert_allclose(means[0], [3.0, 2.0, np.nan])
    np.testing.assert_allclose(means[1], [0.0, 0.0, 5.0])
    # any leading dims: methods x reps x datasets
    _, stacked = core_means(np.stack([values, values + 1]), cores)
    assert stacked.shape == (2, 2, 3)
    np.testing.assert_allclose(stacked[1, 1], [1.0, 1.0, 6.0])
    with pytest.raises(ValueError):
        core_means(values, cores[:-1])


def test_mean_ranks_average_ties_over_cores_then_reps():
    cores = ["x", "y"]
    alc = {
        "a": np.array([[0.5, 0.9], [0.5, 0.1]]),
        "b": np.array([[0.5, 0.1], [0.5, 0.9]]),
        "c": np.array([[0.1, 0.1]]),  # one rep, broadcast
    }
    ranks = mean_ranks(alc, cores, ["a", "b", "c"])
    # core x: a and b tie for 1-2 -> 1.5 each, c 3; core y: 1 vs 2.5 (b ties c at 0.1)
    assert ranks["a"] == pytest.approx((1.5 + 1.0 + 1.5 + 2.5) / 4)
    assert ranks["b"] == pytest.approx((1.5 + 2.5 + 1.5 + 1.0) / 4)
    assert ranks["c"] == pytest.approx((3 + 2.5 + 3 + 2.5) / 4)
    assert sum(ranks.values()) == pytest.approx(6.0)


def _scenario():
    """Single-best 0.2, oracle 0.6, 'half' exactly halfway, 'mixed' wins 2 of 4 cores; two variants per core."""
    cores = ["c1", "c1", "c2", "c2", "c3", "c3", "c4", "c4"]
    sb = np.full((1, 8), 0.2)
    alc = {
        "single-best": sb,
        "oracle": np.full((1, 8), 0.6),
        "half": np.array([[0.4] * 8, [0.3] * 8, [0.5] * 8]),
        "mixed": np.array([[0.3, 0.3, 0.1, 0.1, 0.2, 0.2, 0.25, 0.15]]),
    }
    nauc = {m: v * 0.5 for m, v in alc.items()}
    return alc, nauc, cores


def test_summarize_gap_ci_beats_and_ranks():
    alc, nauc, cores = _scenario()
    out = summarize(alc, nauc, cores, main=["single-best", "oracle", "half"])
    # (single-best's gap 0 and the oracle's 1 hold by the formula whatever the numbers: not checked here)
    assert out["half"]["gap_closed"] == pytest.approx(0.5)  # repetitions 0.4, 0.3, 0.5: their mean is halfway
    assert out["half"]["alc"] == pytest.approx(0.4)
    assert out["half"]["nauc"] == pytest.approx(0.2)
    lo, hi = out["half"]["alc_ci"]
    half_width = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, df=2) * sd / sqrt(n)
    assert (lo, hi) == pytest.approx((0.4 - half_width, 0.4 + half_width))
    assert out["oracle"]["alc_ci"] == pytest.approx([0.6, 0.6])  # one repetition: no spread, not a NaN std
    # mixed: cores c1 0.3 > 0.2, c2 0.1 <, c3 0.2 = (not a win), c4 0.2 = -> 1/4
    assert out["mixed"]["beats_single_best"] == pytest.approx(0.25)
    assert out["half"]["beats_single_best"] == pytest.approx(1.0)
    assert out["single-best"]["beats_single_best"] == pytest.approx(0.0)
    assert out["mixed"]["rank"] is None
    assert out["oracle"]["rank"] == pytest.approx(1.0)
    assert out["half"]["rank"] == pytest.approx(2.0)
    assert out["single-best"]["rank"] == pytest.approx(3.0)
    assert out["single-best"]["wilcoxon_p"] is None


def test_wilcoxon_small_when_always_better_and_none_when_identical():
    rng = np.random.default_rng(0)
    cores = [f"core{i}" for i in range(12) for _ in range(2)]
    base = rng.uniform(0.0, 0.5, size=(1, 24))
    alc = {
        "single-best": base,
        "oracle": base + 0.3,
        "better": base + rng.uniform(0.01, 0.2, size=(3, 24)),
        "same": base.copy(),
    }
    out = summarize(alc, alc, cores, main=["single-best", "better"])
    assert out["better"]["wilcoxon_p"] < 0.001  # exact: 2 / 2**12
    assert out["better"]["beats_single_best"] == pytest.approx(1.0)
    assert out["same"]["wilcoxon_p"] is None


def test_gap_closed_is_one_ratio_of_core_means():
    """The gap closed on a hand-made matrix whose answer is worked out by hand. Core c2 has three variants,
    c1 one, and the method is halfway on c1 but a third of the way on c2, so each plausible slip gives
    another number: datasets averaged without cores first 0.429, the per-core gaps averaged 0.417; core
    means first, then one ratio of them, 0.467."""
    cores = ["c1", "c2", "c2", "c2"]
    alc = {"single-best": np.array([[0.2, 0.4, 0.4, 0.4]]), "oracle": np.array([[0.6, 0.5, 0.5, 0.5]]),
           "m": np.array([[0.4, 0.5, 0.4, 0.4]])}
    out = summarize(alc, alc, cores, main=["m", "single-best"])
    # core means: single-best (0.2 + 0.4) / 2 = 0.3, oracle (0.6 + 0.5) / 2 = 0.55, m (0.4 + 1.3 / 3) / 2
    assert out["m"]["alc"] == pytest.approx(0.4166667)
    assert out["m"]["gap_closed"] == pytest.approx(0.4666667)  # (0.4166667 - 0.3) / (0.55 - 0.3)
    assert out["single-best"]["alc"] == pytest.approx(0.3) and out["oracle"]["alc"] == pytest.approx(0.55)


def test_gap_closed_none_when_oracle_equals_single_best():
    cores = ["a", "b"]
    alc = {"single-best": np.ones((1, 2)), "oracle": np.ones((1, 2)), "m": np.zeros((2, 2))}
    assert summarize(alc, alc, cores, main=["m"])["m"]["gap_closed"] is None


def test_gap_closed_reads_the_same_when_lower_is_better():
    """One formula serves ALC (higher is better) and ASlib's PAR10 (lower is better): a sign error would
    give a runtime scenario's selectors negative gaps."""
    assert gap_closed(0.5, 0.7, 0.6) == pytest.approx(0.5)  # ALC: half way from single-best to oracle
    assert gap_closed(10.0, 2.0, 6.0) == pytest.approx(0.5)  # PAR10: the same half way
    assert gap_closed(10.0, 2.0, 12.0) == pytest.approx(-0.25)  # worse than single-best: negative
    assert gap_closed(1.0, 1.0, 0.5) is None


def test_wilcoxon_p_skips_missing_pairs_and_agrees_with_scipy():
    """The paired test the benchmark and benchmarks/zero_shot_fit.py share: a missing pair must be left out,
    not counted as a tie or turn the p-value into NaN."""
    from scipy.stats import wilcoxon

    diff = np.array([0.1, 0.2, np.nan, 0.15, -0.05, 0.3, 0.12])
    assert wilcoxon_p(diff) == pytest.approx(wilcoxon(diff[~np.isnan(diff)]).pvalue)
    assert wilcoxon_p(np.zeros(5)) is None


def test_critical_difference_matches_nemenyi_table():
    cd = critical_difference({m: 0.0 for m in "abcd"}, n_blocks=20)
    assert cd == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 20)), abs=2e-3)
    assert cd == pytest.approx(1.049, abs=2e-3)


def test_friedman_p():
    rng = np.random.default_rng(1)
    per_core = rng.uniform(size=(15, 3)) + np.array([0.0, 0.5, 1.0])
    p = friedman_p(per_core)
    assert p is not None and p < 0.01
    assert friedman_p(per_core[:, :2]) is None
    assert friedman_p(np.ones((5, 3))) is None


def test_per_core_table_and_markdown():
    alc, _, cores = _scenario()
    names, table = per_core_table(alc, cores, ["half", "mixed"])
    assert names == ["c1", "c2", "c3", "c4"]
    assert table.shape == (4, 2)
    np.testing.assert_allclose(table[:, 0], 0.4)
    np.testing.assert_allclose(table[:, 1], [0.3, 0.1, 0.2, 0.2])
    text = markdown_table(["core", "half", "note"], [["c1", 0.41234, None], ["c2", np.nan, 3]])
    lines = text.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("|") and line.endswith("|") and line.count("|") == 4 for line in lines)
    assert lines[1] == "|---|---|---|"
    assert "0.412" in lines[2] and "–" in lines[2]
    assert "–" in lines[3] and "3" in lines[3]
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [[1]])


def test_plot_critical_difference_writes_png(tmp_path):
    ranks = {"zap-hpo": 2.1, "zap-as": 2.4, "single-best": 3.6, "random": 5.8, "oracle": 1.2}
    cd = critical_difference(ranks, n_blocks=20)
    path = plot_critical_difference(ranks, cd, tmp_path / "sub" / "cd.png", title="test")
    assert path.exists()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
