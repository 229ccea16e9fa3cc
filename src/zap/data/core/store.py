"""Building core datasets into a local cache (not committed), with checksums, and loading them back.

The cache holds `<name>.npz` per core and `manifest.json` with each core's SHA-256 (over its pixel,
label and split arrays, so it is independent of zip metadata), sizes and build time. The same
code on the same sources gives the same checksum; a test holds the builders to that.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zap.data.core.generators import CoreData
from zap.data.core.registry import CORES, CoreSpec, get_spec
from zap.data.dataset import ArrayDataset
from zap.data.errors import DataError
from zap.utils import atomic_write_json

BUILD_SEED = 0
MANIFEST = "manifest.json"
CATALOGUE = Path(__file__).with_name("catalogue.json")  # sizes and checksums of the reference build


def catalogue() -> dict[str, dict]:
    """What each core looked like when built by the maintainers (`zap datasets build --catalogue`)."""
    return json.loads(CATALOGUE.read_text()) if CATALOGUE.exists() else {}


def write_catalogue(cache: Path) -> None:
    keep = ("n_images", "n_classes", "n_test", "resolution", "channels", "domain", "sha256")
    entries = {name: {k: e[k] for k in keep} for name, e in read_manifest(cache).items() if name in CORES}
    atomic_write_json(CATALOGUE, entries, sort_keys=True)


def default_cache() -> Path:
    return Path(os.environ.get("ZAP_DATA", Path.home() / ".cache" / "zap" / "datasets"))


def checksum(data: CoreData) -> str:
    digest = hashlib.sha256()
    for array in (data.x, data.y, data.test.astype(np.uint8)):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\n".join(data.class_names).encode())
    return digest.hexdigest()


@dataclass
class Core:
    """A built core: its images as a dataset, its fixed test mask, its registry entry."""

    spec: CoreSpec
    dataset: ArrayDataset
    test: np.ndarray

    @property
    def train_indices(self) -> np.ndarray:
        return np.flatnonzero(~self.test)

    @property
    def test_indices(self) -> np.ndarray:
        return np.flatnonzero(self.test)


def read_manifest(cache: Path) -> dict[str, dict]:
    path = cache / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def _write_manifest(cache: Path, manifest: dict[str, dict]) -> None:
    atomic_write_json(cache / MANIFEST, manifest, sort_keys=True)


def build_core(name: str, cache: Path | None = None, force: bool = False) -> dict:
    """Build one core into the cache (skipped when already there, unless `force`); its manifest entry."""
    spec, cache = get_spec(name), Path(cache or default_cache())
    cache.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(cache)
    if not force and name in manifest and (cache / f"{name}.npz").exists():
        return manifest[name]
    start = time.perf_counter()
    data = spec.build(BUILD_SEED)
    tmp = cache / f"{name}.tmp.npz"
    np.savez_compressed(tmp, x=data.x, y=data.y, test=data.test, class_names=np.array(data.class_names))
    tmp.replace(cache / f"{name}.npz")  # atomic: a killed build never leaves a half-written core
    entry = {
        "sha256": checksum(data), "n_images": len(data.y), "n_classes": len(data.class_names),
        "n_test": int(data.test.sum()), "resolution": int(data.x.shape[1]), "channels": int(data.x.shape[-1]),
        "domain": spec.domain, "seconds": round(time.perf_counter() - start, 2),
    }
    manifest = read_manifest(cache) | {name: entry}
    _write_manifest(cache, manifest)
    return entry


def load_core(name: str, cache: Path | None = None, build: bool = True) -> Core:
    """A core from the cache, built first if missing (`build=False` makes a missing core an error)."""
    spec, cache = get_spec(name), Path(cache or default_cache())
    path = cache / f"{name}.npz"
    if not path.exists():
        if not build:
            raise DataError(f"core {name} is not built in {cache}; run `zap datasets build --only {name}`")
        build_core(name, cache)
    with np.load(path, allow_pickle=False) as archive:
        dataset = ArrayDataset(archive["x"], archive["y"], [str(c) for c in archive["class_names"]], name=name)
        test = archive["test"].astype(bool)
    return Core(spec, dataset, test)


def registry_table(cache: Path | None = None) -> list[dict]:
    """One row per core: registry facts, plus sizes and checksum where the core is built."""
    manifest, reference = read_manifest(Path(cache or default_cache())), catalogue()
    rows = []
    for name, spec in CORES.items():
        built = manifest.get(name, {})
        known = built or reference.get(name, {})
        rows.append({
            "name": name, "domain": spec.domain, "n_classes": known.get("n_classes"),
            "n_images": known.get("n_images"), "resolution": spec.resolution, "channels": spec.channels,
            "built": bool(built), "source": spec.source, "license": spec.license, "description": spec.description,
            "sha256": built.get("sha256"),
            "matches_reference": built.get("sha256") == reference.get(name, {}).get("sha256") if built else None,
        })
    return rows
