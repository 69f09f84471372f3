"""User-facing errors and the wrapper that turns them into one clear line and a non-zero exit.

Every command runs inside `run_cli`: a `ShelltuneError` (bad input, bad params) prints
`error: <message>` on stderr and exits 2. Set `SHELLTUNE_DEBUG=1` or pass `--debug` to see the
traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

EXIT_USAGE = 2
DEBUG_ENV = "SHELLTUNE_DEBUG"


class ShelltuneError(Exception):
    """An error caused by the user's input: printed as one message, never as a traceback."""


def command_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The arguments every command takes: --params and --debug."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--params", default=None, help="params file (default: params.yaml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def debug_enabled(flag: bool) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run_cli(entry: Callable[[], int | None], debug: bool = False) -> int:
    """Run `entry`, mapping user errors to a clean exit code (2) and a message on stderr."""
    try:
        return entry() or 0
    except ShelltuneError as exc:
        if debug_enabled(debug):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
