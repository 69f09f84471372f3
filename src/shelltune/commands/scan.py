"""`shelltune scan`: the safety scanner's verdict on commands. Never runs them.

    shelltune scan "rm -rf /"                      one verdict per argument (DANGEROUS, WARN or ok)
    shelltune scan < commands.txt                  one command per line on stdin
    shelltune scan --jsonl FILE [--field cmd]      one JSON verdict per input line, in order
    shelltune scan --eval CORPUS [--json OUT]      recall, precision and FPR per category
    shelltune scan --eval CORPUS --mutations       ... and every row through meaning-preserving rewrites
    shelltune scan --eval HELDOUT --min-recall 0.85 --max-fpr 0.03    ... against other targets

Verdicts exit 0 whether or not anything is dangerous; `--eval` exits 1 when the corpus misses the
targets (by default recall >= 0.97, false-positive rate <= 0.01, and with --mutations at least 99% of
rewrites judged like their row), so CI can gate on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from shelltune.errors import ShelltuneError, add_common_options, run_cli
from shelltune.fileio import iter_json_objects, write_json
from shelltune.safety import scan_command

TARGET_RECALL, TARGET_FPR, TARGET_MUTATION_SURVIVAL = 0.97, 0.01, 0.99


def verdict(cmd: str) -> dict[str, Any]:
    finding = scan_command(cmd)
    return {
        "cmd": cmd,
        "dangerous": finding is not None and finding.level == "dangerous",
        "level": finding.level if finding else None,
        "category": finding.category if finding else None,
        "severity": finding.severity if finding else None,
        "reason": finding.reason if finding else None,
        "matched": finding.matched if finding else None,
    }


def scan_jsonl(path: Path, field: str, out: TextIO) -> int:
    """Write one verdict per input line; a bad line stops with its file:line before anything is lost."""
    if not path.is_file():
        raise ShelltuneError(f"{path}: file not found")
    for where, row in iter_json_objects(path):
        if not isinstance(row.get(field), str):
            raise ShelltuneError(
                f"{where}: expected an object with a string field {field!r} (choose another with --field)"
            )
        out.write(json.dumps(verdict(row[field]), ensure_ascii=False) + "\n")
    return 0


def print_verdicts(commands: list[str]) -> int:
    for cmd in commands:
        v = verdict(cmd)
        if v["level"] is None:
            print(f"ok: {cmd}")
        else:
            print(f"{v['level'].upper()} [{v['category']}, {v['severity']}] {v['reason']}: {cmd}")
    return 0


def run_eval(
    path: Path,
    json_out: Path | None,
    mutations: bool = False,
    min_recall: float = TARGET_RECALL,
    max_fpr: float = TARGET_FPR,
) -> int:
    from shelltune.safety.evaluate import evaluate, format_mutations, format_report

    report = evaluate(path, mutations=mutations)
    print(format_report(report))
    if mutations:
        print("\n" + format_mutations(report["mutations"]))
    if json_out is not None:
        write_json(json_out, report)
    overall = report["overall"]
    met = (overall["recall"] or 0) >= min_recall and (overall["false_positive_rate"] or 0) <= max_fpr
    targets = f"recall >= {min_recall}, FPR <= {max_fpr}"
    if mutations:
        met = met and (report["mutations"]["survival_rate"] or 0) >= TARGET_MUTATION_SURVIVAL
        targets += f", rewrites judged like their row >= {TARGET_MUTATION_SURVIVAL}"
    print(f"\ntargets ({targets}): {'met' if met else 'MISSED'}")
    return 0 if met else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shelltune scan",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("commands", nargs="*", help="commands to judge (default: one per line on stdin)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--jsonl", type=Path, metavar="FILE", help="judge the --field of each JSON line in FILE")
    mode.add_argument("--eval", type=Path, metavar="CORPUS", help="score the scanner on a labeled corpus")
    parser.add_argument("--field", default="cmd", help="JSON field holding the command (default: cmd)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="with --eval: also write the report as JSON")
    parser.add_argument(
        "--mutations", action="store_true", help="with --eval: also judge every row through meaning-preserving rewrites"
    )
    parser.add_argument("--min-recall", type=float, default=TARGET_RECALL, help="with --eval: the recall target")
    parser.add_argument("--max-fpr", type=float, default=TARGET_FPR, help="with --eval: the false-positive-rate target")
    add_common_options(parser, params=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        if args.eval is not None:
            return run_eval(args.eval, args.json, args.mutations, args.min_recall, args.max_fpr)
        if args.jsonl is not None:
            return scan_jsonl(args.jsonl, args.field, sys.stdout)
        return print_verdicts(read_commands(args.commands))

    return run_cli(run, args.debug, args.quiet)


NO_COMMAND = (
    "no command to judge: pass commands as arguments (shelltune scan 'rm -rf /'), pipe them in one per "
    "line, or give --jsonl FILE or --eval CORPUS"
)


def read_commands(arguments: list[str]) -> list[str]:
    """The arguments, or one command per line on stdin; at a terminal, stdin is not waited on in silence."""
    if arguments:
        return arguments
    if sys.stdin is None or sys.stdin.isatty():
        raise ShelltuneError(NO_COMMAND)
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]
