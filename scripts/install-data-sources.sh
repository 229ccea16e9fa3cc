#!/usr/bin/env bash
# Installs the Debian packages the core datasets are rendered or cut from (zap.data.core.sources).
# Fonts, emoji, icons, clip art and stamps install normally; from opencv-doc (96 MB) only examples/data
# is unpacked, into $ZAP_SOURCES (default ~/.cache/zap/sources), since images may strip /usr/share/doc.
# The cut-out cores of meta-dataset v2 add about 350 MB of downloads: openclipart-png (131 MB),
# tuxpaint-stamps-default (161 MB), oxygen-icon-theme (32 MB), mate-icon-theme (14 MB),
# elementary-xfce-icon-theme (6 MB), tango-icon-theme (1 MB). All ship PNGs: no SVG renderer is needed.
set -euo pipefail
SOURCES="${ZAP_SOURCES:-$HOME/.cache/zap/sources}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PACKAGES="fonts-noto-core fonts-urw-base35 fonts-noto-color-emoji fonts-dejavu-core unicode-data adwaita-icon-theme
  openclipart-png tuxpaint-stamps-default oxygen-icon-theme tango-icon-theme mate-icon-theme elementary-xfce-icon-theme"
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
