"""Scoring generated commands against the test split: one record per row, aggregated per model.

The validate stage generates with the base model and with base + adapter; `prediction_rows` extracts
each model's command and scores it (exact match, normalized match, command-name accuracy, token F1,
command-only rate, shell parse rate: `shelltune.metrics`), `summarize` aggregates per model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl
from shelltune.metrics import aggregate, extract_command, score

MODELS = ("base", "tuned")


def prediction_rows(rows: list[dict[str, Any]], outputs: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One record per test row: the request, the gold command, each model's raw output, command and scores."""
    records = []
    for i, row in enumerate(rows):
        record: dict[str, Any] = {"id": row["id"], "instruction": row["instruction"], "gold": row["command"]}
        for name in MODELS:
            text = outputs[name][i]
            record[f"{name}_output"] = text
            record[f"{name}_command"] = extract_command(text)
            record[f"{name}_scores"] = score(text, row["command"])
        records.append(record)
    return records


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    metrics: dict[str, Any] = {name: aggregate([r[f"{name}_scores"] for r in records]) for name in MODELS}
    metrics["test_rows"] = len(records)
    metrics["exact_match_gain"] = round(metrics["tuned"]["exact_match"] - metrics["base"]["exact_match"], 4)
    return metrics


def load_test_rows(params: Params) -> list[dict[str, Any]]:
    path = Path(params.paths.processed) / "test.jsonl"
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; run the split stage first (dvc repro split)")
    rows = read_jsonl(path)
    if params.validate.limit:
        rows = rows[: params.validate.limit]
    if not rows:
        raise ShelltuneError(f"{path}: the test split is empty (split.fractions.test is 0?)")
    return rows


def format_table(metrics: dict[str, Any]) -> str:
    keys = list(metrics["base"])
    lines = [f"{'metric':<24}{'base':>8}{'tuned':>8}"]
    lines += [f"{key:<24}{metrics['base'][key]:>8.3f}{metrics['tuned'][key]:>8.3f}" for key in keys]
    return "\n".join(lines)
