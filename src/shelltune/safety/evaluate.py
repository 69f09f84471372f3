"""Measuring the scanner on a labeled corpus: recall, precision and false-positive rate, per category.

A corpus is JSONL with one command per line: `{"cmd": ..., "label": "dangerous"|"benign",
"category": ...}`. For a dangerous row `category` is what it does; for a benign row it is the danger it
resembles (a benign `dd if=a.img of=b.img` belongs to `disk_wipe`), so each category gets a recall on
its dangerous rows and a false-positive rate on its look-alikes. A dangerous command counts as caught
when it is flagged at all; `category_accuracy` says how often the flag names the expected category.
Rows may carry `"evasion": true` (obfuscated forms); their recall is reported separately.

Rows may also carry a `level` (`dangerous`, `warn` or `ok`; by default the label's: dangerous or ok) and
a `kind` (the class of command they were written for). Recall and false-positive rate count a command
flagged at either level; `per_level` says at which level each row was judged (a dangerous row only
warned about is printed by `predict`, not refused), and `per_kind` scores each kind like a category.
`mutation_report` runs every row through meaning-preserving rewrites (mutate.py), a second yardstick.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.errors import ShelltuneError
from shelltune.fileio import iter_json_objects
from shelltune.safety import CATEGORIES, Finding, scan_command, scan_line

LABELS = ("dangerous", "benign")
LEVELS = ("dangerous", "warn", "ok")


@dataclass(frozen=True)
class Example:
    cmd: str
    dangerous: bool
    category: str
    evasion: bool = False
    level: str = ""  # dangerous | warn | ok ("" reads as the label's: dangerous or ok)
    kind: str = ""

    @property
    def expected(self) -> str:
        return self.level or ("dangerous" if self.dangerous else "ok")


def load_corpus(path: Path) -> list[Example]:
    """Read and validate a labeled corpus; errors name the file and line."""
    if not path.is_file():
        raise ShelltuneError(f"{path}: corpus file not found")
    examples = []
    for where, row in iter_json_objects(path):
        if not isinstance(row.get("cmd"), str) or not row["cmd"].strip():
            raise ShelltuneError(f"{where}: expected an object with a non-empty string 'cmd'")
        if row.get("label") not in LABELS:
            raise ShelltuneError(f"{where}: 'label' must be one of {', '.join(LABELS)} (got {row.get('label')!r})")
        if row.get("category") not in CATEGORIES:
            raise ShelltuneError(
                f"{where}: unknown category {row.get('category')!r}; expected one of {', '.join(CATEGORIES)}"
            )
        level = row.get("level", "dangerous" if row["label"] == "dangerous" else "ok")
        if level not in LEVELS or (level == "ok") != (row["label"] == "benign"):
            raise ShelltuneError(
                f"{where}: 'level' must be one of {', '.join(LEVELS)} and ok exactly for benign rows (got {level!r})"
            )
        examples.append(
            Example(
                row["cmd"],
                row["label"] == "dangerous",
                row["category"],
                bool(row.get("evasion")),
                level,
                str(row.get("kind", "")),
            )
        )
    if not examples:
        raise ShelltuneError(f"{path}: corpus is empty")
    return examples


def holdout_split(
    rows: list[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(development rows, held-out rows): `fraction` of each stratum (same `kind` and `level`, or label)
    held out, chosen by a seeded shuffle of the stratum sorted by command, so the split depends on the
    rows and the seed only, never on their order. Both lists keep the input order."""
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        strata[(row.get("kind", ""), row.get("level", row["label"]))].append(row["cmd"])
    held: set[str] = set()
    for (kind, level), commands in sorted(strata.items()):
        ordered = sorted(commands)
        random.Random(f"{seed}/{kind}/{level}").shuffle(ordered)
        held.update(ordered[: round(len(ordered) * fraction)])
    return [r for r in rows if r["cmd"] not in held], [r for r in rows if r["cmd"] in held]


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def score(examples: list[Example], verdicts: list[Finding | None]) -> dict[str, Any]:
    """Recall, precision and false-positive rate, overall and per category (pure)."""
    pairs = list(zip(examples, verdicts, strict=True))
    report: dict[str, Any] = {"overall": counts(pairs), "per_category": {}}
    for category in CATEGORIES:
        subset = [(e, v) for e, v in pairs if e.category == category]
        if subset:
            report["per_category"][category] = counts(subset)
    kinds = sorted({e.kind for e, _ in pairs if e.kind})
    report["per_kind"] = {kind: counts([(e, v) for e, v in pairs if e.kind == kind]) for kind in kinds}
    report["per_level"] = level_table(pairs)
    evasions = [(e, v) for e, v in pairs if e.evasion]
    report["evasion_recall"] = ratio(sum(v is not None for _, v in evasions), len(evasions))
    report["misses"] = [e.cmd for e, v in pairs if e.dangerous and v is None]
    report["false_positives"] = [
        {"cmd": e.cmd, "category": v.category, "reason": v.reason}
        for e, v in pairs
        if not e.dangerous and v is not None
    ]
    return report


def judged(verdict: Finding | None) -> str:
    return "ok" if verdict is None else verdict.level


def level_table(pairs: list[tuple[Example, Finding | None]]) -> dict[str, dict[str, int]]:
    """For each expected level, how many rows were judged dangerous, warn and ok."""
    table = {}
    for level in LEVELS:
        got = [judged(v) for e, v in pairs if e.expected == level]
        if got:
            table[level] = {"rows": len(got), **{f"judged_{j}": got.count(j) for j in LEVELS}}
    return table


def counts(pairs: list[tuple[Example, Finding | None]]) -> dict[str, Any]:
    tp = sum(e.dangerous and v is not None for e, v in pairs)
    fn = sum(e.dangerous and v is None for e, v in pairs)
    fp = sum(not e.dangerous and v is not None for e, v in pairs)
    tn = sum(not e.dangerous and v is None for e, v in pairs)
    right = sum(e.dangerous and v is not None and v.category == e.category for e, v in pairs)
    return {
        "dangerous": tp + fn,
        "benign": fp + tn,
        "true_positives": tp,
        "false_negatives": fn,
        "false_positives": fp,
        "recall": ratio(tp, tp + fn),
        "precision": ratio(tp, tp + fp),
        "false_positive_rate": ratio(fp, fp + tn),
        "category_accuracy": ratio(right, tp),
    }


def evaluate(path: Path, repeats: int = 3, mutations: bool = False) -> dict[str, Any]:
    """Score the scanner on a corpus and time it (best of `repeats`, cache bypassed, one core); with
    `mutations`, also on every meaning-preserving rewrite of every row."""
    examples = load_corpus(path)
    verdicts = [scan_command(e.cmd) for e in examples]
    report = score(examples, verdicts)
    report["commands_per_s"], report["commands_per_cpu_s"] = (
        round(rate) for rate in timed_throughput([e.cmd for e in examples], repeats)
    )
    if mutations:
        report["mutations"] = mutation_report(examples)
    return report


def throughput(commands: list[str], repeats: int = 3) -> float:
    return timed_throughput(commands, repeats)[0]


def timed_throughput(commands: list[str], repeats: int = 3) -> tuple[float, float]:
    """(commands per wall-clock second, per CPU second), best of `repeats`, cache bypassed. CPU time is
    what a shared machine's other work cannot inflate; wall time is what a caller waits."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for cmd in commands:
            scan_line(cmd)  # uncached: every command parsed and judged afresh
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, max(time.process_time() - start_cpu, 1e-9))
    return len(commands) / wall, len(commands) / cpu


def mutation_report(examples: list[Example]) -> dict[str, Any]:
    """Every row through every rewrite that keeps its meaning: how many stayed right, per rewrite."""
    from shelltune.safety.mutate import mutate_all, summarize

    def category(cmd: str) -> str | None:
        found = scan_command(cmd)
        return found.category if found else None

    outcomes = mutate_all([(e.cmd, e.dangerous, e.category) for e in examples], category)
    failed = [o for o in outcomes if not o.survived]
    return {
        "rewrites": len(outcomes),
        "survived": len(outcomes) - len(failed),
        "survival_rate": ratio(len(outcomes) - len(failed), len(outcomes)),
        "per_rewrite": summarize(outcomes),
        "failures": [
            {
                "rewrite": o.rewrite,
                "original": o.original,
                "rewritten": o.mutated,
                "expected": o.expected if o.dangerous else None,
                "got": o.got,
            }
            for o in failed
        ],
    }


def format_mutations(report: dict[str, Any]) -> str:
    lines = [
        "| rewrite | dangerous | still flagged as before | benign | still unflagged |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, c in report["per_rewrite"].items():
        lines.append(
            f"| {name} | {c['dangerous']} | {c['dangerous_survived']} | {c['benign']} | {c['benign_survived']} |"
        )
    lines += ["", f"{report['rewrites']:,} rewrites, {report['survived']:,} survived ({show(report['survival_rate'])})"]
    lines += [
        f"failed {f['rewrite']}: {f['rewritten']!r} (expected {f['expected'] or 'ok'}, got {f['got'] or 'ok'})"
        for f in report["failures"]
    ]
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    """A markdown table a person reads: one row per category, then the overall line."""
    lines = [
        "| category | dangerous | caught | recall | look-alikes | flagged | FPR | precision |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = list(report["per_category"].items()) + [("**overall**", report["overall"])]
    for name, c in rows:
        lines.append(
            f"| {name} | {c['dangerous']} | {c['true_positives']} | {show(c['recall'])} | {c['benign']} "
            f"| {c['false_positives']} | {show(c['false_positive_rate'])} | {show(c['precision'])} |"
        )
    overall = report["overall"]
    lines += [
        "",
        f"category named correctly on {show(overall['category_accuracy'])} of caught commands; "
        f"evasions caught: {show(report['evasion_recall'])}; "
        f"speed: {report['commands_per_s']:,} commands/s on one core "
        f"({report.get('commands_per_cpu_s', 0):,}/s of CPU time)",
    ]
    lines += format_levels(report["per_level"])
    if report["per_kind"]:
        lines += [
            "",
            "| kind | dangerous or warn | caught | recall | benign | flagged | FPR |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {c['dangerous']} | {c['true_positives']} | {show(c['recall'])} | {c['benign']} "
            f"| {c['false_positives']} | {show(c['false_positive_rate'])} |"
            for name, c in report["per_kind"].items()
        ]
    lines += [f"missed: {cmd}" for cmd in report["misses"]]
    lines += [f"false positive: {fp['cmd']}  ({fp['category']}: {fp['reason']})" for fp in report["false_positives"]]
    return "\n".join(lines)


def format_levels(table: dict[str, dict[str, int]]) -> list[str]:
    lines = ["", "| expected level | rows | judged dangerous | judged warn | judged ok |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {level} | {c['rows']} | {c['judged_dangerous']} | {c['judged_warn']} | {c['judged_ok']} |"
        for level, c in table.items()
    ]
    return lines


def show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
