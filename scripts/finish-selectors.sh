#!/usr/bin/env bash
# Issue 6's measurements on the complete v1 meta-dataset, in order; every step resumes where it stopped
# (the benchmark per fold, the zero-shot study per run), so run it again after any interruption. Its
# outputs are committed: docs/data/benchmark_v1/ (folds, report.md, CD plots), docs/data/loco.json,
# artifacts/selectors/, docs/data/selection_latency.txt, docs/data/zero_shot_fit.json,
# docs/data/metafeature_knn.md.
# Run it on an otherwise idle machine: the last step fine-tunes at wall-clock budgets.
# Usage: bash scripts/finish-selectors.sh [STEP ...]
#   steps: knn benchmark meta-train latency zero-shot variants quick-model (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ZAP=.venv/bin/zap
ARTIFACT=artifacts/metadataset/v1.json.gz
BENCH=docs/data/benchmark_v1
# twelve held-out cores covering all eight domains, the last variant of each (not the one its HPO ran on);
# the first six were measured first, the other six added to settle `zap fit`'s default
ZERO_SHOT_CORES=(digits-opencv chars-greek emoji-group icons-adwaita photo-patches shapes
                 textures font-id-urw script-id digits-sklearn chars-latin emoji-subgroup)
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(knn benchmark meta-train latency zero-shot variants quick-model)

if ! $ZAP metadataset info "$ARTIFACT" --json | grep -q '"complete": true'; then
  echo "$ARTIFACT is missing or incomplete: finish it first with scripts/finish-metadataset.sh" >&2
  exit 1
fi
mkdir -p docs/data
for step in "${steps[@]}"; do
  case $step in
    benchmark) $ZAP benchmark "$ARTIFACT" --out "$BENCH" --json docs/data/loco.json ;;
    meta-train)  # into the home's selectors: only while the home ships v1, or they would be refused as stale
      shipped=$($PY -c 'from zap.resources import SHIPPED_METADATASET; print(SHIPPED_METADATASET)')
      [ "$shipped" = v1 ] || { echo "the home ships $shipped: train v1's selectors into a folder of their own" \
        "(zap meta-train $ARTIFACT --out DIR)" >&2; exit 1; }
      $ZAP meta-train "$ARTIFACT" ;;
    latency) $PY benchmarks/selection_latency.py --repeats 200 | tee docs/data/selection_latency.txt ;;
    knn) $PY benchmarks/metafeature_knn.py "$ARTIFACT" | tee docs/data/metafeature_knn.md ;;
    zero-shot) $PY benchmarks/zero_shot_fit.py --artifact "$ARTIFACT" --cores "${ZERO_SHOT_CORES[@]}" \
                 --budget 60 --seeds 0 1 2 --benchmark-out "$BENCH" --json docs/data/zero_shot_fit.json ;;
    variants) $PY benchmarks/zap_hpo_variants.py "$ARTIFACT" --seeds 0 1 --variant paper \
                --variant regret:select_by=regret --variant regression:loss=regression \
                | tee docs/data/zap_hpo_variants_v1.md ;;
    quick-model) $PY benchmarks/quick_model_failures.py "$ARTIFACT" --json docs/data/quick_model_failures.json \
                   | tee docs/data/quick_model_failures.txt ;;
    *) echo "unknown step $step (knn, benchmark, meta-train, latency, zero-shot, variants, quick-model)" >&2
       exit 2 ;;
  esac
done
