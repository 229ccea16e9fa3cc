"""docs/cli.md is what `scripts/cli_reference.py` makes of the parsers now, and that page leaves nothing out."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIX = "run `python scripts/cli_reference.py` and commit docs/cli.md"


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page(reference) -> str:
    return reference.render()


def test_committed_page_is_what_the_parsers_say(reference, page):
    """Catches a flag, default or help text changed in zap/cli.py without the reference page following."""
    committed = reference.PAGE.read_text(encoding="utf-8")
    assert committed == page, f"docs/cli.md is out of date with zap.cli: {FIX}"


def test_every_command_and_argument_is_on_the_page(reference, page):
    """Catches the walker missing a level of sub-commands or an argument (the page would then agree with a
    generator that drops things): every parser gets a section, every visible argument a row in it."""
    from zap.cli import build_parser

    sections = {}
    for chunk in page.split("\n#")[1:]:
        heading, _, body = chunk.partition("\n")
        sections[heading.strip("# `")] = body
    parsers = list(reference.walk(build_parser()))
    assert {"zap", "zap fit", "zap zoo list", "zap datasets build", "zap metadataset build"} <= set(sections)
    assert set(sections) == {p.prog for p, _ in parsers}
    for parser, _ in parsers:
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                assert all(f"[`{sub.prog}`]" in sections[parser.prog] for sub in action.choices.values())
            else:
                name = action.option_strings[0] if action.option_strings else action.dest
                assert f"| `{name}" in sections[parser.prog], f"{parser.prog}: {name} is missing from the page"


def test_page_does_not_depend_on_the_terminal_or_the_machine(reference, page, monkeypatch):
    """Catches usage lines wrapped at the terminal's width, and this checkout's path written as a default."""
    from zap.resources import SHIPPED_METADATASET, home

    for columns in ("40", "300"):
        monkeypatch.setenv("COLUMNS", columns)
        assert reference.render() == page
    assert str(home()) not in page
    assert f"`<zap home>/metadataset/{SHIPPED_METADATASET}`" in page  # `--plan`'s default, relative to the home


DOC_PAGES = ("cluster.md", "extending.md", "architecture.md")


def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def documented_commands() -> list[tuple[str, str]]:
    """(page, command line) of every `zap ...` line inside a fenced code block of the hand-written pages."""
    found = []
    for page in DOC_PAGES:
        fenced = False
        for line in (ROOT / "docs" / page).read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("```"):
                fenced = not fenced
            elif fenced and line.strip().startswith(("zap ", ".venv/bin/zap ")):
                found.append((page, line.split("  #")[0].strip()))
    return found


def test_commands_on_the_hand_written_pages_parse(capsys):
    """Catches docs/cluster.md or docs/extending.md telling users to run an option that does not exist
    (a renamed flag, a typo): every command they show must parse with zap's own parser."""
    import shlex

    from zap.cli import build_parser

    commands = documented_commands()
    assert any("metadataset build" in line for _, line in commands)
    for page, line in commands:
        try:
            build_parser().parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"docs/{page}: `{line}` does not parse: {capsys.readouterr().err.strip()}")


def test_the_cluster_pages_option_table_names_real_options():
    """Catches the option table of docs/cluster.md drifting from `zap metadataset build --help`."""
    from zap.cli import build_parser

    build = _subparser(build_parser(), "metadataset", "build")
    known = {option for action in build._actions for option in action.option_strings}
    rows = [line for line in (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `--")]
    named = [row.split("`")[1].split()[0] for row in rows]
    assert len(named) >= 9 and set(named) <= known, sorted(set(named) - known)
