"""`shelltune bench`: how fast and lean the pipeline is, measured against the usual set-ups.

    shelltune bench                    # the full benchmark on the default model (needs `dvc repro` first)
    shelltune bench --size small       # a quick pass (CI): fewer steps, prompts and a smaller memory model
    shelltune bench --pipeline         # first `make repro` on a fresh clone, timed stage by stage, then the
                                       # rest on what it built (--clone DIR keeps that clone)

What is measured, and how, is in `shelltune.benchmark`. Writes `<paths.reports>/bench.json` and the
markdown table `bench.md` beside it (`--out` chooses another place); timings vary from run to run, so
they are not DVC outputs.
"""

from __future__ import annotations

from pathlib import Path

from shelltune.benchmark import SIZES, format_markdown, run_bench
from shelltune.config import load_params
from shelltune.errors import command_parser, run_cli
from shelltune.fileio import write_json, write_text


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("shelltune bench", __doc__.splitlines()[0])
    parser.add_argument(
        "--size", choices=sorted(SIZES), default="full", help="full: the default run's shapes; small: a quick check"
    )
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="first time make repro on a fresh clone of this repository's HEAD (about 25 minutes), then measure on it",
    )
    parser.add_argument("--clone", type=Path, default=None, help="with --pipeline: keep the fresh clone here")
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default: <paths.reports>/bench.json)")
    args = parser.parse_args(argv)

    def entry() -> int:
        # Every measurement runs in a fresh process under its own kernel profile (benchmark.run_isolated).
        params = load_params(args.params)
        out = (args.out or Path(params.paths.reports) / "bench.json").resolve()

        def save(result: dict) -> None:
            write_json(out, result)
            write_text(out.with_suffix(".md"), format_markdown(result))

        result = run_bench(params, args.size, args.pipeline, Path.cwd(), args.clone, on_pipeline=save)
        save(result)
        print(format_markdown(result))
        print(f"wrote {out} and {out.with_suffix('.md')}")
        return 0

    return run_cli(entry, args.debug, args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
