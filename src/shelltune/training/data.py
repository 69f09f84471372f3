"""Split rows → TRL's conversational prompt/completion examples, measured in tokens and length-checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.chat import to_prompt_completion
from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl


def build_examples(rows: list[dict[str, Any]], system: str) -> list[dict[str, Any]]:
    return [to_prompt_completion(system, row) for row in rows]


def example_lengths(tokenizer, examples: list[dict[str, Any]]) -> list[int]:
    """Tokens per example as the trainer will see it: chat template over prompt and completion."""
    texts = [tokenizer.apply_chat_template(e["prompt"] + e["completion"], tokenize=False) for e in examples]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def apply_overlong_policy(
    examples: list[dict[str, Any]], lengths: list[int], max_length: int, policy: str, split: str
) -> tuple[list[dict[str, Any]], int]:
    """Return the examples to train on and how many exceeded max_length."""
    overlong = [i for i, n in enumerate(lengths) if n > max_length]
    if overlong and policy == "error":
        first = overlong[0]
        raise ShelltuneError(
            f"{len(overlong)} {split} example(s) exceed train.max_length={max_length} tokens (the first is row "
            f"{first + 1}, {lengths[first]} tokens); raise train.max_length or set train.overlong to drop or truncate"
        )
    if policy == "drop":
        keep = set(range(len(examples))) - set(overlong)
        return [e for i, e in enumerate(examples) if i in keep], len(overlong)
    return examples, len(overlong)  # truncate: the trainer cuts at max_length


def split_files(processed: Path) -> dict[str, Path]:
    """The train and val files, which must exist."""
    files = {name: processed / f"{name}.jsonl" for name in ("train", "val")}
    for path in files.values():
        if not path.exists():
            raise ShelltuneError(f"{path}: not found; run the split stage first (dvc repro split)")
    return files


def load_examples(path: Path, tokenizer, system: str, max_length: int, policy: str, split: str):
    """(examples kept, token lengths of all rows, how many were over max_length) for one split file."""
    examples = build_examples(read_jsonl(path), system)
    lengths = example_lengths(tokenizer, examples)
    kept, overlong = apply_overlong_policy(examples, lengths, max_length, policy, split)
    return kept, lengths, overlong
