"""A labeled check of the judges: command pairs a person labeled equivalent or not, run through the same
evaluation as the test set (reference twice, prediction once, skips included).

A judge "says equivalent" only when the row was executed and matched; a skip is a "not equivalent"
answer (it never counts a match), so a skipped pair labeled equivalent is a miss. Accuracy, recall (on the
pairs labeled equivalent) and specificity (on the others) are reported for the strict judge and the
semantic one, over all pairs and per part: `calibration` (what the semantic judge was tuned on) and
`holdout` (whole kinds of pairs set aside before tuning).

    python -m shelltune.sandbox.pairs tests/data/judge_pairs.jsonl --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
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


JUDGES = ("strict", "semantic")


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
    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # judge -> part -> figures

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
            f"{'judge':<10}{'part':<13}{'pairs':>6}{'accuracy':>10}{'recall':>8}{'specificity':>13}",
        ]
        for judge, parts in self.scores.items():
            lines += [
                f"{judge:<10}{part:<13}{int(row['pairs']):>6}{row['accuracy']:>10.3f}{row['recall']:>8.3f}"
                f"{row['specificity']:>13.3f}"
                for part, row in parts.items()
            ]
        lines.append(f"{'trap':<16}{'pairs':>6}{'strict':>8}{'semantic':>10}")
        lines += [
            f"{trap:<16}{int(row['pairs']):>6}{row['accuracy']:>8.3f}{row['accuracy_semantic']:>10.3f}"
            for trap, row in sorted(self.by_trap.items())
        ]
        return "\n".join(lines)

    def metrics(self) -> dict[str, Any]:
        """The figures the execute stage writes (execute.json's `judge`)."""
        return {"pairs": self.pairs, **self.scores}


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
    """Both judges' verdicts on the labeled pairs: accuracy, recall on the equivalent pairs and specificity
    on the others, over all pairs and per part (`split`: calibration, holdout) when the pairs have one."""
    started = time.perf_counter()
    rows = [
        EvalRow(f"pair-{i}", p.get("why", ""), p["reference"], {"prediction": p["prediction"]})
        for i, p in enumerate(pairs)
    ]
    report = evaluate(rows, world, limits or Limits(), workers=workers, progress=progress)
    said: dict[str, list[bool]] = {judge: [] for judge in (*JUDGES, "unordered")}
    for verdict in report.verdicts:
        entry = verdict["prediction"]
        for judge, key in (("strict", "match"), ("semantic", "match_semantic"), ("unordered", "match_unordered")):
            said[judge].append(bool(verdict["executed"] and entry[key]))
    labels = [p["equivalent"] for p in pairs]
    strict = [s == label for s, label in zip(said["strict"], labels, strict=True)]
    judged = [v["executed"] for v in report.verdicts]
    confusion = {"true_positive": 0, "false_negative": 0, "true_negative": 0, "false_positive": 0}
    traps: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    mistakes = []
    for pair, verdict, says, semantic, right in zip(
        pairs, report.verdicts, said["strict"], said["semantic"], strict, strict=True
    ):
        confusion[("true_" if right else "false_") + ("positive" if says else "negative")] += 1
        traps[pair.get("trap", "")].append((right, semantic == pair["equivalent"]))
        if not right or semantic != pair["equivalent"]:
            mistakes.append(
                {
                    **pair,
                    "judge": "equal" if says else verdict["skip_reason"] or "different",
                    "semantic": "equal" if semantic else verdict["skip_reason"] or "different",
                    "differs": verdict["prediction"].get("differs"),
                }
            )
    parts = {"all": list(range(len(pairs)))}
    for part in sorted({p["split"] for p in pairs if p.get("split")}):
        parts[part] = [i for i, p in enumerate(pairs) if p.get("split") == part]
    scores = {judge: {name: score(said[judge], labels, index) for name, index in parts.items()} for judge in JUDGES}
    by_trap = {
        trap: {
            "pairs": len(r),
            "accuracy": ratio(sum(a for a, _ in r), len(r)),
            "accuracy_semantic": ratio(sum(b for _, b in r), len(r)),
        }
        for trap, r in traps.items()
    }
    unordered = [s == label for s, label in zip(said["unordered"], labels, strict=True)]
    return PairCheck(
        len(pairs),
        ratio(sum(strict), len(pairs)),
        ratio(sum(unordered), len(pairs)),
        sum(judged),
        ratio(sum(r for r, j in zip(strict, judged, strict=True) if j), sum(judged)),
        confusion,
        by_trap,
        mistakes,
        time.perf_counter() - started,
        scores,
    )


def score(said: list[bool], labels: list[bool], index: list[int]) -> dict[str, float]:
    """Accuracy, recall (equivalent pairs called equal) and specificity (the others called different or
    skipped) over the pairs at `index`."""
    positives = [i for i in index if labels[i]]
    negatives = [i for i in index if not labels[i]]
    return {
        "pairs": len(index),
        "accuracy": ratio(sum(said[i] == labels[i] for i in index), len(index)),
        "recall": ratio(sum(said[i] for i in positives), len(positives)),
        "specificity": ratio(sum(not said[i] for i in negatives), len(negatives)),
    }


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
                f"  [{miss['trap']}/{miss.get('split', '-')}] {miss['reference']!r} vs {miss['prediction']!r}: "
                f"labeled {'equivalent' if miss['equivalent'] else 'different'}, strict {miss['judge']}, "
                f"semantic {miss['semantic']} {miss['differs'] or ''}"
            )
        return 0

    return run_cli(entry, args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
