"""Does a cell computed on another device, on the reference clock, reproduce the stored cell?

A meta-dataset cell on the `ref` clock never reads a timer, so a GPU (or another CPU) should make exactly
the same optimizer steps and predictions at the same reference times; only rounding differs. This script
re-runs a fixed sample of a plan's stored seed-0 cells on `--device` and compares, per cell, the steps at
T, the ALC and the final NAUC with the stored record. Beside it, the noise floor: the same cells' stored
seed-1 twin, where the build ran one. A device is fit to add cells to the matrix when its step counts
match and its ALC differences are well inside the seed-to-seed differences.

    python benchmarks/device_fidelity.py --plan metadataset/v2 --budget 20 --device cuda --cells 32 \\
        --processes 8 --json fidelity.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
import zlib
from dataclasses import replace
from pathlib import Path

from common import save_rows


def _sample(plan, budget: float, cores: list[str] | None, n: int, device: str, stored_on: str | None = None) -> list:
    """`n` stored seed-0 cells, chosen by a hash of their key (the same cells on every machine);
    `stored_on` keeps only the cells that device computed (a CPU-against-CPU check leaves the GPU's out)."""
    from zap.metadataset.build import key_of, plan_tasks

    store = plan.store

    def usable(record: dict | None) -> bool:
        return (record is not None and record["status"] == "ok"
                and stored_on in (None, record["provenance"].get("device", "cpu")))

    tasks = [t for t in plan_tasks(plan, store, [0], 0.0, 0, [budget], cores=cores, device=device)
             if usable(store.records.get(key_of(t)))]
    tasks.sort(key=lambda t: zlib.crc32(f"{t.dataset.name}/{t.pipeline_id}".encode()))
    return tasks[:n]


def _run(task, cache: str | None) -> dict:
    from zap.metadataset.task import run_task

    return run_task(task, cache)


def _row(task, stored: dict, twin: dict | None, again: dict) -> dict:
    return {
        "dataset": task.dataset.name, "pipeline_id": task.pipeline_id,
        "architecture": task.pipeline["architecture"], "status": again["status"],
        "steps_stored": stored["elapsed"]["steps"], "steps_device": again.get("elapsed", {}).get("steps"),
        "alc_stored": stored["alc"], "alc_device": again["alc"],
        "final_stored": stored["final_nauc"], "final_device": again.get("final_nauc"),
        "alc_seed1": twin["alc"] if twin else None,
        "seconds_device": again["provenance"]["seconds"], "seconds_stored": stored["provenance"]["seconds"],
        "cpu_per_ref_device": _cpu_per_ref(again), "cpu_per_ref_stored": _cpu_per_ref(stored),
        "loadavg_device": again["provenance"].get("loadavg_1m"),
        "loadavg_stored": stored["provenance"].get("loadavg_1m"),
        "cpu_device": again["provenance"].get("cpu"), "cpu_stored": stored["provenance"].get("cpu"),
        "device": again["provenance"].get("device"), "gpu": again["provenance"].get("gpu"),
        "torch_device": again["provenance"]["torch"], "torch_stored": stored["provenance"]["torch"],
    }


def _cpu_per_ref(record: dict) -> float | None:
    """Thread-CPU seconds a reference second cost in this record: how fast the machine was (1 is the
    calibration machine, idle)."""
    elapsed = record.get("elapsed") or {}
    return elapsed["cpu_s"] / elapsed["ref_s"] if elapsed.get("ref_s") else None


def _summary(rows: list[dict], wall: float, processes: int) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    same_steps = sum(r["steps_device"] == r["steps_stored"] for r in ok)
    d_alc = [abs(r["alc_device"] - r["alc_stored"]) for r in ok]
    d_final = [abs(r["final_device"] - r["final_stored"]) for r in ok]
    d_seed = [abs(r["alc_seed1"] - r["alc_stored"]) for r in ok if r["alc_seed1"] is not None]
    print(f"{len(ok)} of {len(rows)} cells ok; steps at T equal in {same_steps} of {len(ok)}")
    for name, values in (("|ALC device - stored|", d_alc), ("|final NAUC device - stored|", d_final),
                         ("|ALC seed 1 - seed 0| (noise floor)", d_seed)):
        if values:
            q = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else values * 9
            print(f"  {name:40s} median {statistics.median(values):.4f}  p90 {q[-1]:.4f}  max {max(values):.4f} "
                  f"(n={len(values)})")
    if ok:
        print(f"  throughput: {len(rows) / wall * 60:.1f} cells/min with {processes} processes; a cell took "
              f"{statistics.median(r['seconds_device'] for r in ok):.1f} s here (median) vs "
              f"{statistics.median(r['seconds_stored'] for r in ok):.1f} s where it was stored")
        speeds = [(r["cpu_per_ref_device"], r["cpu_per_ref_stored"]) for r in ok if r["cpu_per_ref_stored"]]
        print(f"  CPU-s per ref-s: {statistics.median(d for d, _ in speeds):.2f} here, "
              f"{statistics.median(s for _, s in speeds):.2f} where stored (medians)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", default="metadataset/v2")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--cores", nargs="+", help="only these cores (the ones whose data this machine holds)")
    parser.add_argument("--cells", type=int, default=32)
    parser.add_argument("--stored-on", choices=["cpu", "cuda"], help="only cells that this device computed")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--cache", help="core dataset cache (default $ZAP_DATA or ~/.cache/zap/datasets)")
    parser.add_argument("--json", help="write every row here")
    args = parser.parse_args()

    from zap.finetune.runner import resolve_device
    from zap.metadataset import load_plan
    from zap.metadataset.build import key_of

    resolve_device(args.device)
    plan = load_plan(Path(args.plan))
    tasks = _sample(plan, args.budget, args.cores, args.cells, args.device, args.stored_on)
    store = plan.store
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.processes) as pool:
        again = pool.starmap(_run, [(t, args.cache) for t in tasks])
    wall = time.perf_counter() - start
    rows = [_row(t, store.records[key_of(t)], store.records.get(key_of(replace(t, seed=1))), a)
            for t, a in zip(tasks, again, strict=True)]
    _summary(rows, wall, args.processes)
    if args.json:
        save_rows(rows, args.json)
        print(f"rows: {args.json}")
    else:
        print(json.dumps(rows[:2], indent=1))


if __name__ == "__main__":
    main()
