#!/usr/bin/env bash
# On a borrowed GPU machine (the device tool), after each bundle of scripts/gpu_bundles.py arrived:
#   bash scripts/gpu-cells.sh setup                 install the bundle's wheels, keep its cores' data
#   bash scripts/gpu-cells.sh fidelity [SECONDS]    re-run stored cells there (benchmarks/device_fidelity.py)
#   bash scripts/gpu-cells.sh build [SECONDS]       compute the missing cells of the cores that arrived
# Everything outside the tree (/tmp) stays while the machine is warm; ignored paths not carried again and
# shards written by an earlier call do not, so shards are kept in /tmp/shards and put back before a build.
# Env: BUDGET (default 20), WORKERS (15), CELLS/PROCS (fidelity: 28 / 14), OUT (set by the device tool).
set -uo pipefail
PY=${PY:-python3}
SITE=${SITE:-/tmp/site}
SHARDS=${SHARDS:-/tmp/shards}
RECORDS=metadataset/v2/records
export ZAP_DATA=${ZAP_DATA:-/tmp/zdata}
export PYTHONPATH=$SITE:$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" "$ZAP_DATA" "$SITE" "$SHARDS"
t0=$(date +%s)
for bundle in .dev/c*/; do
  [ -d "$bundle" ] || continue
  name=$(basename "$bundle")
  if [ -d "$bundle/wheels" ] && [ ! -e "$SITE/.installed-$name" ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$bundle"/wheels/*.whl && touch "$SITE/.installed-$name" || { echo "pip failed for $bundle"; exit 3; }
  fi
  [ -d "$bundle/data" ] && cp -n "$bundle"/data/* "$ZAP_DATA"/
done
cores=$(cd "$ZAP_DATA" && ls -- *.npz 2>/dev/null | sed 's/\.npz$//' | tr '\n' ' ')
echo "setup $(( $(date +%s) - t0 )) s; cores here: ${cores:-none}"
if [ -z "$cores" ] && [ "${1:-setup}" != setup ]; then echo "no core's data arrived: send a bundle first" >&2; exit 2; fi
case "${1:-setup}" in
  setup)
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
    $PY -c "import torch, timm, dask, distributed, ConfigSpace, skops, zap.cli
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'timm', timm.__version__)" ;;
  fidelity)
    # shellcheck disable=SC2086
    timeout -k 10 "${2:-150}" $PY benchmarks/device_fidelity.py --plan metadataset/v2 --budget "${BUDGET:-20}" \
      --device cuda --cells "${CELLS:-28}" --processes "${PROCS:-14}" --cores $cores \
      --json "$OUT/fidelity_cuda.json" 2>&1 | tail -12 ;;
  build)
    cp -n "$SHARDS"/*.jsonl "$RECORDS"/ 2>/dev/null
    touch /tmp/build-started
    # shellcheck disable=SC2086
    timeout -s INT -k 25 "${2:-400}" $PY -c 'import sys; from zap.cli import main; sys.exit(main())' \
      metadataset build --plan metadataset/v2 --budget "${BUDGET:-20}" --extra-seed-share 0.1 --device cuda \
      --workers "${WORKERS:-15}" --cores $cores --cache "$ZAP_DATA" --quiet 2>&1 | grep -v "^\s*$" | tail -4
    for shard in $(find "$RECORDS" -newer /tmp/build-started -name '*.jsonl'); do
      cp "$shard" "$SHARDS"/ && cp "$shard" "$OUT"/ && wc -l "$shard"
    done ;;
  *) echo "unknown stage $1" >&2; exit 2 ;;
esac
echo "stage ${1:-setup} done in $(( $(date +%s) - t0 )) s"
