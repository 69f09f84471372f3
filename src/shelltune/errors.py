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
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process the signal ended
DEBUG_ENV = "SHELLTUNE_DEBUG"


class ShelltuneError(Exception):
    """An error caused by the user's input: printed as one message, never as a traceback."""


def command_parser(prog: str, description: str, **kwargs) -> argparse.ArgumentParser:
    """The arguments every command takes: --params, --debug and --quiet."""
    parser = argparse.ArgumentParser(prog=prog, description=description, **kwargs)
    add_common_options(parser)
    return parser


def add_common_options(parser: argparse.ArgumentParser, params: bool = True) -> None:
    if params:
        parser.add_argument("--params", default=None, help="params file (default: params.yaml, or $SHELLTUNE_PARAMS)")
    parser.add_argument(
        "--debug", action="store_true", help=f"show tracebacks, library warnings and logs (or {DEBUG_ENV}=1)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars (or SHELLTUNE_QUIET=1)")


def debug_enabled(flag: bool) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run_cli(entry: Callable[[], int | None], debug: bool = False, quiet: bool = False, progress: bool = True) -> int:
    """Run `entry`, mapping user errors to a clean exit code (2) and a message on stderr.

    Library warnings and logs are hidden unless debugging, progress bars shown only where `progress` and
    not `quiet` (`shelltune.console`). A reader that stops early (`shelltune scan ... | head -1`) ends the
    command quietly, with the status a process killed by SIGPIPE has."""
    from shelltune.console import configure_output, quiet_requested

    configure_output(debug_enabled(debug), quiet_requested(quiet), progress)
    try:
        code = entry() or 0
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:
        # Python's advice: point stdout at /dev/null so the final flush at exit cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ShelltuneError as exc:
        if debug_enabled(debug):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
