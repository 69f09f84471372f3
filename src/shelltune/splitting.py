"""Turning a dataset into leak-free train/val/test splits (the split stage's library).

Every row is validated, its text normalized; exact and normalized duplicates and unsafe targets are
dropped (each with its reason), and the rest is split with the seed and fractions from params. Rows that
share an instruction or a command (after normalization) form one group, and a group never straddles two
splits, so nothing leaks from training into evaluation. Rows of training-only sources (`data.mix` with
`train_only: true`) join the train split after it is drawn, so adding them moves no other row; one that
shares a request or a command with a val or test row is dropped as a leak.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from shelltune.config import DataParams, Fractions, SplitParams
from shelltune.errors import ShelltuneError
from shelltune.formats import BadRow, Example
from shelltune.safety import scan_command

SPLITS = ("train", "val", "test")
DROP_REASONS = ("bad_row", "duplicate_exact", "duplicate_normalized", "duplicate_instruction", "unsafe", "leak")


@dataclass(frozen=True)
class Dropped:
    source: str
    reason: str
    detail: str
    instruction: str = ""
    command: str = ""

    def as_row(self) -> dict[str, str]:
        return {
            "source": self.source,
            "reason": self.reason,
            "detail": self.detail,
            "instruction": self.instruction,
            "command": self.command,
        }


@dataclass
class SplitResult:
    splits: dict[str, list[Example]]
    dropped: list[Dropped]
    rows_read: int
    groups: int
    train_only: int = 0  # rows of training-only sources in the train split
    metrics: dict[str, int | float] = field(default_factory=dict)


# ---------------------------------------------------------------- normalization

_SPACE = re.compile(r"\s+")


def normalize_instruction(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def normalize_command(text: str) -> str:
    """Trim, and collapse runs of blanks outside quotes (inside quotes, spacing is meaning)."""
    text = unicodedata.normalize("NFC", text).strip()
    out: list[str] = []
    quote, escaped, after_blank = "", False, True
    for ch in text:
        separator = False
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in " \t\n":
            separator = True
            if after_blank and ch != "\n":
                continue
            ch = " " if ch != "\n" else ch
        after_blank = separator
        out.append(ch)
    return "\n".join(line.strip() for line in "".join(out).split("\n"))


def instruction_key(text: str) -> str:
    """Identity of a request for dedup and leakage: case, spacing, quotes, final punctuation ignored."""
    key = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return key.strip(" \"'`").rstrip(" .?!").strip()


def command_key(text: str) -> str:
    return normalize_command(text).replace('"', "'")


def example_id(instruction: str, command: str) -> str:
    return hashlib.sha256(f"{instruction}\x1f{command}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------- pipeline steps (pure)


def collect_examples(rows: Iterable[Example | BadRow], on_bad_row: str) -> tuple[list[Example], list[Dropped], int]:
    """Normalize good rows; raise on the first bad row, or drop and record it with `skip`."""
    examples: list[Example] = []
    dropped: list[Dropped] = []
    count = 0
    for row in rows:
        count += 1
        if isinstance(row, BadRow):
            if on_bad_row == "error":
                raise ShelltuneError(f"{row.source}: {row.reason} (set data.on_bad_row: skip to drop such rows)")
            dropped.append(Dropped(row.source, "bad_row", row.reason))
            continue
        examples.append(Example(normalize_instruction(row.instruction), normalize_command(row.command), row.source))
    return examples, dropped, count


def deduplicate(examples: list[Example], mode: str) -> tuple[list[Example], list[Dropped]]:
    """Keep the first of each duplicate; `normalized` also treats one request with two targets as a duplicate."""
    kept: list[Example] = []
    dropped: list[Dropped] = []
    exact: dict[tuple[str, str], str] = {}
    normal: dict[str, tuple[str, str]] = {}
    for ex in examples:
        first = exact.get((ex.instruction, ex.command))
        ikey, ckey = instruction_key(ex.instruction), command_key(ex.command)
        if first is not None:
            dropped.append(Dropped(ex.source, "duplicate_exact", f"same as {first}", ex.instruction, ex.command))
        elif mode == "normalized" and ikey in normal:
            seen_source, seen_ckey = normal[ikey]
            reason = "duplicate_normalized" if seen_ckey == ckey else "duplicate_instruction"
            dropped.append(Dropped(ex.source, reason, f"same request as {seen_source}", ex.instruction, ex.command))
        else:
            exact[(ex.instruction, ex.command)] = ex.source
            normal.setdefault(ikey, (ex.source, ckey))
            kept.append(ex)
    return kept, dropped


def filter_unsafe(examples: list[Example], enabled: bool) -> tuple[list[Example], list[Dropped]]:
    if not enabled:
        return examples, []
    kept, dropped = [], []
    for ex in examples:
        finding = scan_command(ex.command)
        if finding is None or finding.level != "dangerous":
            kept.append(ex)  # a warning (`terraform destroy`) is a fair answer to a request that asks for it
        else:
            detail = f"{finding.category} ({finding.severity}): {finding.reason}"
            dropped.append(Dropped(ex.source, "unsafe", detail, ex.instruction, ex.command))
    return kept, dropped


def keys_of(ex: Example) -> tuple[str, str]:
    """What joins two rows into one group: the normalized request ("i:...") and command ("c:...")."""
    return "i:" + instruction_key(ex.instruction), "c:" + command_key(ex.command)


def group_examples(examples: list[Example]) -> list[list[Example]]:
    """Connected components of 'shares a normalized instruction or command', in input order."""
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, ex in enumerate(examples):
        for key in keys_of(ex):
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[Example]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(find(i), []).append(ex)
    return list(groups.values())


def assign_splits(groups: list[list[Example]], fractions: Fractions, seed: int) -> dict[str, list[Example]]:
    """Shuffle groups with the seed, then give each to the split furthest below its target size."""
    order = list(groups)
    random.Random(seed).shuffle(order)
    total = sum(len(g) for g in groups)
    target = {name: getattr(fractions, name) * total for name in SPLITS}
    splits: dict[str, list[Example]] = {name: [] for name in SPLITS}
    open_splits = [name for name in SPLITS if target[name] > 0]
    for group in order:
        name = max(open_splits, key=lambda s: target[s] - len(splits[s]))
        splits[name].extend(group)
    return splits


def drop_leaks(examples: list[Example], held_out: Iterable[Example]) -> tuple[list[Example], list[Dropped]]:
    """Training-only rows that share no normalized request or command with a held-out row."""
    keys = {key for ex in held_out for key in keys_of(ex)}
    kept, dropped = [], []
    for ex in examples:
        shared = [k for k in keys_of(ex) if k in keys]
        if shared:
            what = "request" if shared[0].startswith("i:") else "command"
            dropped.append(
                Dropped(ex.source, "leak", f"its {what} is in the val or test split", ex.instruction, ex.command)
            )
        else:
            kept.append(ex)
    return kept, dropped


def split_dataset(
    rows: Iterable[Example | BadRow],
    data: DataParams,
    split: SplitParams,
    seed: int,
    train_only: Iterable[Example | BadRow] = (),
) -> SplitResult:
    """Split `rows`; then add the `train_only` rows to the train split: those sharing a request or a command
    with a val or test row dropped as leaks first, the rest deduplicated against everything before them and
    safety-filtered. The split of `rows` is the same with or without them."""
    examples, dropped, rows_read = collect_examples(rows, data.on_bad_row)
    extra, extra_bad, extra_read = collect_examples(train_only, data.on_bad_row)
    examples, dupes = deduplicate(examples, split.dedup)
    examples, unsafe = filter_unsafe(examples, split.drop_unsafe)
    groups = group_examples(examples)
    splits = assign_splits(groups, split.fractions, seed)
    for name in SPLITS:
        if getattr(split.fractions, name) > 0 and not splits[name]:
            raise ShelltuneError(
                f"{data.path}: only {len(examples)} usable rows in {len(groups)} groups: "
                f"too few to fill the {name} split (split.fractions.{name})"
            )
    # leaks first: a row dropped for repeating a leaking row would be lost for nothing
    extra, leaks = drop_leaks(extra, splits["val"] + splits["test"])
    added = {id(ex) for ex in extra}
    kept, extra_dupes = deduplicate(examples + extra, split.dedup)  # the main rows are unique already
    extra, extra_unsafe = filter_unsafe([ex for ex in kept if id(ex) in added], split.drop_unsafe)
    splits["train"] += extra
    dropped += extra_bad + dupes + unsafe + leaks + extra_dupes + extra_unsafe
    result = SplitResult(splits, dropped, rows_read + extra_read, len(groups), train_only=len(extra))
    result.metrics = split_metrics(result)
    return result


def split_metrics(result: SplitResult) -> dict[str, int | float]:
    metrics: dict[str, int | float] = {"rows_read": result.rows_read}
    for reason in DROP_REASONS:
        metrics[f"dropped_{reason}"] = sum(1 for d in result.dropped if d.reason == reason)
    kept = sum(len(rows) for rows in result.splits.values())
    metrics["rows_kept"] = kept
    metrics["groups"] = result.groups
    metrics["train_only_rows"] = result.train_only
    for name in SPLITS:
        metrics[f"{name}_rows"] = len(result.splits[name])
    for name in SPLITS:
        metrics[f"{name}_fraction"] = round(len(result.splits[name]) / kept, 4) if kept else 0.0
    return metrics


def to_record(ex: Example) -> dict[str, str]:
    return {
        "id": example_id(ex.instruction, ex.command),
        "instruction": ex.instruction,
        "command": ex.command,
        "source": ex.source,
    }


def summary(result: SplitResult) -> str:
    m = result.metrics
    drops = ", ".join(f"{r} {m[f'dropped_{r}']}" for r in DROP_REASONS if m[f"dropped_{r}"])
    return (
        f"read {m['rows_read']} rows; dropped {len(result.dropped)} ({drops or 'none'}); "
        f"kept {m['rows_kept']} in {m['groups']} groups → "
        f"train {m['train_rows']} / val {m['val_rows']} / test {m['test_rows']}"
        + (f" (train includes {m['train_only_rows']} training-only rows)" if m["train_only_rows"] else "")
    )
