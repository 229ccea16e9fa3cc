"""Would meta-features that look at the images say more than the four trivial ones? A measured lead.

On v2 the four trivial meta-features close about none of the Oracle-Single-best gap by similarity
(`metafeature_knn.py`). This script computes, per meta-dataset dataset and from its training split only
(what a user has before any fine-tuning), a few "probe" features that see the pixels:

- `probe_feature_acc`: leave-one-out 1-nearest-neighbour accuracy (cosine) on a frozen pretrained
  backbone's pooled features, chance-corrected: (acc - 1/C) / (1 - 1/C). How far ImageNet features
  separate the classes before any training.
- `probe_pixel_acc`: the same on the raw pixels (grey, 16 px): how far the task is solvable without them.
- `probe_gain`: the difference of the two: where pretrained features should matter.

It then repeats `metafeature_knn.py`'s leave-one-core-out kNN selection with the trivial features, the
probe features, and both, at each budget level, beside 20 permutations of each set (the "no information"
line) and a per-core paired bootstrap interval of both-minus-trivial.

The features are cached in a JSON file (`--features`), keyed by dataset, so the selection part reruns
in seconds. Computing them embeds at most `--max-images` training images per dataset with the real
offline weights (`zap.pipelines.zoo.create_model`): about a minute for v2's 96 datasets on one thread.

    python benchmarks/probe_metafeatures.py artifacts/metadataset/v2.json.gz \
        --features docs/data/probe_features_v2.json --budgets 20 60
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from metafeature_knn import loco_scores, per_core
from zap.benchmark.stats import bootstrap_ci, gap_closed, markdown_table
from zap.metadataset.problem import SelectionProblem

PROBE_NAMES = ("probe_feature_acc", "probe_pixel_acc", "probe_gain")
PIXEL_SIDE = 16


def _chance_corrected(accuracy: float, n_classes: int) -> float:
    chance = 1.0 / n_classes
    return (accuracy - chance) / (1.0 - chance)


def loo_1nn_accuracy(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy under cosine similarity."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return float((labels[similarity.argmax(axis=1)] == labels).mean())


def _sample(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    index = np.arange(len(labels))
    return index if len(index) <= limit else np.sort(rng.choice(index, size=limit, replace=False))


def embed(model, images: np.ndarray, side: int, mean, std, batch: int = 64) -> np.ndarray:
    """Pooled features of uint8 (N, H, W, C) images at `side` px, 3 channels, the backbone's normalization."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start:start + batch]).float().div_(255).permute(0, 3, 1, 2)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
            x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
            out.append(model.forward_head(model.forward_features(x), pre_logits=True)
                       if hasattr(model, "forward_head") else model.features(x).mean(dim=(2, 3)))
    return torch.cat(out).numpy()


def probe_features(images: np.ndarray, labels: np.ndarray, n_classes: int, model, side: int, mean, std) -> dict:
    from zap.data.images import resize_square, to_channels

    pixels = np.stack([resize_square(to_channels(im, 1), PIXEL_SIDE) for im in images]).reshape(len(images), -1)
    pixels = pixels.astype(np.float64) - pixels.mean(axis=1, keepdims=True)
    feature_acc = _chance_corrected(loo_1nn_accuracy(embed(model, images, side, mean, std), labels), n_classes)
    pixel_acc = _chance_corrected(loo_1nn_accuracy(pixels, labels), n_classes)
    return {"probe_feature_acc": feature_acc, "probe_pixel_acc": pixel_acc, "probe_gain": feature_acc - pixel_acc}


def compute_all(specs_path: Path, wanted: set[str], cached: dict, backbone: str, side: int, max_images: int,
                out: Path) -> dict:
    """Fill `cached` with every wanted dataset's probe features, saving after each core."""
    import torch

    from zap.data.augment import load_specs, materialize
    from zap.data.core.store import load_core
    from zap.pipelines.zoo import create_model, normalization

    torch.set_num_threads(1)
    model = create_model(backbone).eval()
    mean, std = normalization(backbone)
    specs = load_specs(specs_path)
    unknown = wanted - {s.name for s in specs}
    if unknown:
        raise SystemExit(f"{len(unknown)} of the artifact's datasets (e.g. {sorted(unknown)[0]}) are not in "
                         f"{specs_path}; pass the artifact's own plan's datasets.json with --specs")
    specs = [s for s in specs if s.name in wanted and s.name not in cached]
    for core_name in sorted({s.core for s in specs}):
        core, started = load_core(core_name), time.perf_counter()
        for spec in (s for s in specs if s.core == core_name):
            train = materialize(core, spec).train
            rng = np.random.default_rng(0)
            chosen = _sample(train.labels, max_images, rng)
            images = np.stack([train.load(int(i)) for i in chosen])
            cached[spec.name] = probe_features(images, train.labels[chosen], len(spec.classes), model, side,
                                               mean, std) | {"images": len(chosen)}
        print(f"{core_name}: {time.perf_counter() - started:.1f} s", flush=True)
        out.write_text(json.dumps({"backbone": backbone, "side": side, "max_images": max_images,
                                   "features": cached}, indent=1, sort_keys=True))
    return cached


def feature_sets(problem: SelectionProblem, probes: dict) -> dict[str, np.ndarray]:
    trivial = np.log1p(problem.meta_features)
    probe = np.array([[probes[d][n] for n in PROBE_NAMES] for d in problem.dataset_ids])
    return {"trivial (4)": trivial, "probe (3)": probe, "trivial + probe (7)": np.hstack([trivial, probe])}


def level_rows(problem: SelectionProblem, probes: dict, ks: list[int], shuffles: int) -> list[list]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no cell: not scored anyway
        oracle = per_core(np.nanmax(problem.perf, axis=1), problem)
    sets, rng, rows = feature_sets(problem, probes), np.random.default_rng(0), []
    single = per_core(loco_scores(problem, sets["trivial (4)"], None), problem)
    for k in ks:
        scores = {name: per_core(loco_scores(problem, x, k), problem) for name, x in sets.items()}
        for name, x in sets.items():
            score = scores[name]
            null = [per_core(loco_scores(problem, x[rng.permutation(len(x))], k), problem).mean()
                    for _ in range(shuffles)]
            diff = score - scores["trivial (4)"]
            rows.append([name, k, score.mean(), gap_closed(single.mean(), oracle.mean(), score.mean()),
                         float((score > single + 1e-12).mean()),
                         gap_closed(single.mean(), oracle.mean(), float(np.mean(null))) if null else None,
                         "" if name.startswith("trivial (") else
                         "{:+.3f} [{:+.3f}, {:+.3f}]".format(diff.mean(), *bootstrap_ci(diff))])
    print(f"level {problem.budget:g}, objective {problem.objective}: {problem.complete_rows().sum()} scored "
          f"datasets, {len(oracle)} cores; Oracle {oracle.mean():.3f}, Single-best {single.mean():.3f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact")
    parser.add_argument("--features", type=Path, required=True, help="JSON cache of the probe features")
    parser.add_argument("--specs", type=Path, default=Path("metadataset/v2/datasets.json"))
    parser.add_argument("--budgets", type=float, nargs="+", default=[20.0])
    parser.add_argument("--objectives", nargs="+", default=["alc", "final"])
    parser.add_argument("--k", type=int, nargs="+", default=[5, 12])
    parser.add_argument("--shuffle", type=int, default=20)
    parser.add_argument("--backbone", default="mobilenetv2")
    parser.add_argument("--side", type=int, default=64, help="input side the backbone sees")
    parser.add_argument("--max-images", type=int, default=300)
    args = parser.parse_args()
    problems = {b: SelectionProblem.load(args.artifact, b) for b in args.budgets}
    wanted = set().union(*(p.dataset_ids for p in problems.values()))
    cached = json.loads(args.features.read_text())["features"] if args.features.exists() else {}
    started = time.perf_counter()
    cached = compute_all(args.specs, wanted, cached, args.backbone, args.side, args.max_images, args.features)
    print(f"probe features for {len(wanted)} datasets ready in {time.perf_counter() - started:.0f} s")
    for problem in problems.values():
        for objective in args.objectives:
            rows = level_rows(problem.for_objective(objective), cached, args.k, args.shuffle)
            print(markdown_table(["features", "k", "score", "gap closed", "beats SB", f"shuffled x{args.shuffle}",
                                  "minus trivial, per core [95 % CI]"], rows))


if __name__ == "__main__":
    main()
