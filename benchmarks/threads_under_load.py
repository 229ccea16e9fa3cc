"""Training speed by torch thread count on a machine that other work keeps busy, and what zap's thread rule
(`zap.finetune.threads.choose_threads`) picks there.

For each load (a number of busy-loop processes this script starts, on top of whatever already runs), the
rule samples the busy cores as `zap fit` does, then each (threads, OpenMP wait policy) pair times real
runner steps (the device probe's model and batch) in a fresh process. Repetitions alternate the order of
the pairs so drifting load hits them alike. The figure to read is each row's speed as a ratio to one
thread with the default wait policy under the same load, and whether the rule's pick is the fastest row.

    python benchmarks/threads_under_load.py --loads 0 1 2 --threads 1 2 --steps 20 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

from common import save_rows
from zap.finetune.threads import busy_cores, choose_threads

POLICIES = {"default": None, "passive": "PASSIVE"}


def spin(stop) -> None:
    """Other work: one core kept busy with arithmetic until told to stop."""
    x = 1.0
    while not stop.is_set():
        for _ in range(100_000):
            x = x * 1.000001 % 7.0


def child(threads: int, steps: int, architecture: str, size: int) -> None:
    """Seconds per training step in this fresh process, printed as JSON."""
    import numpy as np
    import torch

    from zap.finetune import calibrate
    from zap.finetune.threads import torch_threads

    with torch_threads(threads):
        state, cache = calibrate._probe_state(architecture, size, 0.0, calibrate.PROBE_BATCH, calibrate.PROBE_BATCH,
                                              "cpu", pretrained=False)
        x = cache.batch(np.arange(calibrate.PROBE_BATCH))
        y = torch.as_tensor(np.arange(calibrate.PROBE_BATCH) % calibrate.N_CLASSES)
        for _ in range(3):
            state.train_step(x, y)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            state.train_step(x, y)
            times.append(time.perf_counter() - start)
    print(json.dumps({"median_s": statistics.median(times), "mean_s": statistics.fmean(times)}))


def measure(threads: int, policy: str, args: argparse.Namespace) -> float:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if POLICIES[policy]:
        env["OMP_WAIT_POLICY"] = POLICIES[policy]
    out = subprocess.run([sys.executable, __file__, "--child", str(threads), "--steps", str(args.steps),
                          "--architecture", args.architecture, "--size", str(args.size)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])["median_s"]


def under_load(load: int, args: argparse.Namespace) -> list[dict]:
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop,), daemon=True) for _ in range(load)]
    for process in spinners:
        process.start()
    try:
        time.sleep(1.0)
        seen = busy_cores()
        picked = choose_threads(lambda: seen).threads
        pairs = [(t, p) for t in args.threads for p in args.policies]
        seconds: dict[tuple[int, str], list[float]] = {pair: [] for pair in pairs}
        for repeat in range(args.repeats):
            for pair in pairs if repeat % 2 == 0 else pairs[::-1]:
                seconds[pair].append(measure(*pair, args))
    finally:
        stop.set()
        for process in spinners:
            process.join(5)
    base = statistics.median(seconds.get((1, "default")) or seconds[pairs[0]])
    return [{"load": load, "busy_cores_seen": round(seen, 2) if seen is not None else None, "rule_picks": picked,
             "threads": t, "policy": p, "s_per_step": statistics.median(seconds[(t, p)]),
             "speed_vs_1_default": base / statistics.median(seconds[(t, p)]),
             "loadavg_1m": os.getloadavg()[0]} for t, p in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--architecture", default="mobilenetv2")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.architecture, args.size)
        return
    rows = [row for load in args.loads for row in under_load(load, args)]
    print(f"{'load':>4} {'busy seen':>9} {'rule':>4} {'threads':>7} {'policy':>8} {'s/step':>7} {'speed':>6}")
    for r in rows:
        best = r["s_per_step"] == min(x["s_per_step"] for x in rows if x["load"] == r["load"])
        print(f"{r['load']:>4} {r['busy_cores_seen']!s:>9} {r['rule_picks']:>4} {r['threads']:>7} {r['policy']:>8} "
              f"{r['s_per_step']:>7.3f} {r['speed_vs_1_default']:>5.2f}x{'  fastest' if best else ''}")
    save_rows(rows, args.json)


if __name__ == "__main__":
    main()
