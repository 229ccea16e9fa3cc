"""Figures and coverage numbers for docs/datasets.md: how cores and their variants spread over the
meta-features. Builds missing cores first.

    python scripts/datasets_page.py --variants 5 --seed 0 --out docs/img/datasets_spread.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from zap.data.augment import draw_variants, whole_core
from zap.data.core import CORES, load_core


def core_table(difficulty_files: list[str]) -> str:
    """Markdown table of the cores: registry facts, reference sizes, accuracy and ALC per measured regime."""
    import json
    from pathlib import Path

    from zap.data.core.store import catalogue

    runs = [{r["core"]: r for r in json.loads(Path(f).read_text())} for f in difficulty_files]
    head = "| core | domain | classes | images (test) | px | ch | source | license |"
    head += "".join(f" acc / ALC / steps ({Path(f).stem.removeprefix('difficulty_')}) |" for f in difficulty_files)
    lines = [head, "|" + "---|" * (8 + len(runs))]
    for name, spec in CORES.items():
        ref = catalogue().get(name, {})
        cells = [f"`{name}`", spec.domain, str(ref.get("n_classes", "")), f"{ref.get('n_images', '')} "
                 f"({ref.get('n_test', '')})", str(spec.resolution), str(spec.channels), spec.source, spec.license]
        cells += [f"{run[name]['accuracy']:.3f} / {run[name]['alc']:.3f} / {run[name]['steps']}" if name in run
                  else "–" for run in runs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/img/datasets_spread.png")
    parser.add_argument("--difficulty", nargs="*", default=[], metavar="JSON",
                        help="outputs of benchmarks/core_difficulty.py --json: print the core table with them")
    args = parser.parse_args()
    if args.difficulty:
        print(core_table(args.difficulty))
        return
    rows = []
    for name in CORES:
        core = load_core(name)
        rows.append(("core", core.spec.domain, whole_core(core)))
        rows += [("variant", core.spec.domain, s) for s in draw_variants(core, args.variants, args.seed)]
    domains = sorted({d for _, d, _ in rows})
    colours = dict(zip(domains, plt.cm.tab10(np.linspace(0, 1, 10)), strict=False))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [2, 1, 1]})
    for kind, marker, size in (("variant", "o", 14), ("core", "*", 120)):
        for d in domains:
            pts = [(len(s.classes), s.n_train) for k, dd, s in rows if k == kind and dd == d]
            if pts:
                x, y = zip(*pts, strict=True)
                axes[0].scatter(x, y, s=size, marker=marker, color=colours[d], alpha=0.8,
                                label=d if kind == "core" else None, edgecolors="k", linewidths=0.3)
    axes[0].set(xscale="log", yscale="log", xlabel="classes", ylabel="n_train",
                title=f"{len(CORES)} cores (stars) and {args.variants} variants each (dots)")
    axes[0].legend(fontsize=8, loc="upper left")
    variants = [s for k, _, s in rows if k == "variant"]
    res = [s.resolution for s in variants]
    sides = [16, 32, 64, 128]
    axes[1].bar([str(r) for r in sides], [res.count(r) for r in sides])
    axes[1].set(xlabel="resolution (px)", ylabel="variants", title="variant resolution")
    axes[2].bar(["1 (gray)", "3 (colour)"], [sum(s.channels == 1 for s in variants),
                                             sum(s.channels == 3 for s in variants)])
    axes[2].set(title="variant channels")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    classes = [len(s.classes) for s in variants]
    n_train = [s.n_train for s in variants]
    print(f"{len(variants)} variants: classes {min(classes)}..{max(classes)}, n_train {min(n_train)}..{max(n_train)}, "
          f"resolution {min(res)}..{max(res)}, channels {sorted({s.channels for s in variants})}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
