"""`shelltune predict "find files larger than 100MB in /var/log"`: guarded inference.

Loads the base model and the trained adapter, generates one command per request (arguments, or one
request per line on stdin), and scans it with the safety scanner. A safe command is printed on stdout,
one line per request; a dangerous one is refused: the category and reason go to stderr, the command is
withheld (shown as a comment only with --show-refused), and the exit status is 3. A command the scanner
warns about (destructive but plausibly what was asked, such as `terraform destroy`) is printed, with
`warning [category, severity]: reason` on stderr; warnings alone leave the exit status 0. Nothing is
executed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from shelltune.errors import ShelltuneError, command_parser, run_cli
from shelltune.numerics import load_params_for_torch
from shelltune.prediction import EXIT_REFUSED, check_adapter, guard, render

NO_REQUEST = (
    'no request: pass it as an argument (shelltune predict "list files in /tmp") or pipe requests in, one per line'
)


def read_requests(arguments: list[str]) -> list[str]:
    """The arguments, or one request per line on stdin; at a terminal, stdin is not waited on in silence."""
    if arguments:
        return arguments
    if sys.stdin is None or sys.stdin.isatty():
        raise ShelltuneError(NO_REQUEST)
    requests = [line.strip() for line in sys.stdin if line.strip()]
    if not requests:
        raise ShelltuneError(NO_REQUEST)
    return requests


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("shelltune predict", __doc__.splitlines()[0])
    parser.add_argument("requests", nargs="*", help="plain-English requests (default: one per line on stdin)")
    parser.add_argument("--adapter", default=None, help="adapter directory (default: paths.adapter)")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="most tokens per answer (default: validate.max_new_tokens)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per request")
    parser.add_argument("--show-refused", action="store_true", help="print refused commands as comments")
    args = parser.parse_args(argv)

    def entry() -> int:
        requests = read_requests(args.requests)
        params = load_params_for_torch(args.params)
        adapter = Path(args.adapter or params.paths.adapter)
        check_adapter(adapter, Path(params.paths.adapter), explicit=args.adapter is not None)
        from shelltune.inference import generate, load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(params, adapter)
        outputs = generate(
            model,
            tokenizer,
            params.prompt.system,
            requests,
            args.max_new_tokens or params.validate.max_new_tokens,
            params.validate.batch_size,
        )
        answers = [guard(r, o.text) for r, o in zip(requests, outputs, strict=True)]
        for answer in answers:
            if args.json:
                print(json.dumps(asdict(answer)))
                continue
            out, err = render(answer, args.show_refused)
            print(out)
            if err:
                print(err, file=sys.stderr)
        return EXIT_REFUSED if any(a.refused for a in answers) else 0

    return run_cli(entry, args.debug, args.quiet, progress=False)


if __name__ == "__main__":
    raise SystemExit(main())
