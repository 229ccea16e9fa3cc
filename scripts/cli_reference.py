"""Write docs/cli.md, the command-line reference, from the parsers themselves (`zap.cli.build_parser`).

A hand-written reference drifts from the code the day a flag is added; this page cannot, because it is
generated, and tests/test_cli_reference.py fails while the committed page differs from what the parsers
say now. The text depends on nothing but the parsers: usage lines are formatted at a fixed width (never
the terminal's), and defaults inside the zap home are written relative to it, not as this machine's path.

    python scripts/cli_reference.py            # rewrite docs/cli.md
    python scripts/cli_reference.py --check    # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterator
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
USAGE_WIDTH = 100  # usage lines wrap here whatever the terminal is
HOME_MARK = "<zap home>"
HEADER = """# Command-line reference

Generated from the parsers (`zap.cli.build_parser()`) by `python scripts/cli_reference.py`: do not edit
by hand. `tests/test_cli_reference.py` fails while this page differs from what the parsers say.
Every command also takes `-h`/`--help`. `{home}` is the zap home (`$ZAP_HOME`, else the checkout of an
editable install, else the copy inside the wheel; see `zap.resources`).
"""


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog=parser.prog, width=USAGE_WIDTH)


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each sub-command of `parser`, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def walk(parser: argparse.ArgumentParser, text: str = "") -> Iterator[tuple[argparse.ArgumentParser, str]]:
    """Every parser, depth first: the command itself, then its sub-commands and theirs."""
    yield parser, text
    for _, help_text, sub in _subcommands(parser):
        yield from walk(sub, help_text)


def _documented(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a user passes: not -h, not the sub-command slot, not those hidden with SUPPRESS."""
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction) and a.help != argparse.SUPPRESS]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _invocation(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """`--only NAME [NAME ...]`, `--json`, `data`: choices go to their own column, not into the metavar."""
    plain = copy.copy(action)
    plain.choices = None
    return _formatter(parser)._format_action_invocation(plain)


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.nargs == 0:  # a flag: store_true and the like
        return "off"
    value = action.default
    if value is None or value == argparse.SUPPRESS:
        return "–"
    if isinstance(value, list | tuple):
        return " ".join(f"`{v}`" for v in value) or "–"
    return f"`{value}`"


def _choices(action: argparse.Action) -> str:
    return ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return _formatter(parser)._expand_help(action) if action.help else ""


def argument_table(parser: argparse.ArgumentParser) -> list[str]:
    actions = _documented(parser)
    if not actions:
        return []
    rows = ["| argument | default | choices | help |", "|---|---|---|---|"]
    rows += [f"| `{_cell(_invocation(parser, a))}` | {_cell(_default(a))} | {_cell(_choices(a))} | "
             f"{_cell(_help(parser, a))} |" for a in actions]
    return [*rows, ""]


def usage(parser: argparse.ArgumentParser) -> str:
    formatter = _formatter(parser)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def section(parser: argparse.ArgumentParser, text: str) -> list[str]:
    depth = parser.prog.count(" ")
    lines = [f"{'#' * min(depth + 2, 4)} `{parser.prog}`", ""]
    description = parser.description or text
    if description:
        lines += [description[0].upper() + description[1:] + ("" if description.endswith(".") else "."), ""]
    lines += ["```", usage(parser), "```", ""]
    subcommands = list(_subcommands(parser))
    if subcommands:
        lines += ["| command | what it does |", "|---|---|"]
        lines += [f"| [`{sub.prog}`](#{anchor(sub.prog)}) | {_cell(h)} |" for _, h, sub in subcommands]
        lines.append("")
    return lines + argument_table(parser)


def anchor(prog: str) -> str:
    """GitHub's anchor for a heading `` `zap metadataset build` ``."""
    return prog.replace(" ", "-")


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole page for `parser` (default: zap's own, built now)."""
    from zap.cli import build_parser
    from zap.resources import home

    parser = parser or build_parser()
    lines = [HEADER.format(home=HOME_MARK)]
    for sub, text in walk(parser):
        lines += section(sub, text)
    page = "\n".join(lines).rstrip() + "\n"
    return page.replace(str(home()), HOME_MARK)


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md differs instead of writing it")
    options = args.parse_args(argv)
    text = render()
    if options.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: run `python scripts/cli_reference.py`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
