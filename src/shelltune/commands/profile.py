"""`shelltune profile NAME`: print a params profile as `-S key=value` arguments for `dvc exp run`.

    dvc exp run -n qwen7b $(shelltune profile qwen7b-gpu)

The profile merged into params.yaml is validated first (`shelltune.profiles`), so a typo is reported
here instead of an hour into a GPU run.
"""

from __future__ import annotations

from shelltune.errors import command_parser, run_cli
from shelltune.profiles import params_with_profile, set_arguments


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("shelltune profile", __doc__.splitlines()[0])
    parser.add_argument("name", help="profile name (profiles/NAME.yaml) or a path")
    args = parser.parse_args(argv)

    def entry() -> int:
        _, overrides = params_with_profile(args.name, args.params)
        print(" ".join(set_arguments(overrides)))
        return 0

    return run_cli(entry, args.debug, args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
