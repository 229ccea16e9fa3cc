"""Does a reference-clock budget buy the same compute under load? And the thread-CPU clock, for contrast.

Each cell (a v1 dataset variant x a pipeline, seed 0) runs four times, one at a time: on the `ref` and
on the `cpu` clock at the same budget, once on an otherwise idle machine and once while `--load`
processes keep every core busy (a single-thread matrix-multiply loop each, which also loads the
memory system). The property the meta-dataset needs is that the ref runs reach the same step count at T
(within 2 %) and the same ALC (within 0.01) in both settings. On the idle runs, `ref_s / cpu_s` at the
end says how closely the cost table tracks this machine's own CPU seconds.

    python benchmarks/ref_clock.py --budget 20 --load 2 --json docs/data/ref_clock_load.json
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from contextlib import contextmanager

from common import save_rows

CELLS = (  # (dataset variant of v1, candidate): small and large inputs, three architectures, quick models
    ("digits-sklearn--s0v0", "recommended"),
    ("chars-greek--s0v1", "autodl-default"),
    ("emoji-group--s0v0", "recommended"),
    ("photo-patches--s0v2", "cd4650d7580d"),
    ("textures--s0v1", "0f3d586816d5"),
)


def _spin(stop) -> None:
    import torch

    torch.set_num_threads(1)
    a = torch.randn(512, 512)
    while not stop.is_set():
        a = torch.tanh(a @ a) * 0.5


@contextmanager
def busy_cores(n: int):
    """`n` processes that keep a core each busy until the block ends."""
    stop = mp.Event()
    workers = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(n)]
    for w in workers:
        w.start()
    time.sleep(1.0 if n else 0.0)
    try:
        yield
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=10)


def _pipeline(name: str, candidates: list[dict]) -> dict:
    from zap.pipelines import get_config

    for c in candidates:
        if c["pipeline_id"] == name:
            return c["config"]
    return dict(get_config(name))


def measure(dataset: str, pipeline: str, clock: str, budget: float) -> dict:
    from zap.data.augment import materialize
    from zap.data.core import load_core
    from zap.finetune import Budget, run
    from zap.metadataset.plan import load_plan
    from zap.resources import plan_dir

    plan = load_plan(plan_dir("v1"))  # the cells are v1's
    spec = next(d for d in plan.protocol.datasets if d.name == dataset)
    split = materialize(load_core(spec.core), spec)
    result = run(split.train, split.test, _pipeline(pipeline, plan.candidates), Budget(budget, clock), seed=0,
                 threads=1, device="cpu")
    return {"dataset": dataset, "pipeline": pipeline, "clock": clock, "steps": result.elapsed["steps"],
            "alc": result.alc, "ref_s": result.elapsed["ref_s"], "cpu_s": result.elapsed["cpu_s"],
            "wall_s": result.elapsed["wall_s"], "predictions": len(result.curve), "status": result.status}


def _in_child(args: tuple) -> dict:
    """One run in a fresh process: no torch state of one run leaks into the next."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def run_all(cells, budget: float, load: int) -> list[dict]:
    rows = []
    for setting, n_busy in (("idle", 0), ("loaded", load)):
        with busy_cores(n_busy):
            for dataset, pipeline in cells:
                for clock in ("ref", "cpu"):
                    row = _in_child((dataset, pipeline, clock, budget)) | {"setting": setting}
                    print(f"{setting:6s} {clock:3s} {dataset:22s} {pipeline:14s} steps {row['steps']:4d} "
                          f"ALC {row['alc']:.4f} wall {row['wall_s']:.1f} s", flush=True)
                    rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    def get(setting, clock, dataset, pipeline):
        return next(r for r in rows if (r["setting"], r["clock"], r["dataset"], r["pipeline"]) ==
                    (setting, clock, dataset, pipeline))

    lines = ["| cell | clock | steps idle | steps loaded | step change | ALC idle | ALC loaded | ALC change | "
             "wall loaded / idle |", "|---|---|---|---|---|---|---|---|---|"]
    changes: dict[str, list[float]] = {"ref": [], "cpu": []}
    for dataset, pipeline in dict.fromkeys((r["dataset"], r["pipeline"]) for r in rows):
        for clock in ("ref", "cpu"):
            idle, loaded = get("idle", clock, dataset, pipeline), get("loaded", clock, dataset, pipeline)
            change = (loaded["steps"] - idle["steps"]) / max(idle["steps"], 1)
            changes[clock].append(abs(change))
            lines.append(f"| {dataset} × {pipeline} | {clock} | {idle['steps']} | {loaded['steps']} | "
                         f"{100 * change:+.1f} % | {idle['alc']:.4f} | {loaded['alc']:.4f} | "
                         f"{loaded['alc'] - idle['alc']:+.4f} | {loaded['wall_s'] / idle['wall_s']:.2f} |")
    idle_ref = [r for r in rows if r["setting"] == "idle" and r["clock"] == "ref"]
    tracking = [r["ref_s"] / r["cpu_s"] for r in idle_ref if r["cpu_s"] > 0]
    lines.append("")
    lines.append(f"median |step change| under load: ref {100 * statistics.median(changes['ref']):.1f} %, "
                 f"cpu {100 * statistics.median(changes['cpu']):.1f} %")
    lines.append(f"idle ref runs, ref_s / cpu_s at the end: median {statistics.median(tracking):.3f}, "
                 f"range [{min(tracking):.3f}, {max(tracking):.3f}]")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds on both clocks")
    parser.add_argument("--load", type=int, default=2, help="busy processes in the loaded setting")
    parser.add_argument("--cells", type=int, default=len(CELLS), help="how many of the fixed cells")
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    rows = run_all(CELLS[: args.cells], args.budget, args.load)
    save_rows(rows, args.json)
    print(table(rows))


if __name__ == "__main__":
    main()
