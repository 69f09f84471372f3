"""Task metrics for generated shell commands: pure functions over (prediction, gold) strings."""

from __future__ import annotations

import re
import shlex
from collections import Counter

import bashlex

from shelltune.safety.shellwords import program, split_segments, unwrap

# A fence line: ``` or ```bash (a chatty model's block may never close). A block in another language holds no
# shell command (```python, ```sql, ```html).
FENCE = re.compile(r"^```\s*([\w+-]*)")
SHELL_FENCES = {"", "bash", "sh", "shell", "zsh", "console", "terminal", "shell-session", "shellsession"}
PROSE = re.compile(
    r"^(here( is|'s)|this (command|will)|the (command|following)|you can|to \w+|use |run |try |"
    r"note|explanation|output|sure|certainly|answer)\b",
    re.I,
)
# A sentence, not a command: a capitalised English word first ("The", "I'm", "Sure,") and another word after.
SENTENCE = re.compile(r"^[A-Z][a-z]*(?:'[a-z]+)?[,.!?]?\s+\S")
PROMPT_SIGN = re.compile(r"^(?:\$|[\w.-]+@[\w.-]+:\S*[$#])\s+")  # "$ ls", "user@host:~$ ls"
# The answer the model is taught for a harmful request (shelltune.embedded.SAFE_RESPONSES): a comment, so it
# runs nothing, and the answer itself rather than a remark around a command.
REFUSAL = re.compile(r"^#\s*refused\b", re.I)
INLINE_CODE = re.compile(r"`([a-z][\w.+-]*\s[^`]+)`")  # `wc -l a.txt` inside a sentence: a program and more


def extract_command(output: str) -> str:
    """The first real command in a model's answer.

    Chatty answers wrap it in prose, fences (closed or cut off by the token limit), shell prompts and
    backticks, and open blocks with shebangs and comments: all of those are skipped, in order. A sentence
    is not a command; when no line is one, a command quoted inline in a sentence (`wc -l a.txt`) is taken.
    A refusal (`# refused: why`) is an answer of its own and is returned as it is.
    """
    inline = ""
    fence: str | None = None  # the open block's language
    for raw in output.splitlines():
        line = raw.strip()
        opening = FENCE.match(line)
        if opening:
            fence = opening.group(1).lower() if fence is None else None
            continue
        if REFUSAL.match(line) and (fence is None or fence in SHELL_FENCES):
            return line
        if not line or line.startswith("#") or (fence is not None and fence not in SHELL_FENCES):
            continue  # blank, a shebang, a comment, or code in another language
        line = PROMPT_SIGN.sub("", line)
        if len(line) > 1 and line.startswith("`") and line.endswith("`") and line.count("`") == 2:
            line = line.strip("`").strip()
        if not is_prose(line):
            return line
        if fence is None:
            inline = inline or next(iter(INLINE_CODE.findall(line)), "").strip()
    return inline


def is_prose(line: str) -> bool:
    """A line of explanation around a command: a lead-in ending in a colon, a sentence, or markup."""
    markup = line.startswith("<") and line.endswith(">")
    return markup or line.endswith(":") or bool(PROSE.match(line) or SENTENCE.match(line))


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
