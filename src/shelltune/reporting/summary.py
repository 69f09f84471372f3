"""`report.md`: the one page a reviewer reads (data, training, metrics, safety, example predictions)."""

from __future__ import annotations

from typing import Any

from shelltune.metrics import METRIC_KEYS

HEADLINE = "headline.json"


def headline_metrics(
    train: dict[str, Any], validate: dict[str, Any], execute: dict[str, Any], scan: dict[str, Any]
) -> dict[str, Any]:
    """The handful of numbers a reviewer decides on, in `<paths.reports>/headline.json`: what the first
    columns of `dvc exp show` and all of `dvc metrics show` are, short enough that both fit 160 columns.
    Base and fine-tuned sit side by side; every other number stays in its stage's file.

    - `exec`: execution accuracy on the test split, the share of its executable rows whose command did
      what the reference did in the sandbox; `exact`: the share of test rows answered with the reference;
    - `NAME_exec`: execution accuracy on each extra set (`validate.extra_sets`: the people-written set by
      default), the requests the training templates did not write;
    - `dangerous_rate`: the fine-tuned model's test-set commands the safety scanner flags (the scan gate);
    - `eval_loss`: the final loss on the validation split."""
    models = ("base", "tuned")
    return {
        "exec": {m: execute[m]["execution_accuracy"] for m in models},
        "exact": {m: validate[m]["exact_match"] for m in models},
        **{
            f"{name}_exec": {m: s[m]["execution_accuracy"] for m in models}
            for name, s in execute.get("extra", {}).items()
        },
        "dangerous_rate": scan["test_tuned_dangerous_rate"],
        "eval_loss": train["eval"]["loss"],
    }


def execution_section(execute: dict[str, Any], scan: dict[str, Any], unflagged: list[dict[str, Any]]) -> str:
    """What the sandbox saw: execution accuracy next to exact match, why rows were skipped, and the commands
    whose runs touched more than their task although the static scanner let them through."""
    keys = (
        "execution_accuracy",
        "execution_accuracy_semantic",
        "execution_accuracy_unordered",
        "coverage",
        "executed",
        "witness_rows",
    )
    rows = "\n".join(f"| {k} | {execute['base'][k]} | {execute['tuned'][k]} |" for k in keys)
    skipped = ", ".join(f"{reason} {n}" for reason, n in execute["tuned"]["skipped"].items() if n) or "none"
    witness = "\n".join(
        f"| {cell(r['instruction'])} | {code(r['command'])} | {cell(describe_witness(r['witness']), 60)} |"
        for r in unflagged
    )
    table = (
        f"| request | fine-tuned command | outside the task |\n|---|---|---|\n{witness}"
        if unflagged
        else "Every prediction whose run reached outside its task was also flagged by the scanner."
    )
    return f"""## Execution in a sandbox

{execute["rows"]} test rows; {execute["tuned"]["executed"]} executed (reference run twice, each prediction once, in
fresh copies of the fixture world); skipped: {skipped}.

| metric | base | fine-tuned |
|---|---:|---:|
{rows}

![execution](plots/execution.png)

The sandbox as a safety witness: {scan.get("test_tuned_sandbox_witnessed", 0)} fine-tuned predictions changed
files or processes outside their task; {scan.get("test_tuned_witnessed_not_flagged", 0)} of them were not flagged
by the static scanner:

{table}
"""


def extra_sets_section(validate: dict[str, Any], execute: dict[str, Any]) -> str:
    """Each extra evaluation set (the people-written set by default): task metrics and execution, base vs
    fine-tuned, on requests the training templates did not write."""
    parts = []
    for name, metrics in validate.get("extra", {}).items():
        executed = execute.get("extra", {}).get(name)
        rows = [metric_row(k, metrics["base"][k], metrics["tuned"][k]) for k in METRIC_KEYS]
        if executed:
            for k in ("execution_accuracy", "execution_accuracy_semantic"):
                rows.append(metric_row(k, executed["base"][k], executed["tuned"][k]))
            coverage = f"; {executed['tuned']['executed']} of them executed in the sandbox"
        else:
            coverage = ""
        parts.append(
            f"""## The `{name}` set: base vs fine-tuned

{metrics["rows"]} requests from `validate.extra_sets` that the training templates did not write{coverage}.

| metric | base | fine-tuned | change |
|---|---:|---:|---:|
{chr(10).join(rows)}
"""
        )
    return "\n".join(parts)


def metric_row(name: str, base: float, tuned: float) -> str:
    return f"| {name} | {base:.3f} | {tuned:.3f} | {tuned - base:+.3f} |"


def describe_witness(witness: dict[str, Any]) -> str:
    parts = [f"{k} {len(witness[k])}" for k in ("deleted", "created", "modified", "processes_stopped") if witness[k]]
    if witness.get("limit"):
        parts.append(f"limit {witness['limit']}")
    return ", ".join(parts)


def report_markdown(
    split: dict[str, Any],
    train: dict[str, Any],
    validate: dict[str, Any],
    execution: str,
    scan: dict[str, Any],
    examples: list[dict[str, Any]],
    extra: str = "",
    errors: str = "",
) -> str:
    rows = "\n".join(metric_row(k, validate["base"][k], validate["tuned"][k]) for k in METRIC_KEYS)
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

{execution}
{extra}
{errors}
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
