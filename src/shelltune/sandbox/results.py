"""Reading the execute stage's outputs: the interface for the stages and reports that show them.

- `read_execution(reports)`: the metrics (`execute.json`) and the verdicts (`executions.jsonl`).
- `headline(metrics)`: (key, base, tuned) rows for a metrics table next to exact match.
- `witness_index(verdicts)`: each executed prediction's safety witness keyed by (model, request,
  command), the key the scan stage's findings use, so a report can show both verdicts side by side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl

METRICS_FILE = "execute.json"
VERDICTS_FILE = "executions.jsonl"
HEADLINE = ("execution_accuracy", "execution_accuracy_unordered", "coverage", "witness_rows")


def read_execution(reports: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    reports = Path(reports)
    metrics, verdicts = reports / METRICS_FILE, reports / VERDICTS_FILE
    for path in (metrics, verdicts):
        if not path.exists():
            raise ShelltuneError(f"{path}: not found; run the execute stage first (dvc repro execute)")
    return json.loads(metrics.read_text(encoding="utf-8")), read_jsonl(verdicts)


def headline(metrics: dict[str, Any], models: tuple[str, ...] = ("base", "tuned")) -> list[tuple[Any, ...]]:
    return [(key, *(metrics[m][key] for m in models)) for key in HEADLINE]


def witness_index(
    verdicts: list[dict[str, Any]], models: tuple[str, ...] = ("base", "tuned"), set_name: str = "test"
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(model, instruction, command) -> witness, for the executed rows of one set."""
    index = {}
    for verdict in verdicts:
        if verdict.get("set", "test") != set_name or not verdict["executed"]:
            continue
        for model in models:
            entry = verdict[model]
            index[(model, verdict["instruction"], entry["command"])] = entry["witness"]
    return index
