"""`shelltune report --against REV`: the pull-request review of this workspace against REV, in markdown.

    shelltune report --against main                  # writes pr-report/report.md and its PNGs
    shelltune report --against origin/main --out DIR

Run it after `dvc repro` (or `dvc exp run`) so the workspace holds the new results; the GitHub workflow
posts it as a comment (`shelltune.reporting.review`).
"""

from __future__ import annotations

from pathlib import Path

from shelltune.config import load_params
from shelltune.errors import command_parser, run_cli
from shelltune.fileio import atomic_path
from shelltune.reporting.review import build_report


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("shelltune report", __doc__.splitlines()[0])
    parser.add_argument("--against", required=True, metavar="REV", help="git revision to compare with (e.g. main)")
    parser.add_argument("--out", type=Path, default=Path("pr-report"), help="output directory (default: pr-report)")
    args = parser.parse_args(argv)

    def entry() -> int:
        params = load_params(args.params)
        with atomic_path(args.out) as staged:
            staged.mkdir()
            text = build_report(args.against, Path(params.paths.reports), staged)
            (staged / "report.md").write_text(text, encoding="utf-8")
        print(f"wrote {args.out / 'report.md'}")
        return 0

    return run_cli(entry, args.debug, args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
