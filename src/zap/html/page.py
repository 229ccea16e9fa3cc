"""The page skeleton every zap HTML report shares: one self-contained file, its CSS inline and its figures
inlined as base64 PNG data URIs, so a report can be mailed, archived or opened offline and never fetches
anything. Every string that reaches the page goes through `esc` (class names and paths are the user's)."""

from __future__ import annotations

import base64
import html
import io
import math
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zap.errors import ConfigError
from zap.utils import atomic_path, plain_text_plots

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2733;
       background: #f4f6f8; }
header { background: #1f3b57; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 24px; }
header p { margin: 4px 0 0; color: #c9d6e3; font-size: 14px; }
main { padding: 16px 32px 40px; max-width: 1200px; }
section { background: #fff; border-radius: 8px; padding: 12px 20px 16px; margin: 16px 0;
          box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12); }
h2 { font-size: 18px; margin: 4px 0 10px; color: #1f3b57; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { background: #fff; border-left: 5px solid #3b7dd8; border-radius: 6px; padding: 10px 16px;
        min-width: 120px; box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12); }
.card .label { font-size: 12px; text-transform: uppercase; color: #5b6b7b; letter-spacing: 0.04em; }
.card .value { font-size: 26px; font-weight: 600; }
.card.bad { border-left-color: #c0392b; }
.card.good { border-left-color: #2e8b57; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border-bottom: 1px solid #dde3e9; padding: 4px 10px; text-align: left; }
th { background: #eef2f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.hl td { background: #fff6d6; font-weight: 600; }
img.figure { max-width: 100%; border: 1px solid #dde3e9; border-radius: 4px; }
.note { background: #fff6d6; border-left: 4px solid #e0a800; padding: 6px 12px; margin: 6px 0; font-size: 13px; }
.muted { color: #5b6b7b; font-size: 13px; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.grid figure { margin: 0; text-align: center; font-size: 12px; width: 96px; }
.grid img { width: 80px; height: 80px; object-fit: contain; image-rendering: pixelated;
            border: 1px solid #dde3e9; }
.bar { background: #dde3e9; border-radius: 3px; height: 10px; width: 200px; display: inline-block; }
.bar span { background: #3b7dd8; border-radius: 3px; height: 10px; display: block; }
code { background: #eef2f6; padding: 1px 4px; border-radius: 3px; }
"""


# Bidirectional overrides and isolates: in a name they make the page show other text than the file has
# ("gnp.exe" reversed), so they are shown as their code points instead
BIDI_CONTROLS = {code: f"<U+{code:04X}>" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def esc(value: Any) -> str:
    """Any value as text safe inside an element or an attribute, shown as it is spelled."""
    return html.escape(str(value).translate(BIDI_CONTROLS), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers as a person reads them in a table; missing values as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.{digits}f}"
    return esc(value)


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_uri(draw: Callable[[Path], Any]) -> str:
    """A PNG drawn by `draw(path)` (the project's plot functions write to a path) as a data URI."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "figure.png"
        draw(path)
        return png_uri(path.read_bytes())


@plain_text_plots
def pyplot_uri(fig) -> str:
    """A matplotlib figure as a data URI; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return png_uri(buffer.getvalue())


def image(uri: str, alt: str) -> str:
    return f'<img class="figure" src="{uri}" alt="{esc(alt)}">'


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], highlight: Callable[[int], bool] | None = None) -> str:
    """An HTML table; numbers right-aligned and formatted by `fmt`, every other cell escaped. A cell that is
    already HTML comes wrapped in `Raw`. Empty headers: a table of names and values, without a head row."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = []
    for i, row in enumerate(rows):
        cells = "".join(_cell(v) for v in row)
        cls = ' class="hl"' if highlight and highlight(i) else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


class Raw(str):
    """HTML this module built itself: put in a table cell as it is."""


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return f"<td>{value}</td>"
    number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    numeric = number or value is None  # a missing number: a dash in the number's place
    return f'<td class="num">{fmt(value)}</td>' if numeric else f"<td>{fmt(value)}</td>"


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """The key numbers, large: (label, already formatted value, kind '' | 'good' | 'bad')."""
    parts = [f'<div class="card {kind}"><div class="label">{esc(label)}</div>'
             f'<div class="value">{esc(value)}</div></div>' for label, value, kind in items]
    return f'<div class="cards">{"".join(parts)}</div>'


def notes(lines: Iterable[str]) -> str:
    return "".join(f'<div class="note">{esc(line)}</div>' for line in lines)


def section(title: str, body: str, anchor: str = "") -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
            f"<main>{''.join(sections)}</main></body></html>\n")


def check_out(out: Path) -> Path:
    """The folder a report goes to, checked before any work: it may not exist yet, but cannot be a file or lie
    where zap cannot write."""
    from zap.report import check_writable

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; give a folder for report.html (it is created if missing)")
    check_writable(out, f"--out {out}")
    return out


def write_page(out: Path, text: str, name: str = "report.html") -> Path:
    """`out/name`, written whole or not at all."""
    path = Path(out) / name
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


INSTALL_HINT = "install it with `bash scripts/install-test-tools.sh` (Debian's chromium package)"
# headless, offline and stateless: nothing but the file is loaded, and no profile outlives a run
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                  "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--mute-audio")


def render(report: Path, png: Path, width: int = 1280, height: int = 2400, timeout: float = 180) -> str:
    """Open a report in headless Chromium: save the top `height` pixels as `png` and return the DOM it
    rendered. A `ConfigError` naming the installer when Chromium is missing."""
    import shutil
    import subprocess

    binary = shutil.which("chromium")
    if binary is None:
        raise ConfigError(f"chromium is not on PATH; {INSTALL_HINT}")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                               f"--window-size={width},{height}", "--dump-dom", Path(report).resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium failed on {report} ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout
