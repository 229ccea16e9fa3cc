"""Budget against ALC and final NAUC for every strategy: real runs (`refine_fit.py`) and replay
(`refine_replay.py`, one file per budget level), one PNG.

    python benchmarks/strategy_plot.py --real docs/data/refine_fit_v1.json \\
        --replay docs/data/refine_replay_v1.json --out docs/img/strategies_by_budget.png
    python benchmarks/strategy_plot.py --replay docs/data/refine_replay_v2-20.json \\
        docs/data/refine_replay_v2-60.json docs/data/refine_replay_v2-120.json --out docs/img/strategies_v2.png

A replay file names its budget (`budget`); one that does not (v1's) is at `--replay-budget`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def real_means(path: Path) -> dict[str, dict[float, tuple[float, float]]]:
    """strategy -> budget -> (mean ALC, mean final NAUC) over the datasets measured with every strategy."""
    runs = json.loads(path.read_text())["runs"]
    out: dict[str, dict[float, tuple[float, float]]] = {}
    for budget in sorted({r["budget"] for r in runs}):
        at = [r for r in runs if r["budget"] == budget]
        strategies = sorted({r["strategy"] for r in at})
        complete = [d for d in {r["dataset"] for r in at}
                    if all(any(r["dataset"] == d and r["strategy"] == s for r in at) for s in strategies)]
        for s in strategies:
            mine = [r for r in at if r["strategy"] == s and r["dataset"] in complete]
            out.setdefault(s, {})[budget] = (float(np.mean([r["alc"] for r in mine])),
                                              float(np.mean([r["final_nauc"] for r in mine])))
    return out


def replay_points(path: Path) -> dict[str, tuple[float, float]]:
    """strategy -> (ALC under the ALC objective, final NAUC under the final objective), nested settings."""
    table = json.loads(path.read_text())["table"]
    points: dict[str, list[float]] = {}
    for objective, measure in (("alc", "alc"), ("final", "final")):
        for e in table:
            if e["objective"] == objective and (e["settings"] == "nested" or e["strategy"] == "best-of-k"):
                points.setdefault(e["strategy"], [np.nan, np.nan])[0 if objective == "alc" else 1] = e[measure]
    return {s: (v[0], v[1]) for s, v in points.items()}


def replay_by_budget(paths: list[Path], default_budget: float) -> dict[str, dict[float, tuple[float, float]]]:
    """strategy -> budget -> (ALC, final NAUC) from one replay file per budget level."""
    out: dict[str, dict[float, tuple[float, float]]] = {}
    for path in paths:
        budget = json.loads(path.read_text()).get("budget") or default_budget
        for strategy, point in replay_points(path).items():
            out.setdefault(strategy, {})[float(budget)] = point
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path)
    parser.add_argument("--replay", type=Path, nargs="+", default=[])
    parser.add_argument("--replay-budget", type=float, default=20.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.real is None and not args.replay:
        parser.error("give --real, --replay or both")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for s, by_budget in (real_means(args.real) if args.real else {}).items():
        budgets = sorted(by_budget)
        for k, ax in enumerate(axes):
            ax.plot(budgets, [by_budget[b][k] for b in budgets], "o-", label=f"{s} (real runs)")
    for s, by_budget in replay_by_budget(args.replay, args.replay_budget).items():
        budgets = sorted(by_budget)
        for k, ax in enumerate(axes):
            ax.plot(budgets, [by_budget[b][k] for b in budgets], "x--", ms=8, label=f"{s} (replay, LOCO)")
    for ax, name in zip(axes, ("ALC", "final NAUC"), strict=True):
        ax.set(xscale="log", xlabel="budget (the meta-dataset's clock, seconds)", ylabel=name, title=name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
