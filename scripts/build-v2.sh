#!/usr/bin/env bash
# Build meta-dataset v2 (docs/metadataset.md, "v2"): every step is idempotent, so run it again after any
# interruption; with --commit it commits metadataset/v2 every COMMIT_MINUTES (default 20) and at the end.
#   1. the plan: 3 variants of every core (v1's first 3 where v1 has the core), levels 20/60/120 ref-s,
#      less the cores that fail the calibration rule (scripts/v2_candidates.py, DROPPED);
#   2. SMAC at 20 ref-s on the first variant of every core v1 lacked, then the level-20 candidates;
#   3. level 20: every cell, then a second seed on a 10 % sample and on each dataset's 2 best cells by ALC
#      and its 2 best by final NAUC (so that both objectives' Oracles can be re-run);
#   4. SMAC at 60 ref-s on 7 cores, the best of level 20, level 60 the same way;
#   5. ship: export artifacts/metadataset/v2.json.gz once 20 and 60 are complete (v2 ships), only when
#      it does not exist yet, so that restarting the build never rewrites the shipped artifact with a
#      partial level 120; then level 120 likewise, and a final export with all three levels.
# Usage: bash scripts/build-v2.sh [--commit] [STEP]   STEP: plan | hpo20 | level20 | hpo60 | level60 |
#        ship | export | hpo120 | level120 | all (default)   WORKERS=N (default: one per core)
#        CORES="a b …": the level steps compute only these cores' cells (for example the cores whose data is
#        too large to send to a GPU machine, which computes the others: docs/metadataset.md, "GPU cells")
#        HPO_CORES="…" / HPO120_CORES="…": the cores the hpo60 / hpo120 steps tune on
set -euo pipefail
cd "$(dirname "$0")/.."
ZAP=.venv/bin/zap
PY=.venv/bin/python
PLAN=metadataset/v2
ARTIFACT=artifacts/metadataset/v2.json.gz
workers=${WORKERS:-$(nproc)}
TOP=2
commit=0
if [ "${1:-}" = "--commit" ]; then commit=1; shift; fi
step=${1:-all}

commit_progress() {  # only the plan folder; retried while another git command holds the index
  [ "$commit" = 1 ] || return 0
  git add -A "$PLAN" 2>/dev/null || true
  git diff --cached --quiet -- "$PLAN" && return 0  # nothing new
  cells=$($ZAP metadataset status --plan "$PLAN" --json | $PY -c 'import json, sys
s = json.load(sys.stdin)
print(str(s["done"]) + "/" + str(s["total"]) + " cells")')
  for _ in 1 2 3 4 5; do
    git commit -q -m "meta-dataset v2: build progress ($cells)" -- "$PLAN" && return 0
    sleep 7
  done
  echo "note: could not commit progress now; it stays on disk and is committed next time" >&2
}

minutes=${COMMIT_MINUTES:-20}
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
  echo "COMMIT_MINUTES must be a whole number of minutes >= 1, got '$minutes'" >&2; exit 2
fi
if [ "$commit" = 1 ]; then
  ( while true; do sleep "$(( minutes * 60 ))" & wait $!; commit_progress || true; done ) &
  loop=$!
  trap 'kill "$loop" 2>/dev/null || true; commit_progress || true' EXIT
fi

new_cores() {  # the cores of the v2 plan that v1 lacks
  $PY -c 'import json
v1 = {d["core"] for d in json.load(open("metadataset/v1/datasets.json"))}
print(" ".join(sorted({d["core"] for d in json.load(open("metadataset/v2/datasets.json"))} - v1)))'
}

run_step() {
  case "$1" in
    plan)
      [ -f "$PLAN/plan.json" ] || $ZAP metadataset plan "$PLAN" --budgets 20 60 120 --clock ref --variants 3 \
        --reuse metadataset/v1
      $PY scripts/v2_candidates.py drop --plan "$PLAN" ;;
    hpo20)
      cores=$(new_cores)
      # shellcheck disable=SC2086
      $ZAP metadataset hpo --plan "$PLAN" --budget 20 --cores $cores --trials 40 \
        --min-candidates "$(wc -w <<< "$cores")" --workers "$workers" ;;
    level20|level60|level120)
      budget=${1#level}
      [ "$budget" = 20 ] && $PY scripts/v2_candidates.py level20 --plan "$PLAN"
      [ "$budget" != 20 ] && $PY scripts/v2_candidates.py "$1" --plan "$PLAN"
      # shellcheck disable=SC2086
      $ZAP metadataset build --plan "$PLAN" --budget "$budget" --workers "$workers" --extra-seed-share 0.1 \
        ${CORES:+--cores $CORES}
      # shellcheck disable=SC2086
      $ZAP metadataset build --plan "$PLAN" --budget "$budget" --workers "$workers" --extra-seed-share 0.1 \
        --extra-seed-top "$TOP" --extra-seed-by alc final ${CORES:+--cores $CORES} ;;
    hpo60)
      # shellcheck disable=SC2086
      $ZAP metadataset hpo --plan "$PLAN" --budget 60 --cores ${HPO_CORES:-digits-opencv chars-greek \
        emoji-group photo-patches textures clipart-category stamps-category} --trials 24 --min-candidates 6 --workers "$workers" ;;
    hpo120)  # 2 cores where the pretrained network should matter most: level 120 is 6 candidates (the
             # issue's minimum), each about 6 core-hours over the 96 datasets (docs/metadataset.md, "Level 120")
      # shellcheck disable=SC2086
      $ZAP metadataset hpo --plan "$PLAN" --budget 120 --cores ${HPO120_CORES:-photo-patches clipart-category} \
        --trials 24 --min-candidates 2 --workers "$workers" ;;
    export)
      $ZAP metadataset export --plan "$PLAN" --seeds 0 1 --out "$ARTIFACT"
      $ZAP metadataset info "$ARTIFACT" --json > docs/data/metadataset_v2_info.json ;;
    ship)
      if [ -f "$ARTIFACT" ]; then echo "ship: $ARTIFACT exists; left as it is (run the export step to rewrite it)"
      else run_step export; fi ;;
    *) echo "unknown step $1" >&2; exit 2 ;;
  esac
  commit_progress
}

if [ "$step" = all ]; then
  for s in plan hpo20 level20 hpo60 level60 ship hpo120 level120 export; do run_step "$s"; done
else
  run_step "$step"
fi
