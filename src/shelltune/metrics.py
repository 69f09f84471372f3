"""Task metrics for generated shell commands: pure functions over (prediction, gold) strings."""

from __future__ import annotations

import re
import shlex
from collections import Counter

import bashlex

from shelltune.safety.shellwords import program, split_segments, unwrap

FENCE = re.compile(r"```[a-zA-Z0-9_-]*\n?(.*?)```", re.S)
PROSE = re.compile(
    r"^(here( is|'s)|this (command|will)|the (command|following)|you can|to \w+|use |run |try |"
    r"note|explanation|output|sure|certainly|answer)\b",
    re.I,
)


def extract_command(output: str) -> str:
    """The command inside a model's answer: code fences, shell prompts, backticks and prose removed."""
    text = output.strip()
    fenced = FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.endswith(":") or PROSE.match(line):
            continue
        line = re.sub(r"^\$\s+", "", line)
        if len(line) > 1 and line.startswith("`") and line.endswith("`"):
            line = line.strip("`").strip()
        return line
    return ""


def is_command_only(output: str) -> bool:
    """One line that is itself the command: no fences, no prose, no prompt sign."""
    stripped = output.strip()
    return bool(stripped) and "\n" not in stripped and extract_command(stripped) == stripped


def parses(command: str) -> bool:
    if not command.strip():
        return False
    try:
        bashlex.parse(command)
    except Exception:  # bashlex raises its own ParsingError and, on odd input, others
        return False
    return True


def shell_words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def canonical(command: str) -> tuple[tuple[str, ...], ...]:
    """Equivalent spellings compare equal: spacing, quoting, and short-flag order or grouping (-la = -al = -l -a)."""
    result = []
    for segment in split_segments(command):
        words: list[str] = []
        for word in (w for w in segment if w != "|"):
            if re.fullmatch(r"-[A-Za-z]{2,}", word):
                words.extend(f"-{letter}" for letter in word[1:])
            else:
                words.append(word)
        result.append(tuple(_sort_flag_runs(words)))
    return tuple(result)


def _sort_flag_runs(words: list[str]) -> list[str]:
    """Sort each run of adjacent single-letter flags, so their order does not matter."""
    out: list[str] = []
    run: list[str] = []
    for word in words:
        if re.fullmatch(r"-[A-Za-z]", word):
            run.append(word)
            continue
        out.extend(sorted(run))
        run = []
        out.append(word)
    return out + sorted(run)


def utility(command: str) -> str:
    for segment in split_segments(command):
        words = unwrap(segment)
        if words:
            return program(words[0])
    return ""


def token_f1(prediction: str, gold: str) -> float:
    """F1 over shell words: partial credit in [0, 1] for nearly right commands."""
    pred, ref = Counter(shell_words(prediction)), Counter(shell_words(gold))
    if not pred or not ref:
        return float(pred == ref)
    overlap = sum((pred & ref).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def score(output: str, gold: str) -> dict[str, float]:
    """Per-row scores, each in [0, 1]."""
    command = extract_command(output)
    return {
        "exact_match": float(command == gold.strip()),
        "normalized_match": float(bool(command) and canonical(command) == canonical(gold)),
        "command_name_accuracy": float(bool(command) and utility(command) == utility(gold)),
        "token_f1": round(token_f1(command, gold), 4),
        "command_only": float(is_command_only(output)),
        "parse_rate": float(parses(command)),
    }


METRIC_KEYS = ("exact_match", "normalized_match", "command_name_accuracy", "token_f1", "command_only", "parse_rate")


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(sum(r[key] for r in rows) / len(rows), 4) if rows else 0.0 for key in METRIC_KEYS}
