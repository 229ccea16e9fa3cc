#!/usr/bin/env bash
# Installs the Debian packages the core datasets are rendered or cut from (zap.data.core.sources).
# Fonts, emoji and icons install normally; from opencv-doc (96 MB) only examples/data is unpacked,
# into $ZAP_SOURCES (default ~/.cache/zap/sources), since images may strip /usr/share/doc.
set -euo pipefail
SOURCES="${ZAP_SOURCES:-$HOME/.cache/zap/sources}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PACKAGES="fonts-noto-core fonts-urw-base35 fonts-noto-color-emoji fonts-dejavu-core unicode-data adwaita-icon-theme"
missing=$(for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
if [ ! -f "$SOURCES/opencv-doc/digits.png" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download opencv-doc; })
  dpkg -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  mkdir -p "$SOURCES/opencv-doc"
  cp "$tmp"/x/usr/share/doc/opencv-doc/examples/data/digits.png "$tmp"/x/usr/share/doc/opencv-doc/examples/data/*.jpg \
     "$SOURCES/opencv-doc/"
  rm -rf "$tmp"
fi
echo "data sources ready (opencv-doc files in $SOURCES/opencv-doc)"
