"""Where zap finds the files it ships, and what the files it saves record about the software that wrote them.

Two kinds of shipped files:
- package data (the named pipelines, the core datasets' catalogue, two sample photos) sits inside the
  package and is read through `importlib.resources`, so a wheel finds it as a checkout does;
- the project's artifacts sit in a *zap home*, a folder laid out like the repository:
  `artifacts/selectors/*.zsel` (the trained selectors), `artifacts/metadataset/<SHIPPED_METADATASET>.json.gz`
  (the meta-dataset they were trained on) and `metadataset/<SHIPPED_METADATASET>/` (the plan and records a
  build resumes from).

The home is `$ZAP_HOME` when that is set. Otherwise it is the checkout of an editable install
(`pip install -e .`, as `make install` does), read from the install's record of where it came from
(PEP 610 `direct_url.json`), so no path is guessed from where this file lies. Otherwise it is the copy a
wheel carries: the selectors and the meta-dataset artifact, not the plan, which only a build needs.
`$ZAP_SELECTORS` names a folder of selectors alone (e.g. from `zap meta-train --out`).

A saved model or selector records `versions()`; `check_versions` warns, as scikit-learn does for its
pickles, when the running versions differ, since a state dict or a skops estimator may then load wrongly.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import warnings
from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import unquote, urlparse

HOME_VARIABLE = "ZAP_HOME"
SELECTORS_VARIABLE = "ZAP_SELECTORS"
SHIPPED_HOME = "_home"  # inside the installed package: what the wheel carries of the home
# The meta-dataset the shipped selectors were trained on, and the plan a build resumes by default: one name,
# so shipping a new meta-dataset is this line, the selectors retrained on it, and the artifact committed
# (docs/metadataset.md, "Shipping v2"). Older meta-datasets stay loadable by their path.
SHIPPED_METADATASET = "v2"


def artifact_of(version: str) -> Path:
    """Where a meta-dataset version's artifact lies in a home."""
    return Path("artifacts", "metadataset", f"{version}.json.gz")


def plan_of(version: str) -> Path:
    """Where a meta-dataset version's plan lies in a home."""
    return Path("metadataset", version)


ARTIFACT = artifact_of(SHIPPED_METADATASET)
SELECTORS = Path("artifacts", "selectors")
PLAN = plan_of(SHIPPED_METADATASET)
LIBRARIES = ("torch", "timm", "scikit-learn")  # what a saved model's or selector's state is made of
RECORDED_VERSIONS = ("zap", *LIBRARIES)


# ------------------------------------------------------------------------------------------ package data


def package_data(package: str, *parts: str) -> Traversable:
    """A file or folder shipped inside `package` (e.g. `package_data("zap.pipelines", "configs")`)."""
    return files(package).joinpath(*parts)


# -------------------------------------------------------------------------------------------- the home


def home() -> Path:
    """The zap home: `$ZAP_HOME`, else an editable install's checkout, else the wheel's shipped copy."""
    if value := os.environ.get(HOME_VARIABLE):
        return Path(value).expanduser()
    return editable_checkout() or Path(str(package_data("zap", SHIPPED_HOME)))


def editable_checkout() -> Path | None:
    """The source tree zap was installed from in editable mode, as the installer recorded it (PEP 610);
    None for a wheel, a non-editable install or a zap that was never installed."""
    try:
        record = importlib.metadata.distribution("zap").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    if not record:
        return None
    origin = json.loads(record)
    url = urlparse(origin.get("url", ""))
    if not origin.get("dir_info", {}).get("editable") or url.scheme != "file":
        return None
    return Path(unquote(url.path))


def selectors_dir() -> Path:
    """Where the trained selectors are read from, and `zap meta-train` writes them by default."""
    return Path(os.environ.get(SELECTORS_VARIABLE) or home() / SELECTORS)


def metadataset_artifact(version: str | None = None) -> Path:
    """The meta-dataset artifact the shipped selectors were trained on (`zap meta-train`'s default), or the
    home's artifact of that `version` ("v1"): code that means one version names it, so it keeps reading
    that version when the home ships another."""
    return home() / (ARTIFACT if version is None else artifact_of(version))


def plan_dir(version: str | None = None) -> Path:
    """The meta-dataset plan that `zap metadataset build/status/export/hpo` work on by default, or the home's
    plan of that `version`."""
    return home() / (PLAN if version is None else plan_of(version))


# ------------------------------------------------------------------------------------------- versions


class VersionMismatchWarning(UserWarning):
    """A saved model or selector was written by other versions of zap or its libraries than those
    running: it may fail to load or behave differently. `saved` and `running` map package -> version."""

    def __init__(self, what: str, saved: Mapping[str, str], running: Mapping[str, str], fix: str):
        self.what, self.saved, self.running = what, dict(saved), dict(running)
        differ = ", ".join(f"{name} {saved[name]} (now {running[name]})" for name in saved)
        super().__init__(f"{what} was saved with {differ}; it may load wrongly or predict differently. "
                         f"Install those versions, or {fix} to save it again with these.")


def versions() -> dict[str, str]:
    """The versions a saved model or selector records: zap's and those of the libraries its state is
    made of (torch tensors, timm models, scikit-learn estimators)."""
    from zap._version import __version__

    found = {"zap": __version__}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def check_versions(saved: Mapping[str, str] | None, what: str, fix: str) -> None:
    """Warn (`VersionMismatchWarning`) if `saved` (a `versions()` record) differs from what runs now.

    A file saved before zap recorded versions (the shipped selectors, models saved by an earlier zap) has none: its
    versions are unknown, and it is accepted without a warning, since warning on every use of a shipped
    file would teach users to ignore the warning."""
    if not saved:
        return
    running = versions()
    differ = {name: str(saved[name]) for name in RECORDED_VERSIONS if name in saved and saved[name] != running[name]}
    if differ:
        warnings.warn(VersionMismatchWarning(what, differ, running, fix), stacklevel=3)
