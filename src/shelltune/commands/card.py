"""`shelltune card --out DIR`: the adapter and its complete model card, as one folder to publish.

Copies the adapter's files (`paths.adapter`) into DIR and writes the complete card that the plot stage
made (`<paths.reports>/model_card.md`: training, test-split and safety results) as DIR/README.md, after
checking that the card describes these very weights. Upload it as is:

    shelltune card --out build/hf-adapter && hf upload YOUR-NAME/shelltune-adapter build/hf-adapter .
"""

from __future__ import annotations

from pathlib import Path

from shelltune.config import load_params
from shelltune.errors import command_parser, run_cli
from shelltune.modelcard import MODEL_CARD, assemble


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("shelltune card", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="a new (or empty) directory to fill")
    parser.add_argument("--adapter", type=Path, default=None, help="adapter directory (default: paths.adapter)")
    parser.add_argument(
        "--card", type=Path, default=None, help=f"complete card (default: <paths.reports>/{MODEL_CARD})"
    )
    args = parser.parse_args(argv)

    def entry() -> int:
        params = load_params(args.params)
        adapter = args.adapter or Path(params.paths.adapter)
        card = args.card or Path(params.paths.reports) / MODEL_CARD
        files = assemble(adapter, card, args.out)
        print(f"{args.out}: {len(files)} files ({', '.join(files)}); upload with: hf upload REPO_ID {args.out} .")
        return 0

    return run_cli(entry, args.debug, args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
