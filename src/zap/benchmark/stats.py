"""Statistics of the leave-one-core-out benchmark: core means, ranks, gaps, tests and a critical-difference plot.

The unit of analysis is the core (a source dataset), not the held-out dataset: the variants of one core are
correlated, so they are averaged first and every statistic below counts each core once. Repetitions (seeds)
are averaged after the cores; their spread gives the confidence interval of a method's mean.

Array conventions: a method's ALC or NAUC is [n_reps x n_datasets]; NaN marks a missing cell. Methods
without randomness (oracle, single-best) may have one repetition; it is broadcast to the others' count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from zap.utils import atomic_path

# ============================================================================================ core means


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """np.nanmean without its all-NaN RuntimeWarning: a missing core is an expected, silent NaN."""
    finite = ~np.isnan(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def core_means(values: np.ndarray, cores: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Average the last axis (datasets) within each core, so a core with many variants weighs as much as one.

    Returns the sorted core names and an array of shape [..., n_cores]; a core whose cells are all NaN is NaN.
    """
    values = np.asarray(values, dtype=float)
    labels = np.asarray(list(cores))
    if values.shape[-1] != labels.size:
        raise ValueError(f"values has {values.shape[-1]} datasets on its last axis but {labels.size} cores given")
    names = sorted(set(labels.tolist()))
    out = np.empty((*values.shape[:-1], len(names)))
    for j, name in enumerate(names):
        out[..., j] = _nanmean(values[..., labels == name], axis=-1)
    return names, out


def _n_reps(arrays: Mapping[str, np.ndarray], methods: Sequence[str]) -> int:
    """The common repetition count; single-repetition methods are the only ones allowed to differ."""
    counts = {np.atleast_2d(arrays[m]).shape[0] for m in methods}
    many = counts - {1}
    if len(many) > 1:
        raise ValueError(f"methods disagree on the number of repetitions: {sorted(counts)}")
    return many.pop() if many else 1


def _core_matrix(values: np.ndarray, cores: Sequence[str], n_reps: int | None = None) -> np.ndarray:
    """[n_reps x n_cores] core means of one method, broadcast to n_reps when it has a single repetition."""
    _, per_core = core_means(np.atleast_2d(values), cores)
    if n_reps is not None and per_core.shape[0] != n_reps:
        per_core = np.broadcast_to(per_core, (n_reps, per_core.shape[1]))
    return per_core


def _rep_averaged(values: np.ndarray, cores: Sequence[str]) -> np.ndarray:
    """[n_cores] core means averaged over repetitions: one number per core for paired tests and tables."""
    return _nanmean(_core_matrix(values, cores), axis=0)


# ============================================================================================ ranks


def _block_ranks(stack: np.ndarray) -> np.ndarray:
    """Rank methods (axis 0) within every (rep, core) block, 1 = highest ALC, ties averaged.

    A block where any method is missing is left out (NaN) rather than ranked on a partial set of methods.
    """
    ranks = sps.rankdata(-stack, axis=0)
    complete = np.all(np.isfinite(stack), axis=0)
    return np.where(complete[None], ranks, np.nan)


def mean_ranks(alc: Mapping[str, np.ndarray], cores: Sequence[str], methods: Sequence[str]) -> dict[str, float]:
    """Average rank among exactly `methods`: per core and repetition, then over cores, then over repetitions.

    Ranks depend on the set compared, so main methods and an ablation group are ranked in separate calls.
    """
    n_reps = _n_reps(alc, methods)
    stack = np.stack([_core_matrix(alc[m], cores, n_reps) for m in methods])  # [methods x reps x cores]
    per_rep = _nanmean(_block_ranks(stack), axis=2)  # [methods x reps]
    return {m: float(v) for m, v in zip(methods, _nanmean(per_rep, axis=1), strict=True)}


# ============================================================================================ summary


def _mean_and_ci(per_rep: np.ndarray, level: float = 0.95) -> tuple[float, list[float]]:
    """Mean of the per-repetition means and its t-interval: the seed-to-seed uncertainty of the benchmark."""
    per_rep = per_rep[np.isfinite(per_rep)]
    if per_rep.size == 0:
        return math.nan, [math.nan, math.nan]
    mean = float(per_rep.mean())
    if per_rep.size == 1:
        return mean, [mean, mean]
    half = float(sps.t.ppf(0.5 + level / 2, per_rep.size - 1) * per_rep.std(ddof=1) / math.sqrt(per_rep.size))
    return mean, [mean - half, mean + half]


def mean_over_cores(values: np.ndarray, cores: Sequence[str]) -> float:
    """Mean over cores per repetition, then over repetitions."""
    return float(_nanmean(_nanmean(_core_matrix(values, cores), axis=1), axis=0))


def bootstrap_ci(values: np.ndarray, seed: int = 0, n_boot: int = 2000) -> list[float]:
    """The 95 % percentile-bootstrap interval of the mean of `values` (paired differences, one per core)."""
    values = np.asarray(values, dtype=float)
    means = np.random.default_rng(seed).choice(values, (n_boot, len(values))).mean(axis=1)
    return [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


def wilcoxon_p(diff: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p of paired differences (one per core, or per dataset, its seeds
    averaged first); missing pairs are left out; None when there is nothing to test (all differences zero)."""
    diff = np.asarray(diff, dtype=float)
    diff = diff[np.isfinite(diff)]
    if diff.size == 0 or np.all(diff == 0):
        return None
    return float(sps.wilcoxon(diff).pvalue)


def default_by_rule(scores: dict[str, np.ndarray], incumbent: str, alpha: float = 0.05) -> str:
    """Which method a default should be, by a rule rather than by the highest mean: the incumbent stays
    unless another method beats it on the same datasets (paired, one score per dataset) with a higher mean
    and a Wilcoxon p below `alpha`; then the best mean among those that do. A lead inside the noise
    never moves a default."""
    base = np.asarray(scores[incumbent], dtype=float)
    better = {}
    for method, values in scores.items():
        diff = np.asarray(values, dtype=float) - base
        diff = diff[np.isfinite(diff)]
        if method == incumbent or diff.size == 0 or np.all(diff == 0):
            continue
        # one-sided: a method that loses on most datasets and wins big on one is not "better"
        if diff.mean() > 0 and sps.wilcoxon(diff, alternative="greater").pvalue < alpha:
            better[method] = float(diff.mean())
    return max(better, key=better.get) if better else incumbent


def gap_closed(single_best: float, oracle: float, score: float) -> float | None:
    """Where `score` lies between single-best (0) and the oracle (1), the usual algorithm-selection
    yardstick; the same formula whether higher or lower is better (both differences flip sign together).
    None when single-best already is the oracle: there is no gap to close."""
    if math.isclose(single_best, oracle, rel_tol=1e-12, abs_tol=1e-12):
        return None
    return float((score - single_best) / (oracle - single_best))


def _versus_single_best(method_cores: np.ndarray, best_cores: np.ndarray | None) -> tuple[float | None, ...]:
    """Share of cores strictly won against single-best and the Wilcoxon p of the paired core differences."""
    if best_cores is None:
        return None, None
    both = np.isfinite(method_cores) & np.isfinite(best_cores)
    if not both.any():
        return None, None
    diff = method_cores[both] - best_cores[both]
    return float(np.mean(diff > 0)), wilcoxon_p(diff)


def summarize(
    alc: Mapping[str, np.ndarray],
    nauc: Mapping[str, np.ndarray],
    cores: Sequence[str],
    main: Sequence[str],
    single_best: str = "single-best",
    oracle: str = "oracle",
) -> dict[str, dict[str, Any]]:
    """One JSON-ready record per method in `alc`: mean ALC with its CI, NAUC, rank, gap closed and tests.

    `gap_closed` puts the method on the scale single-best = 0, oracle = 1, the usual algorithm-selection
    yardstick. Ranks are among `main` only; other methods (ablations) get None and are ranked in their own
    group with `mean_ranks`, since a rank means nothing outside the set it was computed in.
    """
    ranks = mean_ranks(alc, cores, list(main)) if main else {}
    means = {m: mean_over_cores(v, cores) for m, v in alc.items()}
    sb_mean, or_mean = means.get(single_best), means.get(oracle)
    sb_cores = _rep_averaged(alc[single_best], cores) if single_best in alc else None
    out: dict[str, dict[str, Any]] = {}
    for method, values in alc.items():
        mean, ci = _mean_and_ci(_nanmean(_core_matrix(values, cores), axis=1))
        beats, p = _versus_single_best(_rep_averaged(values, cores), sb_cores)
        out[method] = {
            "alc": mean,
            "alc_ci": ci,
            "nauc": mean_over_cores(nauc[method], cores) if method in nauc else None,
            "rank": ranks.get(method),
            "gap_closed": None if sb_mean is None or or_mean is None else gap_closed(sb_mean, or_mean, mean),
            "beats_single_best": beats,
            "wilcoxon_p": None if method == single_best else p,
        }
    return out


# ============================================================================================ tables


def per_core_table(
    alc: Mapping[str, np.ndarray], cores: Sequence[str], methods: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """Sorted core names and [n_cores x n_methods] rep-averaged core ALC: where each method wins or loses."""
    names = sorted(set(cores))
    return names, np.stack([_rep_averaged(alc[m], cores) for m in methods], axis=1)


def _cell(value: Any, floatfmt: str) -> str:
    """One table cell: floats formatted, missing values as an en dash so gaps are visible, not 'nan'."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return "–"
    if isinstance(value, float | np.floating):
        return format(float(value), floatfmt)
    return str(value).replace("|", "\\|")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], floatfmt: str = ".3f") -> str:
    """A GitHub markdown table (no trailing newline); every row must have as many cells as headers."""
    lines = ["| " + " | ".join(_cell(h, floatfmt) for h in headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, headers {len(headers)}: {row!r}")
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)


# ============================================================================================ tests of ranks


def _q_alpha(k: int, alpha: float) -> float:
    """Studentized range quantile / sqrt(2) at infinite df, the Nemenyi constant (2.569 for k=4, alpha=0.05)."""
    for df in (math.inf, 1e6):
        try:
            q = float(sps.studentized_range.ppf(1 - alpha, k, df))
        except (ValueError, OverflowError, ZeroDivisionError):
            continue
        if math.isfinite(q):
            return q / math.sqrt(2)
    raise RuntimeError(f"studentized range quantile failed for k={k}, alpha={alpha}")


def critical_difference(mean_ranks: Mapping[str, float], n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference: two mean ranks over `n_blocks` blocks closer than this are not separable."""
    k = len(mean_ranks)
    if k < 2 or n_blocks < 1:
        raise ValueError(f"need at least 2 methods and 1 block, got k={k}, n_blocks={n_blocks}")
    return _q_alpha(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n_blocks))


def friedman_p(per_core: np.ndarray) -> float | None:
    """Friedman test p over cores (rows) of the methods (columns), the omnibus test before Nemenyi.

    Cores with a missing method are dropped; None when fewer than 3 methods, fewer than 2 complete cores,
    or the statistic is undefined (every core a complete tie).
    """
    per_core = np.asarray(per_core, dtype=float)
    if per_core.ndim != 2 or per_core.shape[1] < 3:
        return None
    per_core = per_core[np.all(np.isfinite(per_core), axis=1)]
    if per_core.shape[0] < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        p = float(sps.friedmanchisquare(*per_core.T).pvalue)
    return p if math.isfinite(p) else None


# ============================================================================================ CD diagram


def _cliques(ranks: Sequence[float], cd: float) -> list[tuple[int, int]]:
    """Maximal runs [i, j] of rank-sorted methods whose spread is below CD (not significantly different)."""
    out: list[tuple[int, int]] = []
    last_end = -1
    for i in range(len(ranks)):
        j = i
        while j + 1 < len(ranks) and ranks[j + 1] - ranks[i] < cd:
            j += 1
        if j > i and j > last_end:
            out.append((i, j))
            last_end = j
    return out


def _draw_axis(ax: Any, k: int, cd: float) -> None:
    """The rank axis (1 best, on the left) with integer ticks, and the CD bar above it."""
    ax.plot([1, k], [0, 0], color="black", lw=1.2)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, -0.1], color="black", lw=1)
        ax.text(r, -0.15, str(r), ha="center", va="bottom", fontsize=9)
    if cd > 0:
        ax.plot([1, 1 + cd], [-0.65, -0.65], color="black", lw=1.5)
        for x in (1, 1 + cd):
            ax.plot([x, x], [-0.7, -0.6], color="black", lw=1.5)
        ax.text(1 + cd / 2, -0.75, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)


def _draw_methods(ax: Any, names: list[str], ranks: list[float], top: float, step: float, span: tuple) -> None:
    """Elbow lines from each rank to a label: better half labelled left, worse half right, lines never cross."""
    k, half = len(names), (len(names) + 1) // 2
    for i in range(k):
        level = i if i < half else k - 1 - i
        y = top + level * step
        x_end, ha = (span[0], "right") if i < half else (span[1], "left")
        ax.plot([ranks[i], ranks[i], x_end], [0, y, y], color="black", lw=0.9)
        pad = -0.05 if ha == "right" else 0.05
        ax.text(x_end + pad, y, f"{names[i]} ({ranks[i]:.2f})", ha=ha, va="center", fontsize=9)


def plot_critical_difference(mean_ranks: Mapping[str, float], cd: float, path: str | Path, title: str = "") -> Path:
    """A Demšar-style critical-difference diagram written as a PNG; returns the path.

    Methods joined by a thick bar differ in mean rank by less than CD, i.e. the Nemenyi test cannot tell
    them apart. Uses the Agg canvas directly (no pyplot), so it needs no display and leaves no global state.

    Why not a package: scikit-posthocs' `critical_difference_diagram` wants a p-value matrix rather than the
    Nemenyi CD, would add pandas, seaborn and statsmodels for one figure, and draws another layout, so the
    committed benchmark figures would change; autorank picks its own tests from the raw scores.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    order = sorted(mean_ranks, key=lambda m: (mean_ranks[m], m))
    names, ranks = list(order), [float(mean_ranks[m]) for m in order]
    k = max(len(names), 2)
    cliques = _cliques(ranks, cd)
    top = 0.3 + 0.15 * len(cliques) + 0.15
    step, bottom = 0.3, 0.3 + 0.15 * len(cliques) + 0.15 + 0.3 * ((len(names) + 1) // 2)
    height = max(3.0, 0.9 + 0.75 * (bottom + 1.0))
    fig = Figure(figsize=(8, height), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.25, 0.02, 0.5, 0.86 if title else 0.96))
    margin = 0.06 * (k - 1) + 0.1
    span = (1 - margin, k + margin)
    _draw_axis(ax, k, cd)
    for n, (i, j) in enumerate(cliques):
        y = 0.3 + 0.15 * n
        ax.plot([ranks[i] - 0.03, ranks[j] + 0.03], [y, y], color="black", lw=4, solid_capstyle="round")
    _draw_methods(ax, names, ranks, top, step, span)
    ax.set_xlim(*span)
    ax.set_ylim(bottom + 0.1, -1.05)
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path
