"""`shelltune`: every command, once, in one table.

    shelltune run STAGE [--params FILE]     one pipeline stage, as `dvc repro` runs it
    shelltune export | predict | serve | shell-init | scan | profile | plan | bench | report | card | gen-data

Each command forwards its remaining arguments to its module's `main`, so `shelltune run train --params
p.yaml` and `python -m shelltune.stages.train --params p.yaml` are the same.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from shelltune.errors import command_parser

# The main pipeline's stages in the order `dvc repro` runs them (dvc.yaml; a test keeps them equal).
PIPELINE = ("check", "split", "base", "train", "validate", "execute", "scan", "plot")

COMMANDS = {
    "run": ("shelltune.cli", "run one pipeline stage: " + ", ".join(PIPELINE) + " (what dvc repro runs)"),
    "export": (
        "shelltune.stages.export",
        "merge the adapter, write GGUF files and an Ollama Modelfile, check "
        "them against transformers (the optional export stage)",
    ),
    "predict": ("shelltune.commands.predict", "generate a command for each request, refusing dangerous ones"),
    "serve": ("shelltune.commands.serve", "keep the model loaded behind an OpenAI-compatible endpoint on this machine"),
    "shell-init": (
        "shelltune.commands.shell_init",
        "print the shell code that binds a key to turn the English on the command line into a command",
    ),
    "scan": ("shelltune.commands.scan", "judge shell commands with the safety scanner (never runs them)"),
    "profile": ("shelltune.commands.profile", "print a params profile as -S arguments for dvc exp run"),
    "plan": ("shelltune.commands.plan", "estimate a run's peak GPU memory before anything is loaded"),
    "bench": ("shelltune.commands.bench", "benchmark training, generation and memory against the usual set-ups"),
    "report": ("shelltune.commands.report", "markdown review of the workspace against a git revision (PR comment)"),
    "card": ("shelltune.commands.card", "the adapter with its complete model card, as a folder to upload to the hub"),
    "gen-data": ("shelltune.commands.gen_data", "write the embedded NL→bash dataset"),
}


def stage_module(name: str) -> str:
    return f"shelltune.stages.{name}"


def run_stage(argv: list[str]) -> int:
    """`shelltune run STAGE ...`: the stage's own entry point with the remaining arguments (so
    `shelltune run train --help` is the train stage's help)."""
    if argv and argv[0] in PIPELINE:
        return importlib.import_module(stage_module(argv[0])).STAGE.main(argv[1:])
    parser = command_parser("shelltune run", COMMANDS["run"][1])
    parser.add_argument("stage", choices=PIPELINE, help="the stage to run")
    args = parser.parse_args(argv)  # --help, a usage error naming the stages, or options before the stage
    rest = list(argv)
    rest.remove(args.stage)
    return importlib.import_module(stage_module(args.stage)).STAGE.main(rest)


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
    if args.command == "run":
        return run_stage(rest)
    module = importlib.import_module(COMMANDS[args.command][0])
    return module.STAGE.main(rest) if hasattr(module, "STAGE") else module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
