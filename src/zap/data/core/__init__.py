"""Core datasets built from real offline sources (fonts, emoji, icons, photos, handwriting)."""

from zap.data.core.generators import CoreData
from zap.data.core.registry import CORE_SPECS, CORES, CoreSpec, get_spec
from zap.data.core.sources import MissingSourceError
from zap.data.core.store import Core, build_core, checksum, default_cache, load_core, read_manifest, registry_table

__all__ = [
    "CORES",
    "CORE_SPECS",
    "Core",
    "CoreData",
    "CoreSpec",
    "MissingSourceError",
    "build_core",
    "checksum",
    "default_cache",
    "get_spec",
    "load_core",
    "read_manifest",
    "registry_table",
]
