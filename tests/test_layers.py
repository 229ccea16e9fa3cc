"""Imports point one way: a package of zap imports only from packages earlier in the data flow (docs/architecture.md).

Every module under src/zap is parsed with `ast` (nothing is imported), and every `import zap.X` or
`from zap.X import ...` in it, at the top or inside a function, is checked against the declared order. A
lazy import inside a function is a dependency too: it only moves the cost to the first call.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "zap"

# The stages, earliest first. A module may import from its own layer and from earlier layers only.
# `foundation` is what every stage uses: errors, small utilities, the version, where shipped files are.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = tuple((name, frozenset(members)) for name, members in (
    ("foundation", {"_version", "errors", "utils", "resources"}),
    ("data", {"data"}),
    ("metafeatures", {"metafeatures"}),
    ("pipelines", {"pipelines"}),
    ("scoring", {"scoring"}),  # the curve -> ALC arithmetic the runner scores itself with
    ("finetune", {"finetune"}),
    ("engine", {"engine"}),  # the Dask client the meta-dataset build and HPO run on
    ("metadataset", {"metadataset"}),
    ("selectors", {"selectors"}),
    ("strategies", {"strategies"}),  # refine, replay and tune: they start from a selector's top-k
    ("benchmark", {"benchmark"}),
    ("html/report", {"html", "report"}),
    ("cli/api", {"cli", "api", "launch", "__init__"}),  # __init__: the package root, which re-exports the API
))

# (importing module, imported module) -> why it is allowed. "to fix" marks a real violation kept for now.
ALLOWED: dict[tuple[str, str], str] = {}


def layer_of(part: str) -> int:
    """The layer index of a top-level part of zap (`data`, `cli`, `__init__`); an unplaced part is an error."""
    for index, (_, members) in enumerate(LAYERS):
        if part in members:
            return index
    raise AssertionError(f"zap.{part} has no place in LAYERS: add it to tests/test_layers.py and to "
                         "docs/architecture.md, at the stage of the data flow it serves")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_part(module: str, path: Path) -> str:
    """`zap.data.core.store` -> `data`; the root `zap/__init__.py` -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__" if path.name == "__init__.py" else parts[0]


def zap_imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported zap module, line) for every import of zap in the file, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from zap import api` imports zap.api; `from zap.data import load_dataset` imports zap.data
            found += ([(f"{base}.{alias.name}", node.lineno) for alias in node.names] if base == "zap"
                      else [(base, node.lineno)])
    return [(name, line) for name, line in found if name == "zap" or name.startswith("zap.")]


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@cache
def edges() -> tuple[tuple[str, str, int, str], ...]:
    """(importing module, imported module, line, file) for every import of zap by a module of zap."""
    found = []
    for path in modules():
        module = module_name(path)
        found += [(module, target, line, str(path.relative_to(SRC.parent.parent)))
                  for target, line in zap_imports(path, module)]
    return tuple(found)


def backward(edge: tuple[str, str, int, str]) -> bool:
    module, target, _, path = edge
    source_part = top_part(module, Path(path))
    target_part = target.split(".")[1] if target.count(".") else "__init__"
    return layer_of(target_part) > layer_of(source_part)


def test_the_parser_finds_imports_of_every_kind():
    """Catches a checker that passes because it sees nothing: it must find top-level, lazy and
    `from zap import x` imports in the real code."""
    found = {(m, t) for m, t, _, _ in edges()}
    assert ("zap.metadataset.plan", "zap.data.core") in found  # top of the module
    assert ("zap.cli", "zap.engine") in found  # inside a function
    assert ("zap.launch", "zap.cli") in found  # the entry point, guarded (the root re-exports by name, lazily)
    assert len(modules()) > 50


def test_every_package_has_a_place_in_the_order():
    """Catches a new package under src/zap that nobody placed in the data flow."""
    for path in modules():
        layer_of(top_part(module_name(path), path))


def test_imports_point_to_earlier_stages_only():
    """Catches a stage importing a later one (a selector reaching into the benchmark, the runner into the
    meta-dataset): that is how a stage stops being usable, and testable, without everything after it."""
    violations = [e for e in edges() if backward(e) and (e[0], e[1]) not in ALLOWED]
    listing = "\n".join(f"  {path}:{line}: {module} imports {target}" for module, target, line, path in violations)
    assert not violations, (f"imports from a later stage (order: {' -> '.join(n for n, _ in LAYERS)}):\n{listing}\n"
                            "move the code to the stage it belongs to, or list the import in ALLOWED with a reason")


@pytest.mark.parametrize("pair", sorted(ALLOWED))
def test_each_allowed_exception_is_still_needed(pair):
    """Catches an exception that outlived its reason: once the import is gone, drop it from ALLOWED."""
    assert any((m, t) == pair and backward(e) for e in edges() for m, t, _, _ in [e]), (
        f"{pair[0]} no longer imports {pair[1]} from a later stage: remove it from ALLOWED")
