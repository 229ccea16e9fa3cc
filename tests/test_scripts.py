"""The long-running shell scripts run zap and the benchmark scripts hours into a build or a study: a flag
renamed in a parser but not in a script would fail only there. Every flag a script passes is checked
against the parser it goes to (zap's own parsers, or the script's `--help`)."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zap.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SHELL_SCRIPTS = ("build-v2.sh", "finish-v2.sh", "finish-metadataset.sh", "finish-selectors.sh")
END = re.compile(r";;|\||>|&&|\)\s*$|'")  # where a command on a shell line stops


def commands(script: Path) -> list[tuple[str, list[str]]]:
    """(program, words) of every `$ZAP ...` and `$PY path.py ...` command, continuation lines joined."""
    text = script.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        for match in re.finditer(r"\$(ZAP|PY) ", line):
            rest = line[match.end():]
            rest = rest[:END.search(rest).start()] if END.search(rest) else rest
            words = rest.split()
            if match.group(1) == "ZAP":
                found.append(("zap", words))
            elif words and words[0].endswith(".py"):
                found.append((words[0], words[1:]))
    return found


def zap_options(words: list[str]) -> tuple[str, set[str]]:
    """The sub-command a `zap` command line names and the options its parser takes."""
    parser, path = build_parser(), []
    for word in words:
        choices = _subcommands(parser)
        if word not in choices:
            break
        parser, path = choices[word], [*path, word]
    return " ".join(path), {s for action in parser._actions for s in action.option_strings}


def _subcommands(parser) -> dict:
    for action in parser._actions:
        if action.choices and hasattr(action, "_name_parser_map"):
            return action._name_parser_map
    return {}


@functools.cache
def script_options(path: str) -> set[str]:
    help_text = subprocess.run([sys.executable, str(ROOT / path), "--help"], capture_output=True, text=True,
                               cwd=ROOT, timeout=120, check=True).stdout
    return set(re.findall(r"--[a-z0-9][a-z0-9-]*", help_text))


def flags(words: list[str]) -> set[str]:
    return {w.split("=")[0] for w in words if re.fullmatch(r"--[a-z0-9][a-z0-9-]*(=.*)?", w)}


@pytest.mark.parametrize("name", SHELL_SCRIPTS)
def test_every_flag_a_script_passes_exists(name):
    checked = 0
    for program, words in commands(ROOT / "scripts" / name):
        if program == "zap":
            command, known = zap_options(words)
            assert command, f"{name}: `zap {' '.join(words)}` names no zap command"
        else:
            command = program
            known = script_options(program)
        unknown = sorted(flags(words) - known)
        assert not unknown, f"{name}: `{command}` has no option {unknown}"
        checked += 1
    assert checked >= 3  # the parsing found the script's commands


def test_the_check_catches_a_renamed_flag(tmp_path):
    script = tmp_path / "s.sh"
    script.write_text('$ZAP benchmark "$A" --levels 20 \\\n  --max-fold 3 --out x ;;\n')
    (_, words), = commands(script)
    command, known = zap_options(words)
    assert command == "benchmark" and flags(words) - known == {"--max-fold"}


def test_build_v2_ship_step_never_rewrites_a_shipped_artifact():
    """A restart of the build must not overwrite the shipped v2 artifact with a partial level 120."""
    artifact = ROOT / "artifacts" / "metadataset" / "v2.json.gz"
    if not artifact.exists():
        pytest.skip("no shipped v2 artifact in this checkout")
    before = artifact.stat().st_mtime_ns, artifact.read_bytes()
    result = subprocess.run(["bash", str(ROOT / "scripts" / "build-v2.sh"), "ship"], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "left as it is" in result.stdout
    assert (artifact.stat().st_mtime_ns, artifact.read_bytes()) == before
