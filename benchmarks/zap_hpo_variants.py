"""ZAP-HPO design choices, compared under leave-one-core-out on a meta-dataset artifact, with how much
each one's pick moves with its seed.

Each variant is ZapHPO with some options changed. Every variant is fitted once per held-out group and
seed, in this process on one thread; with `--out DIR` each (variant, group, seed) fit's scores are stored
there as it finishes, so a killed run resumes where it stopped and new seeds or variants add to the same
folder. A variant's own `seeds=N` takes seeds 0..N-1 instead of `--seeds`. `--pool K` adds, for every
variant with at least 2K seeds, the models that pool K seeds (consecutive seeds, disjoint groups): the
mean of their scores, which is what `ZapHPO(n_seeds=K)` computes from K members (with other member seeds).
Single-best is learned on the same training cores. Figures are per core: a core's datasets are averaged
first, as in `zap benchmark`. On a multi-level artifact (v2) each variant is the shipped, budget-aware model:
one fit per held-out group and seed on every level's training rows, with the log budget as a feature, scored
at each level's budget among that level's candidates; the tables and `--json` (`levels`) are per level.

With `--probe-features FILE` (the cache `probe_metafeatures.py` writes), a variant's option `probe=1`
appends that study's three image-probe features to the four trivial meta-features (before the budget
column): does a selector that sees how far frozen ImageNet features separate the classes pick better?
Stored fits are keyed by that option, not by the file's contents: give other probe features another `--out`.
`--groups` holds out only the named cores (a domain-spread subset when a full run costs too much).

Columns: the mean over cores of the seed-averaged picks and its gap closed (Single-best 0, Oracle 1);
the gap closed by each seed alone (mean and range: how far one shipped model can land from another);
how often all seeds pick the same pipeline; and the paired core-level difference from the first variant
with its bootstrap 95 % interval and Wilcoxon p.

    python benchmarks/zap_hpo_variants.py artifacts/metadataset/v1.json.gz --seeds 0 1 2 --out DIR --pool 3 \\
        --variant paper --variant listwise:loss=listwise --variant regression:loss=regression,seeds=6
    python benchmarks/zap_hpo_variants.py artifacts/metadataset/v2.json.gz --seeds 0 1 2 --pool 3 \\
        --probe-features docs/data/probe_features_v2.json --variant regression:loss=regression \\
        --variant regression-probe:loss=regression,probe=1 --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from probe_metafeatures import PROBE_NAMES
from zap.benchmark.loco import held_out_mask, outer_folds
from zap.benchmark.stats import bootstrap_ci, core_means, gap_closed, markdown_table, wilcoxon_p
from zap.metadataset.artifact import content_hash, level_hash, load
from zap.metadataset.problem import Levels, SelectionProblem, with_budget
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


def fit_and_score(levels: Levels, selector, train_rows: dict[float, np.ndarray],
                  test_rows: dict[float, np.ndarray]) -> dict[float, np.ndarray]:
    """One model fitted on the training rows of every level and scored on each level's held-out rows, among
    that level's candidates. With several levels it is the shipped, budget-aware ZAP-HPO: trained on the
    stacked levels with the log budget as a feature, scored at each level's budget; with one level (v1) it
    is plain ZAP-HPO on that level's meta-features."""
    aware = len(levels) > 1
    x, y, groups = levels.stacked(train_rows)
    selector.fit(x if aware else x[:, :-1], levels.encodings(), y, groups)
    ids = levels.candidate_ids()
    scores = {}
    for budget, problem in levels:
        x_test = problem.meta_features[test_rows[budget]]
        columns = [ids.index(c) for c in problem.candidate_ids]
        if not len(x_test):  # the held-out core has no complete dataset at this level yet
            scores[budget] = np.zeros((0, len(columns)))
            continue
        scores[budget] = selector.scores(with_budget(x_test, budget) if aware else x_test)[:, columns]
    return scores


def stored_scores(cache: Path | None, key: dict, compute, budgets: list[float]) -> dict[float, np.ndarray]:
    """Per level, the scores [rows x candidates] of one (variant, group, seed) fit: read from `cache` when a
    fit with the same key is stored there, else computed and stored. A stored fit of the same name but other
    options, or from another artifact (`level`: `zap.metadataset.artifact.level_hash`), is an error: mixing
    them would report one variant's seeds, or one matrix's, under another's name. A one-level fit is stored
    as its scores alone, as before levels existed, so v1's stored fits still count."""
    path = None if cache is None else cache / f"{key['variant']}--{key['group']}--s{key['seed']}.json"
    if path is not None and path.exists():
        record = json.loads(path.read_text())
        if record["key"] != key:
            raise SystemExit(f"{path} holds a fit with other settings ({record['key']}); give this variant "
                             "another name or use another --out folder")
        stored = record["scores"]
        return ({float(b): np.array(v, dtype=float) for b, v in stored.items()} if isinstance(stored, dict)
                else {budgets[0]: np.array(stored, dtype=float)})
    start = time.process_time()
    scores = compute()
    if path is not None:
        rounded = {f"{b:g}": np.round(v, 6).tolist() for b, v in scores.items()}
        atomic_write_json(path, {"key": key, "scores": rounded if len(scores) > 1 else next(iter(rounded.values())),
                                 "cpu_s": time.process_time() - start}, indent=None)
    return scores


def seeds_of(options: dict, default: list[int]) -> tuple[dict, list[int]]:
    """A variant's ZapHPO options without its own `seeds=N` (nor the study's `probe`), and the seeds it runs."""
    options = {k: v for k, v in options.items() if k != "probe"}
    n = options.pop("seeds", None)
    return options, default if n is None else list(range(int(n)))


def with_probe_features(levels: Levels, probes: dict[str, dict]) -> Levels:
    """The same levels with the probe features appended to each dataset's trivial meta-features."""
    missing = sorted({d for _, p in levels for d in p.dataset_ids} - set(probes))
    if missing:
        raise SystemExit(f"--probe-features lacks {len(missing)} of this artifact's datasets (e.g. {missing[0]}); "
                         "compute them with benchmarks/probe_metafeatures.py on this artifact")
    return Levels({b: replace(p, meta_features=np.column_stack(
        [p.meta_features, [[probes[d][name] for name in PROBE_NAMES] for d in p.dataset_ids]])) for b, p in levels})


def variant_levels(levels: Levels, variants: dict[str, dict], probes: dict[str, dict] | None) -> dict[str, Levels]:
    """Per variant the levels it learns from: with the probe features where it asks for them."""
    asking = [name for name, options in variants.items() if options.get("probe")]
    if asking and probes is None:
        raise SystemExit(f"variant(s) {', '.join(asking)} ask for probe=1: give --probe-features FILE")
    probed = with_probe_features(levels, probes) if asking else levels
    return {name: probed if name in asking else levels for name in variants}


def pooled(scores: np.ndarray, k: int) -> np.ndarray:
    """[groups x rows x candidates] from [seeds x rows x candidates]: the mean of each k consecutive seeds."""
    n = len(scores) // k
    return scores[:n * k].reshape(n, k, *scores.shape[1:]).mean(axis=1)


@dataclass
class LevelScores:
    """One level's held-out rows (each dataset once), per reference method its performance, and per variant
    its scores [seeds x rows x candidates]."""

    rows: list[int] = field(default_factory=list)
    reference: dict[str, list] = field(default_factory=lambda: {"oracle": [], "single-best": []})
    scored: dict[str, list] = field(default_factory=dict)


def evaluate(levels: Levels, protocol: str, variants: dict[str, dict], seeds: list[int], epochs: int,
             cache: Path | None, max_groups: int | None = None, level: str = "",
             groups: list[str] | None = None, probes: dict[str, dict] | None = None,
             ) -> dict[float, tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Per level: held-out rows, per reference method its performance, per variant its scores."""
    out = {b: LevelScores(scored={v: [] for v in variants}) for b in levels.budgets}
    learns_from = variant_levels(levels, variants, probes)
    for group in held_out_groups(levels, protocol, groups)[:max_groups]:
        train_rows, test_rows = {}, {}
        for budget, problem in levels:
            test = held_out_mask(problem, protocol, group)
            train_rows[budget], test_rows[budget] = ~test & problem.measured_rows(), np.flatnonzero(
                test & problem.complete_rows())
            _reference(problem, problem.subset(train_rows[budget]), test_rows[budget], out[budget])
        for name, spec in variants.items():
            options, own_seeds = seeds_of(spec, seeds)
            per_seed = []
            for seed in own_seeds:
                # the key holds `probe` only where it is set, so fits stored before the option still count
                key = _fit_key(levels, name, options | ({"probe": 1} if spec.get("probe") else {}), group, seed,
                               epochs, protocol, test_rows, level)
                selector = ZapHPO(seed=seed, max_epochs=epochs, **options)
                per_seed.append(stored_scores(cache, key, partial(fit_and_score, learns_from[name], selector,
                                                                  train_rows, test_rows), levels.budgets))
            for budget, problem in levels:
                shape = (len(own_seeds), len(test_rows[budget]), len(problem.candidate_ids))
                out[budget].scored[name].append(np.stack([s[budget] for s in per_seed]).reshape(shape))
    return {b: (np.array(o.rows, dtype=int), {k: np.array(v) for k, v in o.reference.items()},
                {k: np.concatenate(v, axis=1) for k, v in o.scored.items()}) for b, o in out.items()}


def held_out_groups(levels: Levels, protocol: str, wanted: list[str] | None) -> list[str]:
    """The protocol's held-out groups, or those of them named in `wanted` (a name that is none is refused)."""
    groups = outer_folds(levels, protocol)
    if wanted is None:
        return groups
    unknown = sorted(set(wanted) - set(groups))
    if unknown:
        raise SystemExit(f"--groups: {', '.join(unknown)} not a held-out group of {protocol} here; "
                         f"there are {', '.join(groups)}")
    return [g for g in groups if g in wanted]


def _reference(problem: SelectionProblem, train: SelectionProblem, rows: np.ndarray, into: LevelScores) -> None:
    into.rows.extend(rows.tolist())
    into.reference["oracle"].extend(np.nanmax(problem.perf[rows], axis=1))
    best = SingleBest().fit(train.meta_features, train.encodings, train.perf, train.cores)
    into.reference["single-best"].extend(problem.perf[rows, best.select(problem.meta_features[rows])])


def _fit_key(levels: Levels, name: str, options: dict, group: str, seed: int, epochs: int, protocol: str,
             test_rows: dict[float, np.ndarray], level: str) -> dict:
    """What a stored fit must match. One level keeps the key it had before levels existed."""
    key = {"variant": name, "options": options, "group": group, "seed": seed, "epochs": epochs,
           "protocol": protocol, "objective": levels.lowest.objective}
    if len(levels) == 1:
        return key | {"rows": test_rows[levels.budgets[0]].tolist(), "level": level}
    return key | {"rows": {f"{b:g}": r.tolist() for b, r in test_rows.items()}, "level": level,
                  "budgets": levels.budgets}


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
    parser.add_argument("--groups", nargs="+", help="hold out only these cores (loco) or domains (lodo)")
    parser.add_argument("--probe-features", type=Path,
                        help="probe_metafeatures.py's cache: what a variant's probe=1 appends to the meta-features")
    args = parser.parse_args()
    variants = dict(parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS))
    probes = json.loads(args.probe_features.read_text())["features"] if args.probe_features else None
    payload = load(Path(args.artifact))
    levels, left_out = Levels.from_artifact(payload, args.objective).scorable()
    if not len(levels):
        raise SystemExit("no budget level of this artifact has a dataset measured on every candidate yet: "
                         "nothing can be held out and scored")
    if left_out:
        print(f"note: budget level(s) {', '.join(f'{b:g}' for b in left_out)} have no dataset measured on every "
              "candidate yet and are left out" + (" (so ZAP-HPO is fitted on one level, without the budget "
                                                  "feature)" if len(levels) == 1 else ""))
    # stored fits are keyed by what they learned from: with several levels, every level's cells
    results = evaluate(levels, args.protocol, variants, args.seeds, args.epochs, args.out, args.max_groups,
                       level_hash(payload, levels.budgets[0]) if len(levels) == 1 else content_hash(payload),
                       args.groups, probes)
    summaries = {}
    for budget, problem in levels:
        rows, scores, scored = results[budget]
        summaries[f"{budget:g}"] = summary = summarize(problem, rows, scores, scored, args.pool)
        print(f"{args.protocol}, {args.objective}, {budget:g} s: {len(rows)} complete datasets over "
              f"{len(set(problem.cores[rows]))} cores, seeds {args.seeds}; Single-best {summary['single_best']:.4f}, "
              f"Oracle {summary['oracle']:.4f}")
        print(table(summary))
    if args.json:
        settings = {"artifact": args.artifact, "protocol": args.protocol, "objective": args.objective,
                    "seeds": args.seeds, "epochs": args.epochs, "pool": args.pool, "variants_options": variants,
                    "groups": args.groups, "probe_features": None if probes is None else str(args.probe_features)}
        # one level (v1): the shape this study wrote before levels existed
        atomic_write_json(args.json, settings | (next(iter(summaries.values())) if len(summaries) == 1
                                                 else {"budget_aware": True, "levels": summaries}))


if __name__ == "__main__":
    main()
