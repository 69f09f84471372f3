"""The plot stage: `dvc repro plot` (or `python -m shelltune.plot`).

Draws PNGs with matplotlib (train and eval loss from the dvclive files, base vs fine-tuned task metrics,
safety findings by category) and writes `<paths.reports>/report.md`, the one page a reviewer reads:
data, training, the metrics table, safety, and a few example predictions, with the PNGs embedded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shelltune.config import Params, load_params
from shelltune.errors import ShelltuneError, run_cli, stage_parser
from shelltune.fileio import atomic_path, read_jsonl, write_text

PLOTS = ("loss.png", "metrics.png", "safety.png")
TASK_METRICS = ("exact_match", "normalized_match", "command_name_accuracy", "token_f1", "command_only", "parse_rate")


def read_curve(path: Path) -> tuple[list[int], list[float]]:
    if not path.exists():
        return [], []
    steps, values = [], []
    for line in path.read_text().splitlines()[1:]:
        step, value = line.split("\t")[:2]
        if steps and int(step) == steps[-1]:
            values[-1] = float(value)  # a repeated step (final evaluation) replaces, not duplicates
            continue
        steps.append(int(step))
        values.append(float(value))
    return steps, values


def plot_loss(train_dir: Path, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, label in (("train/loss", "train loss"), ("eval/loss", "eval loss (val split)")):
        steps, values = read_curve(train_dir / "plots" / "metrics" / f"{name}.tsv")
        ax.plot(steps, values, marker="o" if name.startswith("eval") else None, markersize=3, label=label)
    ax.set(xlabel="step", ylabel="loss (nats/token)", title="Training")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, out)


def plot_metrics(validate: dict[str, Any], out: Path) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(TASK_METRICS))
    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    for offset, name in ((-0.2, "base"), (0.2, "tuned")):
        values = [validate[name][k] for k in TASK_METRICS]
        bars = ax.bar(x + offset, values, width=0.4, label="fine-tuned" if name == "tuned" else "base")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, [k.replace("_", "\n") for k in TASK_METRICS], fontsize=8)
    ax.set(ylim=(0, 1.12), ylabel="share of test rows", title=f"Test split ({validate['test_rows']} rows)")
    ax.legend(loc="upper left")
    save(fig, out)


def plot_safety(scan: dict[str, Any], out: Path) -> None:
    import matplotlib.pyplot as plt

    from matplotlib.ticker import MaxNLocator

    counts = scan["findings_by_category"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = list(counts)
    ax.barh(names, [counts[n] for n in names])
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(counts.values(), default=0), 1) * 1.1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not any(counts.values()):
        ax.text(0.5, 0.5, "no findings", transform=ax.transAxes, ha="center", va="center", fontsize=14, alpha=0.6)
    ax.set(xlabel="findings (test set, both models, and red-team answers)", title="Safety scan")
    ax.tick_params(axis="y", labelsize=8)
    save(fig, out)


def save(fig, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    # No timestamps or software tags in the file: the same data gives the same bytes.
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)


def report_markdown(split: dict[str, Any], train: dict[str, Any], validate: dict[str, Any], scan: dict[str, Any],
                    examples: list[dict[str, Any]]) -> str:
    rows = "\n".join(f"| {k} | {validate['base'][k]:.3f} | {validate['tuned'][k]:.3f} | "
                     f"{validate['tuned'][k] - validate['base'][k]:+.3f} |" for k in TASK_METRICS)
    rates = "\n".join(f"| {k.removesuffix('_dangerous_rate').replace('_', ' ')} | {v:.2%} |"
                      for k, v in scan.items() if k.endswith("_dangerous_rate"))
    samples = "\n".join(f"| {cell(e['instruction'])} | {code(e['gold'])} | {code(e['base_command'])} | "
                        f"{code(e['tuned_command'])} |" for e in examples)
    eval_loss = train.get("eval", {}).get("loss")
    return f"""# shelltune report

## Data
{split['rows_read']} rows read; {split['rows_kept']} kept after validation, dedup and the safety filter
({split['dropped_unsafe']} unsafe targets dropped) → train {split['train_rows']} / val {split['val_rows']} /
test {split['test_rows']}, with no request or command shared between splits.

## Training
{train.get('step', '?')} steps; final train loss {train.get('train', {}).get('loss', float('nan')):.4f},
eval loss {eval_loss if eval_loss is None else f'{eval_loss:.4f}'}.

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


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; run the earlier stages first (dvc repro)")
    return json.loads(path.read_text())


def plot(params: Params) -> Path:
    reports = Path(params.paths.reports)
    split = read_json(reports / "split.json")
    train = read_json(reports / "train" / "metrics.json")
    validate = read_json(reports / "validate.json")
    scan = read_json(reports / "scan.json")
    predictions = read_jsonl(reports / "predictions.jsonl")
    with atomic_path(reports / "plots") as staged:
        staged.mkdir()
        plot_loss(reports / "train", staged / "loss.png")
        plot_metrics(validate, staged / "metrics.png")
        plot_safety(scan, staged / "safety.png")
    write_text(reports / "report.md", report_markdown(split, train, validate, scan, spread(predictions, 8)))
    return reports / "report.md"


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("shelltune plot", "PNG plots and report.md.")
    args = parser.parse_args(argv)

    def entry() -> int:
        print(f"wrote {plot(load_params(args.params))}")
        return 0

    return run_cli(entry, argv)


if __name__ == "__main__":
    raise SystemExit(main())
