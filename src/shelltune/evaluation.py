"""Scoring generated commands against the test split and the extra evaluation sets: one record per row,
aggregated per model.

The validate stage generates with the base model and with base + adapter; `prediction_rows` extracts
each model's command and scores it (exact match, normalized match, command-name accuracy, token F1,
command-only rate, shell parse rate: `shelltune.metrics`), `summarize` aggregates per model. Extra sets
(`validate.extra_sets`, any format the split stage reads: the project's own people-written set by default)
are read here and scored the same way; their predictions go to `extra_predictions.jsonl` for the execute
and scan stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import DataParams, ExtraSet, Params
from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl
from shelltune.metrics import aggregate, extract_command, score, utility

MODELS = ("base", "tuned")
EXTRA_PREDICTIONS = "extra_predictions.jsonl"  # every extra set's records, each with its `set`


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


def mark_seen_utilities(records: list[dict[str, Any]], train_rows: list[dict[str, Any]]) -> None:
    """Mark each record whose reference's utility starts some training command: a model can hardly be
    expected to use a program it never saw, so errors are reported apart for the unseen ones."""
    seen = {utility(row["command"]) for row in train_rows}
    for record in records:
        record["gold_utility_seen"] = utility(record["gold"]) in seen


def summarize(records: list[dict[str, Any]], rows_key: str = "test_rows") -> dict[str, Any]:
    metrics: dict[str, Any] = {name: aggregate([r[f"{name}_scores"] for r in records]) for name in MODELS}
    metrics[rows_key] = len(records)
    metrics["exact_match_gain"] = round(metrics["tuned"]["exact_match"] - metrics["base"]["exact_match"], 4)
    return metrics


def load_extra_sets(params: Params) -> dict[str, list[dict[str, Any]]]:
    """Each extra set's rows (id `NAME-N`, instruction, command), read as the split stage reads data; the
    first `validate.limit` of them when it is set, as for the test split."""
    from shelltune.formats import Example, read_examples

    sets = {}
    for spec in params.validate.extra_sets:
        rows = []
        for row in read_examples(extra_data_params(params.data, spec)):
            if not isinstance(row, Example):
                if params.data.on_bad_row == "error":
                    raise ShelltuneError(f"{row.source}: {row.reason}")
                continue
            rows.append({"id": f"{spec.name}-{len(rows)}", "instruction": row.instruction, "command": row.command})
        if not rows:
            raise ShelltuneError(f"validate.extra_sets: {spec.name}: {spec.path} has no rows")
        sets[spec.name] = rows[: params.validate.limit] if params.validate.limit else rows
    return sets


def extra_data_params(data: DataParams, spec: ExtraSet) -> DataParams:
    """How to read an extra set: its own path, format and schema; field names and limits from `data` (read
    key by key: these are the `data` params the validate stage declares)."""
    return DataParams.model_validate(
        {
            "path": spec.path,
            "format": spec.format,
            "schema": spec.schema_,
            "fields": data.fields.model_dump(),
            "hf": data.hf.model_dump(),
            "on_bad_row": data.on_bad_row,
            "max_instruction_chars": data.max_instruction_chars,
            "max_command_chars": data.max_command_chars,
            "mix": [],
        }
    )


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


def load_train_rows(params: Params) -> list[dict[str, Any]]:
    path = Path(params.paths.processed) / "train.jsonl"
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; run the split stage first (dvc repro split)")
    return read_jsonl(path)


def format_table(metrics: dict[str, Any]) -> str:
    keys = list(metrics["base"])
    lines = [f"{'metric':<24}{'base':>8}{'tuned':>8}"]
    lines += [f"{key:<24}{metrics['base'][key]:>8.3f}{metrics['tuned'][key]:>8.3f}" for key in keys]
    return "\n".join(lines)
