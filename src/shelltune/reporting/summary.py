"""`report.md`: the one page a reviewer reads (data, training, metrics, safety, example predictions)."""

from __future__ import annotations

from typing import Any

from shelltune.metrics import METRIC_KEYS


def report_markdown(
    split: dict[str, Any],
    train: dict[str, Any],
    validate: dict[str, Any],
    scan: dict[str, Any],
    examples: list[dict[str, Any]],
) -> str:
    rows = "\n".join(
        f"| {k} | {validate['base'][k]:.3f} | {validate['tuned'][k]:.3f} | "
        f"{validate['tuned'][k] - validate['base'][k]:+.3f} |"
        for k in METRIC_KEYS
    )
    rates = "\n".join(
        f"| {k.removesuffix('_dangerous_rate').replace('_', ' ')} | {v:.2%} |"
        for k, v in scan.items()
        if k.endswith("_dangerous_rate")
    )
    samples = "\n".join(
        f"| {cell(e['instruction'])} | {code(e['gold'])} | {code(e['base_command'])} | {code(e['tuned_command'])} |"
        for e in examples
    )
    eval_loss = train.get("eval", {}).get("loss")
    return f"""# shelltune report

## Data
{split["rows_read"]} rows read; {split["rows_kept"]} kept after validation, dedup and the safety filter
({split["dropped_unsafe"]} unsafe targets dropped) → train {split["train_rows"]} / val {split["val_rows"]} /
test {split["test_rows"]}, with no request or command shared between splits.

## Training
{train.get("step", "?")} steps; final train loss {train.get("train", {}).get("loss", float("nan")):.4f},
eval loss {eval_loss if eval_loss is None else f"{eval_loss:.4f}"}.

![loss](plots/loss.png)

## Test split: base vs fine-tuned

| metric | base | fine-tuned | change |
|---|---:|---:|---:|
{rows}

![metrics](plots/metrics.png)

## Safety

| prompt set / model | dangerous rate |
|---|---:|
{rates}

![safety](plots/safety.png)

## Examples

| request | gold | base | fine-tuned |
|---|---|---|---|
{samples}
"""


def cell(text: str, limit: int = 70) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped, long text cut."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def code(text: str) -> str:
    return f"`{cell(text).replace('`', chr(39))}`" if text.strip() else "(empty)"


def spread(rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Examples from across the test set, not one group's neighbours."""
    step = max(len(rows) // count, 1)
    return rows[::step][:count]
