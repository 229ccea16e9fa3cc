"""Are wall-clock budgets kept? `zap fit` run for real, as a user runs it, at several budgets, idle and loaded.

Each run is the real command line in its own process (`zap fit DATA --budget S --out DIR --threads T
--quiet`, on `--config recommended` unless `--zero-shot`, so selection time stays out of it unless asked
for), timed from start to exit by this script. Two overruns per run, each as a share of the budget:
the run's own clock (`elapsed_s` against `budget_s` in `summary.json`), and the whole process, which adds
start-up, data loading, model building and writing the run folder: what a user waiting on the command
sees. Plus the time to the first prediction, the first row of `learning_curve.csv`. The "busy" condition
keeps every core busy with one matrix-multiply process each (ref_clock.py's `busy_cores`) while zap runs.
Repeats loop outside the budgets, so a drift in machine load hits every budget alike. With few repeats the
p95 is close to the max. A run still going at three times its budget plus ten minutes is killed and
counted with that wall time. Run it on an otherwise idle machine.

    python benchmarks/budget_overrun.py --budgets 10 30 60 --repeats 5 --conditions idle busy \\
        --json docs/data/budget_overrun.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import save_rows
from ref_clock import busy_cores
from zap.errors import ArtifactError

TARGET = 0.05  # p95 of the overrun, as a share of the budget
SETTLE_S = 3.0  # after the busy processes start: each imports torch before it loads its core
FIT_OK = (0, 3)  # zap fit's exit codes for a finished run: ok, or late/diverged (still a run to time)


def overrun(elapsed: float, budget: float) -> float:
    """Time past the budget as a share of it: +0.05 is 5 % over, negative is early."""
    return (elapsed - budget) / budget


def distribution(values: list[float]) -> dict[str, float | None]:
    """Median, p95 (linear interpolation between order statistics) and max; None each for no values."""
    if not values:
        return {"median": None, "p95": None, "max": None}
    return {"median": statistics.median(values), "p95": float(np.percentile(values, 95)), "max": max(values)}


def verdict(p95: float | None, target: float = TARGET) -> str:
    return "n/a" if p95 is None else ("PASS" if p95 <= target else "FAIL")


def first_prediction_s(path: str | Path, column: str = "wall_s") -> float | None:
    """`column` of the curve's first row, found by the header; None for a curve with no prediction."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise ArtifactError(f"{path} has no {column!r} column (header: {reader.fieldnames}); "
                                "is it a zap learning_curve.csv?")
        first = next(reader, None)
    return None if first is None else float(first[column])


def summarize(rows: list[dict]) -> list[dict]:
    """One line per (budget, condition), in the order first measured. A run killed at its timeout has no
    summary: it counts on the process clock only."""
    groups: dict[tuple[float, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["budget"], row["condition"]), []).append(row)
    lines = []
    for (budget, condition), runs in groups.items():
        finished = [r for r in runs if r["elapsed_s"] is not None]
        firsts = [r["first_prediction_s"] for r in runs if r["first_prediction_s"] is not None]
        lines.append({"budget": budget, "condition": condition, "runs": len(runs),
                      "run_clock": distribution([overrun(r["elapsed_s"], r["budget_s"]) for r in finished]),
                      "process": distribution([overrun(r["process_wall_s"], budget) for r in runs]),
                      "first_prediction_s": statistics.median(firsts) if firsts else None,
                      "no_prediction": len(runs) - len(firsts)})
    return lines


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f} %"


def table(lines: list[dict], target: float = TARGET) -> str:
    head = (f"| budget s | condition | runs | run clock: median | p95 | max | p95 ≤ {100 * target:g} % | "
            f"process: median | p95 | max | p95 ≤ {100 * target:g} % | first prediction s (median) |")
    out = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for line in lines:
        run, proc = line["run_clock"], line["process"]
        first = "–" if line["first_prediction_s"] is None else f"{line['first_prediction_s']:.2f}"
        if line["no_prediction"]:
            first += f" ({line['no_prediction']} without)"
        out.append(f"| {line['budget']:g} | {line['condition']} | {line['runs']} | {_pct(run['median'])} | "
                   f"{_pct(run['p95'])} | {_pct(run['max'])} | {verdict(run['p95'], target)} | "
                   f"{_pct(proc['median'])} | {_pct(proc['p95'])} | {_pct(proc['max'])} | "
                   f"{verdict(proc['p95'], target)} | {first} |")
    return "\n".join(out)


def fit_command(args: argparse.Namespace, budget: float, out: Path) -> list[str]:
    command = [args.zap, "fit", args.data, "--budget", f"{budget:g}", "--out", str(out),
               "--threads", str(args.threads), "--quiet"]
    return command if args.zero_shot else [*command, "--config", args.config]


def measure(args: argparse.Namespace, budget: float, condition: str, repeat: int) -> dict:
    """One `zap fit` in a fresh folder, timed from start to exit; what its summary and curve say."""
    row = {"budget": budget, "condition": condition, "repeat": repeat, "data": args.data, "threads": args.threads,
           "config": "zero-shot" if args.zero_shot else args.config}
    with tempfile.TemporaryDirectory(prefix="zap-overrun-") as tmp:
        out = Path(tmp) / "run"
        timeout = 3 * budget + 600
        start = time.perf_counter()
        try:
            done = subprocess.run(fit_command(args, budget, out), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return row | {"process_wall_s": time.perf_counter() - start, "rc": None, "status": "timeout",
                          "elapsed_s": None, "budget_s": budget, "first_prediction_s": None, "n_predictions": None}
        wall = time.perf_counter() - start
        if done.returncode not in FIT_OK:
            raise RuntimeError(f"zap fit exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
        return row | {"process_wall_s": wall, "rc": done.returncode, "status": summary["status"],
                      "elapsed_s": summary["elapsed_s"], "budget_s": summary["budget_s"],
                      "clock": summary["clock"], "first_prediction_s": first_prediction_s(out / "learning_curve.csv"),
                      "n_predictions": summary["n_predictions"], "answered_by": summary["answered_by"],
                      "pipeline_id": summary["pipeline_id"]}


def progress_line(r: dict) -> str:
    run = "–" if r["elapsed_s"] is None else _pct(overrun(r["elapsed_s"], r["budget_s"]))
    first = "none" if r["first_prediction_s"] is None else f"{r['first_prediction_s']:.2f} s"
    return (f"{r['condition']:4s} budget {r['budget']:g} s repeat {r['repeat']}: process {r['process_wall_s']:.2f} s "
            f"({_pct(overrun(r['process_wall_s'], r['budget']))}), run clock {run}, first prediction {first}, "
            f"{r['status']}")


def run_all(args: argparse.Namespace, rows: list[dict]) -> None:
    """Appends each run to `rows` as it finishes, so an interrupted invocation still has them."""
    for condition in args.conditions:
        with busy_cores((os.cpu_count() or 1) if condition == "busy" else 0):
            time.sleep(SETTLE_S if condition == "busy" else 0.0)
            for repeat in range(args.repeats):
                for budget in args.budgets:
                    rows.append(measure(args, budget, condition, repeat))
                    save_rows(rows, args.json)
                    print(progress_line(rows[-1]), flush=True)


def _stop_on_sigterm(signum, frame) -> None:
    """A plain `kill` unwinds like Ctrl-C: the busy processes stop and the zap fit child is killed."""
    sys.exit(128 + signum)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=float, nargs="+", default=[10.0, 30.0, 60.0], help="wall seconds")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--conditions", nargs="+", choices=("idle", "busy"), default=["idle", "busy"])
    parser.add_argument("--threads", type=int, default=2, help="zap fit --threads")
    parser.add_argument("--data", default="digits", help="zap fit DATA")
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--config", default="recommended", help="zap fit --config: a fixed pipeline")
    pick.add_argument("--zero-shot", action="store_true", help="let zap fit select the pipeline (timed too)")
    parser.add_argument("--zap", default=str(Path(sys.executable).with_name("zap")), help="the zap executable")
    parser.add_argument("--json", help="every run's row, rewritten after each run")
    args = parser.parse_args(argv)
    if min(args.budgets) <= 0:
        parser.error("--budgets: every budget must be > 0 seconds")
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be at least 1")
    if not os.access(args.zap, os.X_OK):
        parser.error(f"--zap: {args.zap} is not an executable; pass the zap of the project's .venv")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"--json: the folder of {args.json} does not exist; create it first")
    return args


def main() -> None:
    args = parse()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    rows: list[dict] = []
    try:
        run_all(args, rows)
        interrupted = False
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted after {len(rows)} run(s){f'; they are in {args.json}' if args.json and rows else ''}",
              file=sys.stderr)
    if rows:
        print(f"\nzap fit {args.data} --threads {args.threads}, "
              f"{'zero-shot selection' if args.zero_shot else f'--config {args.config}'}, "
              f"{args.repeats} repeat(s); overrun = (elapsed - budget) / budget, target p95 ≤ {100 * TARGET:g} %\n")
        print(table(summarize(rows)))
    if interrupted:
        sys.exit(130)


if __name__ == "__main__":
    main()
