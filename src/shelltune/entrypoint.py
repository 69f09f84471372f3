"""The one entry point every pipeline stage runs through (`python -m shelltune.stages.NAME`).

A stage module declares `STAGE = Stage(...)`: its name, what it runs, whether it loads torch, and the
line it prints when done. `Stage.main` parses `--params`/`--debug`/`--quiet`, reads and validates params.yaml,
applies the CPU kernel profile before torch can load (stages that use torch), runs the stage, and turns
a `ShelltuneError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shelltune.config import Params, load_params
from shelltune.errors import command_parser, run_cli
from shelltune.numerics import apply_kernel_profile


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    run: Callable[[Params], Any]
    summary: Callable[[Params, Any], str]  # the line printed when the stage is done
    uses_torch: bool = False
    # Runs the stage some other way when it returns an exit code (the train stage relaunches itself
    # under `accelerate launch` for several processes); None: run it here.
    launch: Callable[[Params, list[str]], int | None] | None = None
    # how a person runs it: `shelltune run NAME` for the main pipeline's stages
    command: str = ""

    def start(self, params: Params) -> None:
        """What happens before the stage runs: the kernel profile, while torch is not loaded yet."""
        if self.uses_torch:
            apply_kernel_profile(params.runtime)

    def main(self, argv: list[str] | None = None) -> int:
        import sys

        argv = sys.argv[1:] if argv is None else argv
        args = command_parser(self.command or f"shelltune run {self.name}", self.description).parse_args(argv)

        def entry() -> int:
            params = load_params(args.params)
            self.start(params)
            if self.launch is not None:
                code = self.launch(params, argv)
                if code is not None:
                    return code
            text = self.summary(params, self.run(params))
            if text:
                print(text)
            return 0

        return run_cli(entry, args.debug, args.quiet)
