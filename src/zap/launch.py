"""The `zap` command's entry point. It imports the command line, and with it torch and scikit-learn, inside
a guard: a Ctrl-C in those seconds ends with one line and exit code 130, as a Ctrl-C later does."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from zap.cli import main as command_line
    except KeyboardInterrupt:
        print("zap: interrupted while starting; nothing was done", file=sys.stderr)
        return 130
    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
