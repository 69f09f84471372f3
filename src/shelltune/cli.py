"""`shelltune` command line: one subcommand per stage and tool.

Each subcommand forwards its remaining arguments to the module's own `main`, so
`shelltune split --params p.yaml` and `python -m shelltune.split --params p.yaml` are the same.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "gen-data": ("shelltune.embedded", "write the embedded NL→bash dataset"),
    "split": ("shelltune.split", "validate, dedup, filter and split the dataset (stage)"),
    "base": ("shelltune.base", "build the tiny base model or pin a hub/local one (stage)"),
    "train": ("shelltune.train", "QLoRA fine-tuning with TRL (stage)"),
    "validate": ("shelltune.validate", "score base vs fine-tuned on the test split (stage)"),
    "scan-stage": ("shelltune.scan", "safety scan of generated commands and red-team prompts (stage)"),
    "plot": ("shelltune.plot", "PNG plots and reports/report.md (stage)"),
    "predict": ("shelltune.predict", "generate a command for a request, refusing dangerous ones"),
    "scan": ("shelltune.scan_cli", "judge shell commands with the safety scanner"),
    "profile": ("shelltune.profile", "print a params profile as -S arguments for dvc exp run"),
    "bench": ("shelltune.bench", "benchmark training, generation and memory against the usual set-ups"),
    "report": ("shelltune.report", "markdown review of the workspace against a git revision (metrics, params, plots)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="shelltune", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.version:
        from shelltune import __version__
        print(f"shelltune {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
