"""Budget against ALC and final NAUC for every strategy: real runs (`refine_fit.py`) and replay
(`refine_replay.py`), one PNG.

    python benchmarks/strategy_plot.py --real docs/data/refine_fit_v1.json \\
        --replay docs/data/refine_replay_v1.json --out docs/img/strategies_by_budget.png
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True)
    parser.add_argument("--replay", type=Path)
    parser.add_argument("--replay-budget", type=float, default=20.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for s, by_budget in real_means(args.real).items():
        budgets = sorted(by_budget)
        for k, ax in enumerate(axes):
            ax.plot(budgets, [by_budget[b][k] for b in budgets], "o-", label=f"{s} (real runs)")
    if args.replay:
        for s, (a, f) in replay_points(args.replay).items():
            for ax, value in zip(axes, (a, f), strict=True):
                ax.plot([args.replay_budget], [value], "x", ms=8, label=f"{s} (replay, LOCO)")
    for ax, name in zip(axes, ("ALC", "final NAUC"), strict=True):
        ax.set(xscale="log", xlabel="budget (the meta-dataset's clock, seconds)", ylabel=name, title=name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
