"""A labeled check of the judge: command pairs a person labeled equivalent or not, run through the same
evaluation as the test set (reference twice, prediction once, skips included).

The judge "says equivalent" only when the row was executed and matched; a skip is a "not equivalent"
answer (it never counts a match), so a skipped pair labeled equivalent is a miss. Accuracy is reported
for the strict judge, the order-insensitive one, and over the pairs the judge executed.

    python -m shelltune.sandbox.pairs tests/data/judge_pairs.jsonl --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.config import instant_seconds, load_params
from shelltune.errors import ShelltuneError, run_cli
from shelltune.fileio import iter_json_objects
from shelltune.sandbox.builtin import build_builtin
from shelltune.sandbox.evaluate import EvalRow, evaluate, ratio
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.world import World

DEFAULT_PAIRS = "tests/data/judge_pairs.jsonl"
DEFAULT_SEED = 42


@dataclass
class PairCheck:
    pairs: int
    accuracy: float  # strict judge; a skip answers "not equivalent"
    accuracy_unordered: float
    judged: int  # pairs whose reference could be judged
    accuracy_judged: float  # strict, over the judged pairs only
    confusion: dict[str, int]  # true/false positives/negatives of the strict judge
    by_trap: dict[str, dict[str, float]]
    mistakes: list[dict[str, Any]]
    seconds: float

    def summary(self) -> str:
        c = self.confusion
        lines = [
            (
                f"{self.pairs} pairs: judge accuracy {self.accuracy:.3f} (order-insensitive "
                f"{self.accuracy_unordered:.3f}); {self.judged} judged, accuracy there {self.accuracy_judged:.3f}"
            ),
            (
                f"equivalent called equal {c['true_positive']}, called different or skipped {c['false_negative']}; "
                f"not equivalent called different or skipped {c['true_negative']}, called equal {c['false_positive']}"
            ),
            f"{'trap':<16}{'pairs':>6}{'accuracy':>10}",
        ]
        lines += [
            f"{trap:<16}{int(row['pairs']):>6}{row['accuracy']:>10.3f}" for trap, row in sorted(self.by_trap.items())
        ]
        return "\n".join(lines)


def load_pairs(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise ShelltuneError(f"{path}: judge pairs file not found")
    pairs = []
    for where, record in iter_json_objects(path):
        if not (
            isinstance(record.get("reference"), str)
            and isinstance(record.get("prediction"), str)
            and isinstance(record.get("equivalent"), bool)
        ):
            raise ShelltuneError(f"{where}: expected 'reference' and 'prediction' strings and an 'equivalent' boolean")
        pairs.append(record)
    return pairs


def check_judge(
    pairs: list[dict[str, Any]],
    world: World,
    limits: Limits | None = None,
    workers: int = 1,
    progress: str | None = None,
) -> PairCheck:
    started = time.perf_counter()
    rows = [
        EvalRow(f"pair-{i}", p.get("why", ""), p["reference"], {"prediction": p["prediction"]})
        for i, p in enumerate(pairs)
    ]
    report = evaluate(rows, world, limits or Limits(), workers=workers, progress=progress)
    strict, unordered, judged_right, judged = 0, 0, 0, 0
    confusion = {"true_positive": 0, "false_negative": 0, "true_negative": 0, "false_positive": 0}
    traps: dict[str, list[bool]] = defaultdict(list)
    mistakes = []
    for pair, verdict in zip(pairs, report.verdicts, strict=False):
        entry = verdict["prediction"]
        said = bool(verdict["executed"] and entry["match"])
        said_unordered = bool(verdict["executed"] and entry["match_unordered"])
        right = said == pair["equivalent"]
        strict += right
        unordered += said_unordered == pair["equivalent"]
        if verdict["executed"]:
            judged += 1
            judged_right += right
        key = ("true_" if right else "false_") + ("positive" if said else "negative")
        confusion[key] += 1
        traps[pair.get("trap", "")].append(right)
        if not right:
            mistakes.append(
                {
                    **pair,
                    "judge": "equal" if said else verdict["skip_reason"] or "different",
                    "differs": entry.get("differs"),
                }
            )
    by_trap = {trap: {"pairs": len(r), "accuracy": ratio(sum(r), len(r))} for trap, r in traps.items()}
    return PairCheck(
        len(pairs),
        ratio(strict, len(pairs)),
        ratio(unordered, len(pairs)),
        judged,
        ratio(judged_right, judged),
        confusion,
        by_trap,
        mistakes,
        time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shelltune.sandbox.pairs", description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="?", default=DEFAULT_PAIRS, help=f"labeled pairs (default: {DEFAULT_PAIRS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the built-in world's seed")
    parser.add_argument("--workers", type=int, default=2, help="sandboxes in parallel (default: 2)")
    parser.add_argument("--clock", help="the sandbox's clock (ISO 8601); default: execute.clock in params.yaml")
    parser.add_argument("--mistakes", action="store_true", help="list the pairs the judge got wrong")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)

    def entry() -> int:
        pairs = load_pairs(Path(args.pairs))
        scratch = Path(tempfile.mkdtemp(prefix="shelltune-pairs-"))
        try:
            world = build_builtin(
                args.seed, scratch / "world", instant_seconds(args.clock or load_params().execute.clock)
            )
            check = check_judge(pairs, world, workers=args.workers, progress="judge pairs")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print(check.summary())
        print(f"{check.seconds:.1f} s with {args.workers} workers")
        for miss in check.mistakes if args.mistakes else []:
            print(
                f"  [{miss['trap']}] {miss['reference']!r} vs {miss['prediction']!r}: labeled "
                f"{'equivalent' if miss['equivalent'] else 'different'}, judge {miss['judge']} {miss['differs'] or ''}"
            )
        return 0

    return run_cli(entry, args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
