#!/usr/bin/env bash
# zap as a user gets it: build the wheel, install it into a fresh venv (torch and torchvision the way
# `make install` takes them, from the local disk), then run `zap suggest` and a short `zap fit` from a
# folder outside the checkout with no ZAP_HOME, so every file they read must come from the wheel.
# Needs the project's .venv (make install) for the build; prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
WORK=$(mktemp -d /tmp/zap-wheel.XXXXXX)
start=$SECONDS
step() { echo "check-wheel: $1 ($((SECONDS - start)) s)"; }
trap 'rm -rf "$WORK"; step "removed $WORK"' EXIT
# Python compiles what the two commands import when they import it: byte-compiling all of torch at
# install time would cost minutes for nothing.
export PIP_NO_COMPILE=1

"$VENV/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" .
step "built $(basename "$WORK"/dist/zap-*.whl)"
make --no-print-directory install-torch VENV="$WORK/venv"
step "fresh venv with torch"
"$WORK/venv/bin/python" -m pip install --quiet "$WORK"/dist/zap-*.whl
step "installed the wheel"

cd "$WORK"
unset ZAP_HOME ZAP_SELECTORS
"$WORK/venv/bin/zap" suggest digits --k 3
"$WORK/venv/bin/zap" fit digits --budget 5 --out "$WORK/fit"
test -f "$WORK/fit/summary.json" && test -f "$WORK/fit/model/model.json"
grep -q '"pipeline_id"' "$WORK/fit/summary.json"
step "zap suggest and zap fit ran from $WORK"
