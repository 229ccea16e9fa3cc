"""zap's default against `recommended` and Single-best in the user's regime (issue 19, item 7).

Real `zap fit` runs through the `ZAP` estimator, as a user makes them: wall clock, `--threads` threads, its
own clock calibration and budget conversion, its fallback rule. Per held-out core the selectors and the
fallback rule are meta-trained without that core (`zap meta-train --exclude-cores`, cached in
`WORK/LEVEL/selectors/CORE`, both objectives); the data is the core's last variant, written once as an .npz
in `WORK/LEVEL/data` and split by zap itself. LEVEL is the artifact's `content_hash`: another artifact, or a
re-export with more cells, gets folders of its own, and its runs in `--json` are kept apart by it too.
Methods, per (core, budget, objective, seed):

    zap           ZAP(budget, selector="zap-hpo", strategy="zero-shot", objective=...): the zero-shot default so far
    single-best   ZAP(budget, objective=..., selector="single-best", fallback=False): Single-best there
    recommended   ZAP(budget, config="recommended"): one run per (core, budget, seed), both objectives

Where zap's run picked the very pipeline Single-best would pick at the same budget in reference seconds
(its fallback, or a ranking that agrees), the single-best entry reuses that run instead of training the same
pipeline again (`shared_from: "zap"`): the two procedures are then one and the same, so their paired
difference is 0 by construction rather than by the luck of two wall-clock runs (common random numbers).
It saves the idle machine the duplicate runs; `--no-share` makes every run.

Every run is appended to `--json` as it ends, with the load average beside it (a wall-clock budget
measured beside other work is noise: run on an idle machine) and the CPU (`cpu`), and a rerun skips what is
there. Hosts of one pool differ in speed (docs/metadataset.md), so the runs of one comparison (a core,
budget and seed) are made on one CPU: a resume on another makes the other CPU's runs of an unfinished
comparison again. The table:
per budget and objective, the mean over cores of ALC and of final accuracy, and zap's paired difference
from each reference (the unit is the core, its seeds averaged first) with a bootstrap 95 % interval and
the Wilcoxon p.

    python benchmarks/user_regime.py --artifact artifacts/metadataset/v2.json.gz --work runs/user_regime \\
        --cores A B C D E F --budgets 30 120 --seeds 0 1 --json docs/data/user_regime_v2.json
    python benchmarks/user_regime.py ... --cores A B C --budgets 600 --seeds 0 --json ...   # the long budget

`--prepare` makes each core's data and held-out selectors and stops: that part is compute, not a wall-clock
measurement, so it can run beside other work and leave the idle machine only the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from zap.api import ZAP
from zap.benchmark.stats import bootstrap_ci, wilcoxon_p
from zap.data.augment import VariantSpec, materialize
from zap.data.core import load_core
from zap.metadataset.artifact import content_hash, load
from zap.metadataset.problem import OBJECTIVES, SelectionProblem
from zap.selectors.trained import meta_train
from zap.utils import atomic_write_json, cpu_model

METHODS = ("zap", "single-best", "recommended")
REFERENCES = ("recommended", "single-best")


def held_out_data(payload: dict, problem: SelectionProblem, core: str, folder: Path) -> Path:
    """The core's last variant (not the one its HPO ran on) as an .npz of all its images."""
    name = problem.dataset_ids[int(np.flatnonzero(problem.cores == core)[-1])]
    path = folder / f"{name}.npz"
    if not path.exists():
        spec = VariantSpec.from_dict({d["name"]: d for d in payload["protocol"]["datasets"]}[name])
        split = materialize(load_core(spec.core), spec)
        images = [np.stack([d.load(i) for i in range(len(d))]) for d in (split.train, split.test)]
        labels = [np.asarray(d.labels) for d in (split.train, split.test)]
        folder.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".tmp"), "wb") as handle:
            np.savez(handle, x=np.concatenate(images), y=np.concatenate(labels),
                     class_names=np.array(split.train.class_names))
        path.with_suffix(".tmp").rename(path)
    return path


def held_out_selectors(artifact: str, core: str, folder: Path) -> Path:
    """Selectors and fallback rules trained without `core`, for both objectives; made once (a marker file
    is written last, so a folder cut short is made again)."""
    done = folder / "complete"
    if not done.exists():
        for objective in OBJECTIVES:
            meta_train(artifact, ("zap-hpo", "single-best"), folder, objective=objective, exclude_cores=(core,))
        done.write_text(core)
    return folder


def prepare(payload: dict, problem: SelectionProblem, artifact: str, cores: list[str], work: Path) -> None:
    """Every core's data and held-out selectors, made now (what the runs would otherwise make first)."""
    for core in cores:
        started = time.process_time()
        held_out_data(payload, problem, core, work / "data")
        held_out_selectors(artifact, core, work / "selectors" / core)
        print(f"{core}: data and selectors ready in {work} ({time.process_time() - started:.0f} CPU-s)", flush=True)


def estimator(method: str, budget: float, objective: str, seed: int, threads: int) -> ZAP:
    common = {"budget": budget, "clock": "wall", "threads": threads, "seed": seed}
    if method == "recommended":
        return ZAP(config="recommended", **common)
    # pinned, not the default rule: this study is what sets the rule's bands (zap.strategies.defaults)
    if method == "single-best":
        return ZAP(selector="single-best", strategy="zero-shot", objective=objective, fallback=False, **common)
    return ZAP(selector="zap-hpo", strategy="zero-shot", objective=objective, **common)


def single_best_pick(model: ZAP, objective: str) -> str | None:
    """What Single-best (no fallback) picks for this run's data at the budget the run itself converted to."""
    from zap.errors import ZapError
    from zap.selectors.trained import suggest

    try:
        result = suggest(model.meta_features_, "single-best", k=1, objective=objective,
                         budget_ref=model.budget_ref_, fallback=False)
    except ZapError as exc:  # a pick that cannot be made only means the run is not shared
        print(f"note: no Single-best pick to compare with ({type(exc).__name__}: {exc})", flush=True)
        return None
    return result.suggestions[0].pipeline_id


def one_run(data: Path, method: str, budget: float, objective: str, seed: int, threads: int) -> dict:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    model = estimator(method, budget, objective, seed, threads).fit(str(data))
    s = model.summary()
    run = {"alc": s["alc"], "accuracy": s["accuracy"], "final_nauc": s["final_nauc"], "status": s["status"],
           "pipeline_id": s["pipeline_id"], "answered_by": s["answered_by"], "budget_ref_s": s["budget_ref_s"],
           "fallback": (s["selection"] or {}).get("fallback"), "loadavg_1m": load, "cpu": cpu_model(),
           "process_s": time.perf_counter() - start}
    if method == "zap":
        run["single_best_pick"] = single_best_pick(model, objective)
    return run


def shared_run(runs: list[dict], wanted: tuple) -> dict | None:
    """The single-best entry that zap's run of the same (level, threads, core, budget, objective, seed) stands
    for, when that run picked Single-best's own pipeline; None: single-best must run."""
    *common, method = wanted
    if method != "single-best":
        return None
    zap = next((r for r in runs if key_of(r) == (*common, "zap")), None)
    if zap is None or zap.get("status") != "ok" or zap.get("single_best_pick") != zap["pipeline_id"]:
        return None
    copied = {k: v for k, v in zap.items() if k not in ("method", "single_best_pick", "process_s")}
    return copied | {"method": "single-best", "fallback": None, "shared_from": "zap", "process_s": 0.0}


def planned(cores: list[str], budgets: list[float], objectives: list[str], seeds: list[int]):
    """(core, budget, objective, seed, method) in the order runs are made; `recommended` once per
    (core, budget, seed), under the objective "any"."""
    for core in cores:
        for budget in budgets:
            for seed in seeds:
                yield core, budget, "any", seed, "recommended"
                for objective in objectives:
                    for method in ("zap", "single-best"):
                        yield core, budget, objective, seed, method


def group_of(run: dict) -> tuple:
    """The runs one paired comparison is made of: every method and objective on one core, budget and seed."""
    return run["level"], run["threads"], run["core"], float(run["budget"]), run["seed"]


def runs_to_redo(runs: list[dict], here: str, objectives: list[str]) -> list[dict]:
    """The stored runs of an unfinished group that another CPU made. A wall-clock budget buys less compute on a
    slower host of the same generic name (docs/metadataset.md), so a group whose methods ran on two hosts
    would compare their hosts, not their methods; a resume on another host makes such a group's runs again
    here. A finished group stays, whichever host made it (each run says which in `cpu`)."""
    per_group = len(list(planned(["core"], [0.0], objectives, [0])))
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault(group_of(run), []).append(run)
    return [run for members in groups.values() if len(members) < per_group
            for run in members if run.get("cpu") != here]


def key_of(run: dict) -> tuple:
    return run["level"], run["threads"], run["core"], float(run["budget"]), run["objective"], run["seed"], run["method"]


def paired_table(runs: list[dict]) -> list[dict]:
    """Per (budget, objective): means over cores and zap's paired differences from each reference."""
    rows = []
    for budget in sorted({r["budget"] for r in runs}):
        for objective in sorted({r["objective"] for r in runs} - {"any"}):
            per_core = {}
            for method in METHODS:
                mine = [r for r in runs if r["budget"] == budget and r["method"] == method
                        and r["objective"] in (objective, "any")]
                cores = sorted({r["core"] for r in mine})
                per_core[method] = {c: {m: float(np.mean([r[m] for r in mine if r["core"] == c]))
                                        for m in ("alc", "accuracy")} for c in cores}
            shared = sorted(set.intersection(*(set(v) for v in per_core.values())))
            if not shared:
                continue
            same = [r for r in runs if (r["budget"], r["objective"], r["method"]) == (budget, objective, "single-best")]
            row = {"budget": budget, "objective": objective, "n_cores": len(shared),
                   "single_best_runs_shared": sum(bool(r.get("shared_from")) for r in same)}
            for method in METHODS:
                for measure in ("alc", "accuracy"):
                    row[f"{method}_{measure}"] = float(np.mean([per_core[method][c][measure] for c in shared]))
            for ref in REFERENCES:
                for measure in ("alc", "accuracy"):
                    diff = np.array([per_core["zap"][c][measure] - per_core[ref][c][measure] for c in shared])
                    row[f"vs_{ref}_{measure}"] = {"diff": float(diff.mean()), "ci": bootstrap_ci(diff),
                                                  "ahead": int((diff > 0).sum()), "p": wilcoxon_p(diff)}
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    for row in rows:
        print(f"\nbudget {row['budget']:g} wall-s, objective {row['objective']}, {row['n_cores']} cores "
              f"({row.get('single_best_runs_shared', 0)} single-best runs were zap's own)")
        for measure in ("alc", "accuracy"):
            means = "  ".join(f"{m} {row[f'{m}_{measure}']:.3f}" for m in METHODS)
            print(f"  {measure:8s} {means}")
            for ref in REFERENCES:
                d = row[f"vs_{ref}_{measure}"]
                p = "-" if d["p"] is None else f"{d['p']:.2f}"
                print(f"    zap - {ref:12s} {d['diff']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]  "
                      f"ahead {d['ahead']}/{row['n_cores']}  p {p}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--work", type=Path, default=Path("runs/user_regime"), help="held-out selectors and data")
    parser.add_argument("--cores", nargs="+", required=True)
    parser.add_argument("--budgets", nargs="+", type=float, default=[30.0, 120.0], help="wall seconds")
    parser.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, required=True, help="every run, rewritten after each (resumes)")
    parser.add_argument("--prepare", action="store_true",
                        help="only make the cores' data and held-out selectors (fine on a busy machine), then stop")
    parser.add_argument("--no-share", action="store_true",
                        help="run single-best even where zap's run already picked its pipeline")
    args = parser.parse_args()
    payload = load(Path(args.artifact))
    problem = SelectionProblem.from_artifact(payload)
    unknown = sorted(set(args.cores) - set(problem.cores.tolist()))
    if unknown:
        parser.error(f"no core {', '.join(unknown)} in {args.artifact}")
    level = content_hash(payload)
    work = args.work / level
    if args.prepare:
        prepare(payload, problem, args.artifact, args.cores, work)
        return
    stored = json.loads(args.json.read_text())["runs"] if args.json.exists() else []
    runs = [r for r in stored if (r.get("level"), r.get("threads")) == (level, args.threads)]
    if len(runs) < len(stored):
        parser.error(f"{args.json} holds runs of another artifact or thread count; give another --json")
    redo = runs_to_redo(runs, cpu_model(), args.objectives)
    if redo:
        print(f"note: {len(redo)} runs of unfinished groups were made on another CPU "
              f"({sorted({r.get('cpu') or 'unrecorded' for r in redo})}); they are made again on this one "
              f"({cpu_model()})", flush=True)
        redone = {id(r) for r in redo}
        runs = [r for r in runs if id(r) not in redone]
    done = {key_of(r) for r in runs}
    for core, budget, objective, seed, method in planned(args.cores, args.budgets, args.objectives, args.seeds):
        wanted = (level, args.threads, core, budget, objective, seed, method)
        if wanted in done:
            continue
        shared = None if args.no_share else shared_run(runs, wanted)
        if shared is not None:
            runs.append(shared)
            atomic_write_json(args.json, {"artifact": args.artifact, "threads": args.threads, "runs": runs})
            print(f"{core:22s} {budget:5g} s {objective:5s} seed {seed} {method:12s} = zap's run "
                  f"({shared['pipeline_id']})", flush=True)
            continue
        data = held_out_data(payload, problem, core, work / "data")
        os.environ["ZAP_SELECTORS"] = str(held_out_selectors(args.artifact, core, work / "selectors" / core))
        result = one_run(data, method, budget, "alc" if objective == "any" else objective, seed, args.threads)
        runs.append({"level": level, "threads": args.threads, "core": core, "budget": budget,
                     "objective": objective, "seed": seed, "method": method} | result)
        atomic_write_json(args.json, {"artifact": args.artifact, "threads": args.threads, "runs": runs})
        print(f"{core:22s} {budget:5g} s {objective:5s} seed {seed} {method:12s} ALC {result['alc']:.3f} "
              f"acc {result['accuracy']:.3f} ({result['pipeline_id']}, load {result['loadavg_1m']:.1f})", flush=True)
    table = paired_table(runs)
    print_table(table)
    atomic_write_json(args.json, {"artifact": args.artifact, "threads": args.threads, "runs": runs, "table": table})


if __name__ == "__main__":
    main()
