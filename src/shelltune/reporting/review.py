"""The pull-request review of the workspace against a revision, in markdown (`shelltune report`).

The report holds `dvc metrics diff` (the headline metrics, then every stage's metrics folded away),
`dvc params diff` and, side by side, the PNG plots of both
revisions (read from git or the DVC cache with `dvc.api`), ready to post as a comment: the GitHub
workflow publishes it with `cml comment create --publish`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from shelltune.errors import ShelltuneError
from shelltune.reporting.plots import PLOTS

WORKSPACE = "workspace"


def run(*args: str) -> str:
    """Run a git or dvc command in the repository; a failure becomes one clear error."""
    command = [sys.executable, "-m", "dvc", *args[1:]] if args[0] == "dvc" else list(args)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise ShelltuneError(f"`{' '.join(args)}` failed: {message[-1] if message else 'no output'}")
    return result.stdout


def resolve(rev: str) -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ShelltuneError(f"--against {rev}: no such git revision (fetch it first, e.g. `git fetch origin {rev}`)")
    return result.stdout.strip()


def label(rev: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", rev).strip("-") or "rev"


def read_plot(path: str, rev: str) -> bytes | None:
    """A plot's bytes at `rev` (git-tracked or DVC-cached), or None when that revision lacks it."""
    import dvc.api

    try:
        with dvc.api.open(path, repo=".", rev=rev, mode="rb") as handle:
            return handle.read()
    except Exception:  # FileNotFoundError, PathMissingError, ... : the plot did not exist there
        return None


def section(title: str, body: str, empty: str) -> str:
    rows = [line for line in body.strip().splitlines() if line.startswith("|")]
    return f"## {title}\n\n{body.strip() if len(rows) > 2 else empty}\n"  # header + rule only: nothing changed


def plot_rows(reports: Path, rev: str, out: Path) -> list[str]:
    rows = [f"| plot | `{rev}` | {WORKSPACE} |", "|---|---|---|"]
    for name in PLOTS:
        path = (reports / "plots" / name).as_posix()
        cells = []
        for which, data in ((label(rev), read_plot(path, rev)), (WORKSPACE, read_local(path))):
            if data is None:
                cells.append("(none)")
                continue
            target = out / "plots" / f"{Path(name).stem}-{which}.png"
            target.write_bytes(data)
            cells.append(f"![{Path(name).stem} {which}](plots/{target.name})")
        rows.append(f"| {Path(name).stem} | {cells[0]} | {cells[1]} |")
    return rows


def read_local(path: str) -> bytes | None:
    return Path(path).read_bytes() if Path(path).is_file() else None


# Each stage's own metrics file: `dvc metrics diff` alone compares the headline metrics (dvc.yaml's `metrics:`)
STAGE_METRICS = ("split.json", "train/metrics.json", "validate.json", "execute.json", "scan.json")


def every_metric(rev: str, reports: Path) -> str:
    """The diff of every stage's metrics file, folded away under the headline table."""
    targets = [(reports / name).as_posix() for name in STAGE_METRICS if (reports / name).exists()]
    body = run("dvc", "metrics", "diff", rev, "--md", "--targets", *targets) if targets else ""
    rows = [line for line in body.strip().splitlines() if line.startswith("|")]
    if len(rows) <= 2:
        return ""
    return f"<details><summary>Every metric that changed</summary>\n\n{body.strip()}\n\n</details>\n"


def build_report(rev: str, reports: Path, out: Path) -> str:
    commit = resolve(rev)
    metrics = run("dvc", "metrics", "diff", rev, "--md")
    params = run("dvc", "params", "diff", rev, "--md")
    details = every_metric(rev, reports)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    lines = [
        f"# shelltune: {WORKSPACE} vs `{rev}` ({commit})",
        "",
        section("Metrics", metrics, "No headline metric changed." if details else "No metric changed."),
        details,
        section("Params", params, "No param changed."),
        "## Plots",
        "",
        *plot_rows(reports, rev, out),
        "",
        f"Full report of this run: `{(reports / 'report.md').as_posix()}`.",
        "",
    ]
    return "\n".join(lines)
