"""`shelltune gen-data`: write the embedded NL→bash dataset (`shelltune.embedded`).

shelltune gen-data                      # data/raw/shelltune_nl2bash.jsonl, the committed default input,
                                        # and data/raw/shelltune_supplement.jsonl (training only)
shelltune gen-data --seed 7 --out x.jsonl        # and x_supplement.jsonl beside it
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shelltune.embedded import DEFAULT_OUT, DEFAULT_SEED, PER_FAMILY, SUPPLEMENT_OUT, generate, generate_supplement
from shelltune.fileio import write_jsonl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shelltune gen-data", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the JSONL file to write (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"the generator's seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--per-family", type=int, default=PER_FAMILY, help=f"rows per template family (default: {PER_FAMILY})"
    )
    parser.add_argument(
        "--supplement-out",
        help=f"the training-only supplement to write (default: {SUPPLEMENT_OUT} with the default --out, "
        "else OUT's name with _supplement; empty: none)",
    )
    args = parser.parse_args(argv)
    supplement = args.supplement_out
    if supplement is None:  # never the committed supplement beside another --out
        out = Path(args.out)
        supplement = SUPPLEMENT_OUT if args.out == DEFAULT_OUT else str(out.with_name(f"{out.stem}_supplement.jsonl"))
    outputs = [(args.out, generate(args.seed, args.per_family))]
    if supplement:
        outputs.append((supplement, generate_supplement(args.seed)))
    for out, rows in outputs:
        write_jsonl(out, rows)
        families = len({r["family"] for r in rows})
        print(f"wrote {len(rows)} rows from {families} families to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
