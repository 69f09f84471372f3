"""What the fine-tuned model still gets wrong, by kind: the error analysis `report.md` shows per set.

A row is wrong when its command ran in the sandbox and did not do what the reference did (judged by meaning:
the same effects and the same answer in another presentation count as right), or, where the
sandbox could not judge the row (network, root, packages...), when it is not the reference up to spelling
(`normalized_match`). Each wrong row gets the first kind that fits, in this order.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from shelltune.metrics import REFUSAL, shell_words, utility
from shelltune.reporting.summary import cell, code

KINDS = {
    "no_command": "no command (prose, or nothing)",
    "refused": "refused a harmless request",
    "refusal_wording": "refused, as the reference does, in other words",
    "wrong_utility": "another utility than the reference's",
    "options": "the right utility, other options",
    "arguments": "the right utility and options, other files or values",
    "same_words": "the same words in another order or form",
}


def error_kind(gold: str, command: str) -> str:
    if not command.strip():
        return "no_command"
    if REFUSAL.match(command):
        return "refusal_wording" if REFUSAL.match(gold) else "refused"
    if utility(command) != utility(gold):
        return "wrong_utility"
    ours, theirs = shell_words(command), shell_words(gold)
    if sorted(w for w in ours if w.startswith("-")) != sorted(w for w in theirs if w.startswith("-")):
        return "options"
    if sorted(ours) != sorted(theirs):
        return "arguments"
    return "same_words"


def is_wrong(record: dict[str, Any], verdict: dict[str, Any] | None, model: str = "tuned") -> bool:
    """Wrong by the sandbox where it judged the row, by the normalized comparison where it could not."""
    if verdict is not None and verdict.get("executed"):
        entry = verdict[model]
        return not entry.get("match_semantic", entry["match"])
    return not record[f"{model}_scores"]["normalized_match"]


def wrong_rows(records: list[dict[str, Any]], verdicts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The fine-tuned model's wrong rows, each with its kind."""
    return [
        {**r, "kind": error_kind(r["gold"], r["tuned_command"])} for r in records if is_wrong(r, verdicts.get(r["id"]))
    ]


def errors_section(sets: dict[str, tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]]) -> str:
    """The report's section: per set, how many rows are wrong and of which kind, and two examples a kind.
    `sets` maps a set name to its prediction records and its execution verdicts by row id."""
    wrong = {name: wrong_rows(records, verdicts) for name, (records, verdicts) in sets.items()}
    names = list(sets)
    header = "| kind | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names)
    counts = {name: Counter(r["kind"] for r in rows) for name, rows in wrong.items()}
    lines = [
        f"| {KINDS[kind]} | "
        + " | ".join(f"{counts[n][kind]} ({counts[n][kind] / max(len(sets[n][0]), 1):.0%})" for n in names)
        + " |"
        for kind in KINDS
    ]
    totals = " | ".join(f"**{len(wrong[n])} of {len(sets[n][0])}**" for n in names)
    unseen = " | ".join(f"{sum(1 for r in wrong[n] if not r.get('gold_utility_seen', True))}" for n in names)
    examples = []
    for kind in KINDS:
        for name in names:
            for r in [r for r in wrong[name] if r["kind"] == kind][:2]:
                request, gold, command = cell(r["instruction"]), code(r["gold"]), code(r["tuned_command"])
                examples.append(f"| {KINDS[kind]} | {name} | {request} | {gold} | {command} |")
    return f"""## What the fine-tuned model still gets wrong

A row counts as wrong when its command did something else than the reference in the sandbox (judged by
meaning, not presentation), or, where the sandbox could not judge it, when it is not the reference up to
spelling.

{header}
{chr(10).join(lines)}
| wrong in all | {totals} |
| of which the reference's utility is never in the training data | {unseen} |

| kind | set | request | reference | fine-tuned |
|---|---|---|---|---|
{chr(10).join(examples)}
"""
