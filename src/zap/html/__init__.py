"""Self-contained HTML reports: one file each, figures inlined, nothing fetched when it is opened.

`write_fit_report` for a `zap fit`, `write_tune_report` for a `zap tune`, `write_benchmark_report` for a
`zap benchmark` run's folder and `write_metadataset_report` for a meta-dataset artifact
(`zap metadataset report`)."""

from zap.html.benchmark import write_benchmark_report
from zap.html.fit import write_fit_report
from zap.html.metadataset import write_metadataset_report
from zap.html.tune import write_tune_report

__all__ = ["write_benchmark_report", "write_fit_report", "write_metadataset_report", "write_tune_report"]
