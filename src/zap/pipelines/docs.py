"""The search-space table and encoding layout as records and Markdown (docs/search_space.md is generated)."""

from __future__ import annotations

from zap.pipelines.space import DIMENSIONS, encoding_layout


def _range(dim) -> str:
    if dim.bounds is not None:
        return f"[{dim.bounds[0]:g}, {dim.bounds[1]:g}]"
    return "{" + ", ".join(str(c) for c in dim.choices) + "}"


def space_records() -> list[dict]:
    return [
        {"name": d.name, "type": d.kind, "range": _range(d), "log": d.log, "default": d.default,
         "condition": None if d.condition is None else f"{d.condition[0]} in {list(d.condition[1])}",
         "meaning": d.doc, "zap_origin": d.origin}
        for d in DIMENSIONS
    ]


def space_markdown() -> str:
    lines = ["| # | name | type | range / choices | log | default | condition | meaning | from ZAP |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(space_records(), 1):
        default = f"{r['default']:.6g}" if isinstance(r["default"], float) else str(r["default"])
        lines.append(f"| {i} | `{r['name']}` | {r['type']} | {r['range']} | {'yes' if r['log'] else 'no'} | "
                     f"{default} | {r['condition'] or '–'} | {r['meaning']} | {r['zap_origin']} |")
    lines += ["", f"Encoding: {len(encoding_layout())} columns, in this order:", "",
              "| col | name | transform |", "|---|---|---|"]
    lines += [f"| {i} | `{c.name}` | {c.transform} |" for i, c in enumerate(encoding_layout())]
    return "\n".join(lines)
