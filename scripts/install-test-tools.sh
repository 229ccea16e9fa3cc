#!/usr/bin/env bash
# Installs the tools the tests need beyond the virtualenv: Debian's `chromium`, which renders the HTML
# reports headless (tests/test_html_report.py screenshots them). Idempotent: nothing happens when
# `chromium` is already on PATH. Runs apt-get as root, or through sudo otherwise.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-test-tools: chromium is missing and installing it needs root; run this script as root" \
         "(or install the Debian package 'chromium' yourself)" >&2
    exit 1
  fi
  SUDO="sudo"
fi
if ! { $SUDO apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium; }; then
  echo "install-test-tools: could not install the Debian package 'chromium' with apt-get (see above);" \
       "the HTML report tests skip without it" >&2
  exit 1
fi
echo "chromium ready: $(command -v chromium)"
