"""ZAP-HPO design choices, compared under leave-one-core-out on a meta-dataset artifact, with how much
each one's pick moves with its seed.

Each variant is ZapHPO with some options changed. Every variant is fitted once per held-out group and
seed, in this process on one thread; with `--out DIR` each (variant, group, seed) fit's scores are stored
there as it finishes, so a killed run resumes where it stopped and new seeds or variants add to the same
folder. A variant's own `seeds=N` takes seeds 0..N-1 instead of `--seeds`. `--pool K` adds, for every
variant with at least 2K seeds, the models that pool K seeds (consecutive seeds, disjoint groups): the
mean of their scores, which is what `ZapHPO(n_seeds=K)` computes from K members (with other member seeds).
Single-best is learned on the same training cores. Figures are per core: a core's datasets are averaged
first, as in `zap benchmark`.

Columns: the mean over cores of the seed-averaged picks and its gap closed (Single-best 0, Oracle 1);
the gap closed by each seed alone (mean and range: how far one shipped model can land from another);
how often all seeds pick the same pipeline; and the paired core-level difference from the first variant
with its bootstrap 95 % interval and Wilcoxon p.

    python benchmarks/zap_hpo_variants.py artifacts/metadataset/v1.json.gz --seeds 0 1 2 --out DIR --pool 3 \\
        --variant paper --variant listwise:loss=listwise --variant regression:loss=regression,seeds=6
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import numpy as np

from zap.benchmark.loco import held_out_mask, outer_folds
from zap.benchmark.stats import bootstrap_ci, core_means, gap_closed, markdown_table, wilcoxon_p
from zap.metadataset.artifact import level_hash, load
from zap.metadataset.problem import SelectionProblem
from zap.selectors import SingleBest
from zap.selectors.zap_hpo import ZapHPO
from zap.utils import atomic_write_json

DEFAULT_VARIANTS = ("paper", "log:meta_transform=log", "delta:pair_weight=delta", "prior1:prior=1.0",
                    "regret:select_by=regret", "log-delta-prior1:meta_transform=log,pair_weight=delta,prior=1.0")


def parse_variant(text: str) -> tuple[str, dict]:
    """'name:key=value,key=value' -> (name, options); values are read as numbers where they are."""
    name, _, spec = text.partition(":")
    options = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key] = float(value) if "." in value or "e" in value else int(value)
        except ValueError:
            options[key] = value
    return name, options


def fit_and_score(problem: SelectionProblem, selector, train: SelectionProblem, rows: np.ndarray) -> np.ndarray:
    selector.fit(train.meta_features, train.encodings, train.perf, train.cores)
    return selector.scores(problem.meta_features[rows])


def stored_scores(cache: Path | None, key: dict, compute) -> np.ndarray:
    """The scores [rows x candidates] of one (variant, group, seed) fit: read from `cache` when a fit with the
    same key is stored there, else computed and stored. A stored fit of the same name but other options, or
    from another artifact (`level`: `zap.metadataset.artifact.level_hash`), is an error: mixing them would
    report one variant's seeds, or one matrix's, under another's name."""
    path = None if cache is None else cache / f"{key['variant']}--{key['group']}--s{key['seed']}.json"
    if path is not None and path.exists():
        record = json.loads(path.read_text())
        if record["key"] != key:
            raise SystemExit(f"{path} holds a fit with other settings ({record['key']}); give this variant "
                             "another name or use another --out folder")
        return np.array(record["scores"], dtype=float)
    start = time.process_time()
    scores = np.asarray(compute(), dtype=float)
    if path is not None:
        atomic_write_json(path, {"key": key, "scores": np.round(scores, 6).tolist(),
                                 "cpu_s": time.process_time() - start}, indent=None)
    return scores


def seeds_of(options: dict, default: list[int]) -> tuple[dict, list[int]]:
    """A variant's ZapHPO options without its own `seeds=N`, and the seeds it runs."""
    options = dict(options)
    n = options.pop("seeds", None)
    return options, default if n is None else list(range(int(n)))


def pooled(scores: np.ndarray, k: int) -> np.ndarray:
    """[groups x rows x candidates] from [seeds x rows x candidates]: the mean of each k consecutive seeds."""
    n = len(scores) // k
    return scores[:n * k].reshape(n, k, *scores.shape[1:]).mean(axis=1)


def evaluate(problem: SelectionProblem, protocol: str, variants: dict[str, dict], seeds: list[int], epochs: int,
             cache: Path | None, max_groups: int | None = None, level: str = "",
             ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Held-out rows (each dataset once); per reference method its performance, per variant its scores
    [seeds x rows x candidates]."""
    complete = problem.complete_rows()
    rows_all: list[int] = []
    scores: dict[str, list] = {"oracle": [], "single-best": []}
    scored: dict[str, list] = {v: [] for v in variants}
    for group in outer_folds(problem, protocol)[:max_groups]:
        test = held_out_mask(problem, protocol, group)
        train, rows = problem.subset(~test & problem.measured_rows()), np.flatnonzero(test & complete)
        rows_all.extend(rows)
        scores["oracle"].extend(np.nanmax(problem.perf[rows], axis=1))
        best = SingleBest().fit(train.meta_features, train.encodings, train.perf, train.cores)
        scores["single-best"].extend(problem.perf[rows, best.select(problem.meta_features[rows])])
        for name, spec in variants.items():
            options, own_seeds = seeds_of(spec, seeds)
            per_seed = []
            for seed in own_seeds:
                key = {"variant": name, "options": options, "group": group, "seed": seed, "epochs": epochs,
                       "protocol": protocol, "objective": problem.objective, "rows": rows.tolist(), "level": level}
                selector = ZapHPO(seed=seed, max_epochs=epochs, **options)
                per_seed.append(stored_scores(cache, key, partial(fit_and_score, problem, selector, train, rows)))
            scored[name].append(np.stack(per_seed).reshape(len(own_seeds), len(rows), -1))
    return (np.array(rows_all), {k: np.array(v) for k, v in scores.items()},
            {k: np.concatenate(v, axis=1) for k, v in scored.items()})


def variant_summary(problem: SelectionProblem, rows: np.ndarray, picks: np.ndarray, reference: dict) -> dict:
    """One variant's figures, at the core level (see the module docstring)."""
    cores = problem.cores[rows].tolist()
    per_seed = problem.perf[rows[None, :], picks]  # [seeds x rows]
    mean = core_means(per_seed.mean(axis=0), cores)[1]
    seed_gaps = [gap_closed(reference["single-best"].mean(), reference["oracle"].mean(),
                            core_means(s, cores)[1].mean()) for s in per_seed]
    first = reference.get("first")
    diff = None if first is None else mean - first
    return {"score": float(mean.mean()),
            "gap_closed": gap_closed(reference["single-best"].mean(), reference["oracle"].mean(), mean.mean()),
            "gap_closed_per_seed": seed_gaps,
            "beats_single_best": float(np.mean(mean > reference["single-best"] + 1e-9)),
            "same_pick_all_seeds": float(np.mean((picks == picks[0]).all(axis=0))),
            "same_pick_pairs": pair_agreement(picks),
            "diff_vs_first": None if diff is None else float(diff.mean()),
            "diff_ci": None if diff is None else bootstrap_ci(diff),
            "wilcoxon_p": None if diff is None else wilcoxon_p(diff), "core_scores": mean.tolist()}


def pair_agreement(picks: np.ndarray) -> float | None:
    """How often two models of a variant pick the same pipeline for a dataset, over all pairs of models:
    unlike agreement of all models it does not fall just because more models were compared."""
    pairs = [(picks[a] == picks[b]).mean() for a in range(len(picks)) for b in range(a + 1, len(picks))]
    return float(np.mean(pairs)) if pairs else None


def summarize(problem: SelectionProblem, rows: np.ndarray, scores: dict, scored: dict, pool: int = 0) -> dict:
    cores = problem.cores[rows].tolist()
    reference = {k: core_means(v, cores)[1] for k, v in scores.items()}
    models = dict(scored)
    if pool > 1:
        models |= {f"{name} pooled x{pool}": pooled(s, pool) for name, s in scored.items() if len(s) >= 2 * pool}
    out = {}
    for name, per_model in models.items():
        out[name] = variant_summary(problem, rows, per_model.argmax(axis=2), reference)
        out[name]["n_models"] = len(per_model)
        reference.setdefault("first", np.array(out[name]["core_scores"]))
    return {"oracle": float(reference["oracle"].mean()), "single_best": float(reference["single-best"].mean()),
            "variants": out}


def table(summary: dict) -> str:
    lines = []
    for name, v in summary["variants"].items():
        gaps = v["gap_closed_per_seed"]
        ci = "-" if v["diff_ci"] is None else (f"{v['diff_vs_first']:+.4f} "
                                               f"[{v['diff_ci'][0]:+.4f}, {v['diff_ci'][1]:+.4f}]")
        p = "-" if v["wilcoxon_p"] is None else f"{v['wilcoxon_p']:.3f}"
        lines.append([name, v["n_models"], v["score"], v["gap_closed"],
                      f"{np.mean(gaps):.3f} [{min(gaps):.3f}, {max(gaps):.3f}]", v["beats_single_best"],
                      v["same_pick_all_seeds"], v["same_pick_pairs"], ci, p])
    return markdown_table(["variant", "models", "score (cores)", "gap closed", "per model: mean [min, max]",
                           "beats SB", "same pick, all models", "same pick, pairs", "vs first [95 % CI]", "p"],
                          lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact")
    parser.add_argument("--protocol", default="loco", choices=["loco", "lodo"])
    parser.add_argument("--objective", default="alc", choices=["alc", "final"])
    parser.add_argument("--variant", action="append", help="name:key=value,... (default: a built-in set)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--out", type=Path, help="folder for each fit's picks: resumes, and adds to earlier runs")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--max-groups", type=int, help="only the first N held-out groups (a smoke run)")
    parser.add_argument("--pool", type=int, default=0, help="also score models pooling this many seeds")
    args = parser.parse_args()
    variants = dict(parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS))
    payload = load(Path(args.artifact))
    problem = SelectionProblem.from_artifact(payload, objective=args.objective)
    rows, scores, scored = evaluate(problem, args.protocol, variants, args.seeds, args.epochs, args.out,
                                   args.max_groups, level_hash(payload))
    summary = summarize(problem, rows, scores, scored, args.pool)
    print(f"{args.protocol}, {args.objective}: {len(rows)} complete datasets over {len(set(problem.cores[rows]))} "
          f"cores, seeds {args.seeds}; Single-best {summary['single_best']:.4f}, Oracle {summary['oracle']:.4f}")
    print(table(summary))
    if args.json:
        atomic_write_json(args.json, {"artifact": args.artifact, "protocol": args.protocol,
                                      "objective": args.objective, "seeds": args.seeds, "epochs": args.epochs,
                                      "pool": args.pool,
                                      "variants_options": variants, **summary})


if __name__ == "__main__":
    main()
