"""Zero-shot, refine and a raced portfolio judged by replay on the meta-dataset's stored curves (LOCO).

Per held-out core the ranker (`--selector`) and the curve predictor are trained on the other cores; every
strategy then replays the held-out datasets from the same top-k with the same validation noise. Rows are
written per core into `--out` (a killed run resumes where it stopped; a core's file made by another replay
version or other study settings is made again, never mixed in). The table: per objective, strategy
and refine settings, the mean over cores of ALC and final NAUC, the share of the budget spent looking, and
the paired core-level difference from zero-shot with its bootstrap 95 % interval, wins/losses and the
Wilcoxon p. "nested" rows pick the refine settings without the held-out core (out-of-sample), the grid's
own rows are chosen in sample.

    python benchmarks/refine_replay.py artifacts/metadataset/v1.json.gz --out docs/data/refine_replay_v1 \\
        --json docs/data/refine_replay_v1.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict
from pathlib import Path

from zap.benchmark.strategies import ReplayStudy, nested, run_replay_study, summarize
from zap.metadataset.artifact import cost_table_of, level_hash, level_view, load
from zap.metadataset.problem import SelectionProblem
from zap.strategies.policy import RefineSettings
from zap.strategies.replay import REPLAY_VERSION
from zap.utils import atomic_write_json, stable_hash


def grid(args: argparse.Namespace) -> tuple[RefineSettings, ...]:
    return tuple(RefineSettings(k=k, slice_share=s, look_share=look, min_gain=g, objective=o)
                 for o, k, s, look, g in itertools.product(args.objectives, args.k, args.slice, args.look, args.gain))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("--budget", type=float, default=None, help="budget level (default: the lowest)")
    parser.add_argument("--selector", default="zap-hpo")
    parser.add_argument("--objectives", nargs="+", default=["alc", "final"])
    parser.add_argument("--k", nargs="+", type=int, default=[2, 3, 5])
    parser.add_argument("--slice", nargs="+", type=float, default=[0.03, 0.06])
    parser.add_argument("--look", nargs="+", type=float, default=[0.15, 0.3])
    parser.add_argument("--gain", nargs="+", type=float, default=[0.002, 0.01])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder of per-core rows (resumable)")
    parser.add_argument("--json", type=Path, help="write the summary table here")
    args = parser.parse_args()
    payload = load(Path(args.artifact))
    study = ReplayStudy(budget=args.budget, selector=args.selector, grid=grid(args), seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = []
    view = level_view(payload, args.budget)
    protocol, costs = view["protocol"], cost_table_of(view)
    if protocol.get("clock") == "ref" and costs is None:
        print(f"note: this level was measured with cost table {protocol.get('cost_table')}, which the artifact "
              "does not carry and this zap does not ship: a step is priced at each run's mean step")
    key = {"replay_version": REPLAY_VERSION, "level": level_hash(payload, args.budget),
           "study": json.loads(json.dumps(asdict(study))),
           "step_prices": stable_hash(costs.identity()) if costs is not None else "mean step"}
    for core in sorted(set(SelectionProblem.from_artifact(payload, args.budget).cores.tolist())):
        rows.extend(core_rows(args.out / f"{core}.json", key, lambda c=core: run_replay_study(
            payload, study, cores=[c], progress=print)))
    table = summarize(rows + nested(rows) + nested(rows, "race"), seed=args.seed)
    print_table(table)
    print(f"{time.perf_counter() - start:.0f} s")
    if args.json:
        atomic_write_json(args.json, {"artifact": args.artifact, "budget": args.budget, "selector": args.selector,
                                      "seed": args.seed, "table": table})


def core_rows(path: Path, key: dict, compute) -> list[dict]:
    """A held-out core's rows: stored ones if they were made with this key, else computed and stored."""
    if path.exists():
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("key") == key:
            return stored["rows"]
        print(f"{path} was made by another replay version or study: making it again")
    rows = compute()
    atomic_write_json(path, {"key": key, "rows": rows})
    return rows


def print_table(table: list[dict]) -> None:
    print(f"{'objective':9} {'strategy':10} {'settings':40} {'ALC':>6} {'final':>6} {'looked':>6} "
          f"{'diff':>7} {'95% CI':>17} {'win':>4} {'loss':>4} {'p':>6}")
    for e in sorted(table, key=lambda e: (e["objective"], e["strategy"], -e["diff"])):
        p = "-" if e["wilcoxon_p"] is None else f"{e['wilcoxon_p']:.3f}"
        ci = f"[{e['diff_ci'][0]:+.4f},{e['diff_ci'][1]:+.4f}]"
        print(f"{e['objective']:9} {e['strategy']:10} {e['settings']:40} {e['alc']:6.3f} {e['final']:6.3f} "
              f"{e['looked']:6.3f} {e['diff']:+7.4f} {ci:>17} {e['wins']:4.2f} {e['losses']:4.2f} {p:>6}")


if __name__ == "__main__":
    main()
