"""Small synthetic selection problems with a known structure, for the tests of the selectors, the
benchmark and meta-training (no fine-tuning needed). Which pipeline wins depends smoothly on the meta-features (data
size and class count), as it does for real fine-tuning pipelines; groups are "cores" whose variants
share a base and differ by ICGen-like draws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Problem:
    meta_features: np.ndarray  # [n_datasets x 4]: channels, classes, n_train, resolution
    encodings: np.ndarray  # [n_pipelines x e]
    performance: np.ndarray  # [n_datasets x n_pipelines], in (0, 1), higher is better
    groups: np.ndarray  # [n_datasets] group name per dataset
    domains: np.ndarray  # [n_datasets] a coarser grouping of the groups


def make_problem(n_groups: int = 10, per_group: int = 4, n_pipelines: int = 12, noise: float = 0.02,
                 missing: float = 0.0, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    base_classes = rng.integers(5, 100, n_groups)
    base_train = 10 ** rng.uniform(2.0, 4.0, n_groups)
    base_channels = rng.choice([1, 3], n_groups)
    rows, groups, domains = [], [], []
    for g in range(n_groups):
        for _ in range(per_group):
            classes = int(rng.integers(2, base_classes[g] + 1))
            n_train = float(np.clip(base_train[g] * 10 ** rng.uniform(-1, 0.3), 20 * classes / 4, None))
            resolution = int(2 ** rng.integers(4, 8))
            rows.append([base_channels[g], classes, round(n_train), resolution])
            groups.append(f"core{g}")
            domains.append(f"domain{g % 3}")
    x = np.array(rows, dtype=float)
    # each pipeline: an intercept, and how it responds to data size and class count
    weights = rng.normal(0, 1, (n_pipelines, 3))
    encodings = np.column_stack([weights, (rng.random(n_pipelines) < 0.5).astype(float)])
    z_size = (np.log10(x[:, 2]) - 3.0)
    z_classes = (np.log10(x[:, 1]) - 1.0)
    logits = weights[:, 0][None, :] * 0.5 + np.outer(z_size, weights[:, 1]) + np.outer(z_classes, weights[:, 2])
    performance = 1 / (1 + np.exp(-logits)) + rng.normal(0, noise, logits.shape)
    if missing > 0:
        holes = rng.random(performance.shape) < missing
        holes[np.arange(len(x)), rng.integers(0, n_pipelines, len(x))] = False  # every row keeps a cell
        performance[holes] = np.nan
    return Problem(x, encodings, performance, np.array(groups), np.array(domains))


def synthetic_artifact(n_groups: int = 8, per_group: int = 3, n_pipelines: int = 10, seed: int = 0,
                       second_seed_share: float = 0.25) -> dict:
    """A meta-dataset artifact payload (the format `zap metadataset export` writes) over a synthetic
    problem, with real candidate configurations from the zap search space (the first two are the named
    `autodl-default` and `recommended`): for testing meta-training, suggestions and the benchmark end to
    end without fine-tuning anything. Its protocol hash says it is synthetic."""

    from zap.metadataset.artifact import ARTIFACT_SCHEMA, named_ids
    from zap.metadataset.build import in_sample
    from zap.pipelines import as_dict, encode, encoding_names, get_config, pipeline_id, search_space

    problem = make_problem(n_groups, per_group, n_pipelines, seed=seed)
    names = named_ids()  # pipeline id -> name
    space = search_space(seed)
    configs = [as_dict(get_config(n)) for n in names.values()] + [
        as_dict(c) for c in space.sample_configuration(max(1, n_pipelines - len(names)))]
    configs = configs[:n_pipelines]
    rng = np.random.default_rng(seed + 1)
    repeat = problem.performance + rng.normal(0, 0.02, problem.performance.shape)
    ids = [f"{g}--s0v{i}" for i, g in enumerate(problem.groups)]
    # the second seed on the cells a build would sample for the noise floor (the same hash rule)
    sampled = [[in_sample(d, pipeline_id(c), second_seed_share) for c in configs] for d in ids]
    repeat[~np.array(sampled, dtype=bool)] = np.nan

    def rows(matrix):
        return [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in matrix]

    datasets = [{"id": ids[i], "core": g, "domain": d,
                 "meta_features": dict(zip(("n_channels", "n_classes", "n_train", "resolution"),
                                           (int(v) for v in x), strict=True))}
                for i, (g, d, x) in enumerate(zip(problem.groups, problem.domains, problem.meta_features,
                                                  strict=True))]
    cores = list(dict.fromkeys(problem.groups.tolist()))
    return {
        "schema": ARTIFACT_SCHEMA, "protocol_hash": f"synthetic-{seed}",
        "protocol": {"budget": 20.0, "clock": "cpu", "threads": 1, "t0": 1.0, "synthetic": True},
        "datasets": datasets,
        "candidates": [{"id": pipeline_id(c), "config": c, "origin": "named" if pipeline_id(c) in names else "hpo",
                        "name": names.get(pipeline_id(c)),
                        "hpo_sources": [] if pipeline_id(c) in names else [f"{cores[j % len(cores)]}--s0v0"],
                        "encoding": encode(c).tolist()} for j, c in enumerate(configs)],
        "encoding_names": encoding_names(), "seeds": [0, 1],
        "matrices": {"0": {"alc": rows(problem.performance), "final_nauc": rows(problem.performance),
                           "provenance": {}},
                     "1": {"alc": rows(repeat), "final_nauc": rows(repeat), "provenance": {}}},
    }


def write_synthetic_artifact(path, **kwargs) -> dict:
    import gzip
    import json
    from pathlib import Path

    payload = synthetic_artifact(**kwargs)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle)
    return payload


def synthetic_levels_artifact(n_groups: int = 6, per_group: int = 3, n_pipelines: int = 8, seed: int = 0,
                              budgets: tuple[float, ...] = (20.0, 60.0)) -> dict:
    """A schema-2 (multi-level) artifact payload: the synthetic problem at each budget, where a longer
    budget favours the candidates whose last encoding column is 1 (a "slow but strong" pipeline), and
    each level above the lowest keeps only the first `n_pipelines - 2` candidates, so levels differ in
    both winners and candidate sets, as in v2."""
    from zap.metadataset.artifact import LEVELS_SCHEMA

    flat = synthetic_artifact(n_groups, per_group, n_pipelines, seed)
    slow = np.array([c["encoding"][-1] > 0.5 for c in flat["candidates"]], dtype=float)
    levels = {}
    for i, budget in enumerate(budgets):
        keep = list(range(n_pipelines)) if i == 0 else list(range(n_pipelines - 2))
        shift = 0.15 * i * (2 * slow - 1)  # at longer budgets the slow candidates gain, the fast lose
        matrices = {}
        for s, m in flat["matrices"].items():
            alc = np.array([[np.nan if v is None else v for v in row] for row in m["alc"]], dtype=float) + shift
            cells = [[None if np.isnan(v) else round(float(v), 6) for v in row[keep]] for row in alc]
            matrices[s] = {"alc": cells, "final_nauc": cells, "provenance": {}}
        levels[f"{budget:g}"] = {"protocol": flat["protocol"] | {"budget": budget},
                                 "protocol_hash": f"synthetic-{seed}-{budget:g}",
                                 "candidates": [flat["candidates"][j]["id"] for j in keep], "matrices": matrices}
    return {"schema": LEVELS_SCHEMA, "budgets": list(budgets), "protocol": flat["protocol"] | {"datasets": []},
            "protocol_hash": f"synthetic-levels-{seed}", "datasets": flat["datasets"],
            "candidates": [c | {"levels": [b for b in budgets if f"{b:g}" in levels and c["id"] in
                                           levels[f"{b:g}"]["candidates"]]} for c in flat["candidates"]],
            "encoding_names": flat["encoding_names"], "seeds": flat["seeds"], "levels": levels}
