#!/usr/bin/env bash
# The measurements of issues 18-20 on meta-dataset v2, in the order they depend on each other; every step
# resumes where it stopped (the benchmark per fold, the replay per core, the studies per run), so run it
# again after any interruption. Outputs are committed by hand once a step ends (they are docs/data files).
#   diversity    per-level Oracle, Single-best, re-run Oracle, noise floor, CNN share  (minutes)
#   level20      a reduced LOCO at level 20 alone, both objectives: the first v2 selector figures, while
#                level 60 builds (LOCO_CORES: 8 held-out cores from 8 domains, 1 repetition; about 1 core-hour)
#   level60      the same reduced LOCO at level 60 alone, while level 120 builds (about 1 core-hour)
#   benchmark    LOCO and LODO per level and objective, 3 repetitions -> docs/data/benchmark_v2.json
#                (v1, one level and one objective, took 4.6 core-hours; ZAP-AS's tuning is 86 % of a v2
#                level-20 fold, so it is tuned 8 times per protocol, level and objective, not once per fold)
#   variants     ZAP-HPO's loss and seed pooling by LOCO on v2 (issue 19 item 3; about 2 core-hours/level)
#   replay       refine, zero-shot and a raced portfolio by replay, per level (about 1 core-hour a level)
#   meta-train   the shipped selectors and refine's curve predictor, retrained on v2 (about 1 core-hour)
#   user-prep    the user-regime study's held-out selectors and data (compute only: fine beside the build;
#                6 cores x 2 objectives x zap-hpo and single-best, ZAP-HPO about 3 CPU-min a core by meta-train's times)
#   user-regime  real `zap fit` runs at 30/120 wall-s (6 held-out cores x 2 seeds) and 600 wall-s (3 x 1):
#                about 5 hours of the WHOLE machine; run it with nothing else running (wall-clock budgets)
# Usage: bash scripts/finish-v2.sh STEP [STEP ...]     ARTIFACT=... to use another export
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ZAP=.venv/bin/zap
ARTIFACT=${ARTIFACT:-artifacts/metadataset/v2.json.gz}
BENCH=docs/data/benchmark_v2
# held-out cores of the user-regime study: one or two per domain, the last variant of each
USER_CORES=(digits-opencv chars-greek emoji-group photo-patches clipart-food stamps-animals)
LONG_CORES=(chars-greek photo-patches clipart-food)
# the reduced level-20 LOCO's held-out cores: one from each of 8 domains (the first 8 by name are all characters)
LOCO_CORES=${LOCO_CORES:-chars-greek clipart-food digits-opencv emoji-group icons-oxygen photo-patches stamps-animals textures}
[ $# -gt 0 ] || { sed -n '2,19p' "$0"; exit 2; }

levels() {  # the artifact's complete budget levels, e.g. "20 60"
  $ZAP metadataset info "$ARTIFACT" --json | $PY -c 'import json, sys
info = json.load(sys.stdin)
print(" ".join(b for b, level in info["levels"].items() if level["complete"]))'
}

[ -f "$ARTIFACT" ] || { echo "no $ARTIFACT: export it first (bash scripts/build-v2.sh export)" >&2; exit 1; }
mkdir -p docs/data
for step in "$@"; do
  case $step in
    diversity)
      $ZAP metadataset diversity "$ARTIFACT" --out docs/img/v2 --json > docs/data/metadataset_v2_diversity.json ;;
    level20|level60)
      level=${step#level}
      # shellcheck disable=SC2086
      $ZAP benchmark "$ARTIFACT" --levels "$level" --objective alc final --protocol loco --repetitions 1 \
        --no-ablations --folds $LOCO_CORES --rerun-picks 0 --out "$BENCH-$step" \
        --json "docs/data/benchmark_v2_$step.json" ;;
    benchmark)
      $ZAP benchmark "$ARTIFACT" --objective alc final --protocol loco lodo --as-tunings 8 --out "$BENCH" \
        --json docs/data/benchmark_v2.json ;;
    variants)
      for objective in alc final; do
        $PY benchmarks/zap_hpo_variants.py "$ARTIFACT" --objective "$objective" --seeds 0 1 2 --pool 3 \
          --variant paper --variant regression:loss=regression --variant listwise:loss=listwise \
          --out "docs/data/zap_hpo_variants_v2-$objective" --json "docs/data/zap_hpo_variants_v2-$objective.json"
      done ;;
    replay)
      for budget in $(levels); do
        $PY benchmarks/refine_replay.py "$ARTIFACT" --budget "$budget" --objectives alc final \
          --out "docs/data/refine_replay_v2-$budget" --json "docs/data/refine_replay_v2-$budget.json"
      done
      # issue 20's plot: budget against ALC and final NAUC for every strategy, one point per replayed level
      $PY benchmarks/strategy_plot.py --replay docs/data/refine_replay_v2-*.json --out docs/img/strategies_v2.png ;;
    meta-train)
      $ZAP meta-train "$ARTIFACT" --objective alc final --refine ;;
    user-prep)
      $PY benchmarks/user_regime.py --artifact "$ARTIFACT" --work runs/user_regime_v2 --cores "${USER_CORES[@]}" \
        --json docs/data/user_regime_v2.json --prepare ;;
    user-regime)
      $PY benchmarks/user_regime.py --artifact "$ARTIFACT" --work runs/user_regime_v2 --cores "${USER_CORES[@]}" \
        --budgets 30 120 --seeds 0 1 --json docs/data/user_regime_v2.json
      $PY benchmarks/user_regime.py --artifact "$ARTIFACT" --work runs/user_regime_v2 --cores "${LONG_CORES[@]}" \
        --budgets 600 --seeds 0 --json docs/data/user_regime_v2_long.json ;;
    *) echo "unknown step $step (diversity level20 benchmark variants replay meta-train user-prep user-regime)" >&2
       exit 2 ;;
  esac
done
