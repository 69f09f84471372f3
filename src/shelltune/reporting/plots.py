"""The pipeline's PNG plots (matplotlib, byte-reproducible): loss curves, base vs fine-tuned, safety."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.metrics import METRIC_KEYS

PLOTS = ("loss.png", "metrics.png", "execution.png", "safety.png")


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

    x = np.arange(len(METRIC_KEYS))
    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    for offset, name in ((-0.2, "base"), (0.2, "tuned")):
        values = [validate[name][k] for k in METRIC_KEYS]
        bars = ax.bar(x + offset, values, width=0.4, label="fine-tuned" if name == "tuned" else "base")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, [k.replace("_", "\n") for k in METRIC_KEYS], fontsize=8)
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


def plot_execution(execute: dict[str, Any], out: Path) -> None:
    """Execution accuracy (strict, and by meaning rather than presentation) over the executed rows, and the
    coverage."""
    import matplotlib.pyplot as plt
    import numpy as np

    keys = ("execution_accuracy", "execution_accuracy_semantic", "coverage")
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for offset, name in ((-0.2, "base"), (0.2, "tuned")):
        bars = ax.bar(
            x + offset, [execute[name][k] for k in keys], width=0.4, label="fine-tuned" if name == "tuned" else "base"
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, [k.replace("_", "\n") for k in keys], fontsize=8)
    executed = execute["tuned"]["executed"]
    ax.set(ylim=(0, 1.12), ylabel="share", title=f"Executed in the sandbox ({executed} of {execute['rows']} rows)")
    ax.legend(loc="upper right")
    save(fig, out)


def draw_all(
    reports: Path, validate: dict[str, Any], execute: dict[str, Any], scan: dict[str, Any], out_dir: Path
) -> None:
    """Every plot in PLOTS, drawn into `out_dir`."""
    plot_loss(reports / "train", out_dir / "loss.png")
    plot_metrics(validate, out_dir / "metrics.png")
    plot_execution(execute, out_dir / "execution.png")
    plot_safety(scan, out_dir / "safety.png")
