"""Screenshots of the three HTML reports for the docs, as headless Chromium renders them: a zero-shot fit of the
bundled digits, the shipped v1 benchmark (docs/data/benchmark_v1) and the shipped v1 meta-dataset. The
reports themselves are written to a temporary folder; only the PNGs stay.

    python scripts/report_screenshots.py [--only fit benchmark metadataset] [--budget 20] [--out docs/img]

Needs chromium (`bash scripts/install-test-tools.sh`).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from pathlib import Path

from zap.html import write_benchmark_report, write_fit_report, write_metadataset_report
from zap.html.page import render

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("fit", "benchmark", "metadataset")


def fit_report(work: Path, budget: float) -> Path:
    from zap import ZAP

    model = ZAP(budget=budget, clock="cpu", threads=1).fit("digits")
    return write_fit_report(work / "fit", model, model.summary() | {"data": "digits"})


def benchmark_report(work: Path) -> Path:
    """From a copy of the shipped folder, named as the report names it: `benchmark_v1`, not a temporary path."""
    shutil.copytree(ROOT / "docs" / "data" / "benchmark_v1", work / "benchmark_v1")
    with contextlib.chdir(work):
        return write_benchmark_report(Path("benchmark_v1")).resolve()


def metadataset_report(work: Path) -> Path:
    with contextlib.chdir(ROOT):
        return write_metadataset_report(Path("artifacts/metadataset/v1.json.gz"), work / "metadataset")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--budget", type=float, default=20.0, help="CPU seconds of the digits fit")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        makers = {"fit": lambda: fit_report(work, args.budget), "benchmark": lambda: benchmark_report(work),
                  "metadataset": lambda: metadataset_report(work)}
        for kind in args.only:
            png = Path(args.out) / f"report_{kind}.png"
            render(makers[kind](), png)
            print(f"wrote {png}")


if __name__ == "__main__":
    main()
