"""Figures the README and docs quote from `reports/`, tied to the file they come from.

A quoted figure carries a marker right after it, invisible on the rendered page:

    4,713<!--fig split.json rows_read ,d--> rows read; exact match 0.462<!--fig validate.json tuned.exact_match .3f-->

A report's whole text (a table the benchmark writes) or a command's output sits between markers on lines of
their own, `<!--include bench.md-->` ... `<!--/include-->` and `<!--output dvc metrics show-->` ...
`<!--/output-->` (the output in a console block, the command run from the repository root).

`FILE` is under `reports/`; `KEY` is a dotted path into its JSON (`tuned.exact_match`; list items by index,
`first` and `last`; a `.tsv` file is its rows, so `train/plots/metrics/eval/loss.tsv first.loss`), or
such paths joined by + - * / from left to right (`rows_read-rows_kept`); `FORMAT` is a Python format spec (`.3f`, `,d`,
`.0%`). tests/test_docs.py fails on any figure that no longer matches its file, and

    python tests/docfigures.py            (make docs-figures)

rewrites every marked figure from the reports in place. The prose around a figure is the writer's to keep
true.
"""

from __future__ import annotations

import csv
import json
import operator
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# the figure as printed (digits, separators, a sign, a percent sign), then its marker
MARKER = re.compile(r"(?P<figure>[-+]?\d[\d,]*(?:\.\d+)?%?)<!--fig (?P<file>\S+) (?P<key>\S+)(?: (?P<format>\S+))?-->")
TERM = re.compile(r"(?<=[A-Za-z0-9_])([-+*/])(?=[A-Za-z_])")

OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@dataclass(frozen=True)
class Figure:
    page: Path
    line: int
    shown: str
    file: str
    key: str
    format: str

    def where(self) -> str:
        return f"{shown_path(self.page)}:{self.line}"


def shown_path(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def load(path: Path) -> Any:
    if path.suffix == ".tsv":
        with path.open(newline="") as handle:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle, delimiter="\t")]
    return json.loads(path.read_text())


def lookup(data: Any, dotted: str) -> Any:
    node = data
    for part in dotted.split("."):
        if isinstance(node, list):
            index = {"first": 0, "last": -1}.get(part, part)
            node = node[int(index)]
        else:
            node = node[part]
    return node


def value(reports: Path, file: str, key: str) -> Any:
    data = load(reports / file)
    terms = TERM.split(key)
    total = lookup(data, terms[0])
    for op, term in zip(terms[1::2], terms[2::2], strict=True):
        total = OPERATORS[op](total, lookup(data, term))
    return total


def render(reports: Path, figure: Figure) -> str:
    return format(value(reports, figure.file, figure.key), figure.format)


def figures(pages: list[Path] = PAGES) -> list[Figure]:
    found = []
    for page in pages:
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            for match in MARKER.finditer(line):
                found.append(Figure(page, number, match["figure"], match["file"], match["key"], match["format"] or ""))
    return found


BLOCK = re.compile(
    r"^<!--(?P<kind>include|output) (?P<source>[^>]+?)-->\n(?P<body>.*?)^<!--/(?P=kind)-->$", re.S | re.M
)


def block_text(reports: Path, kind: str, source: str) -> str:
    """What belongs between a block's markers."""
    if kind == "include":
        return (reports / source).read_text()
    result = subprocess.run(
        shlex.split(source), cwd=reports.parent, capture_output=True, text=True, timeout=300, env=tool_environment()
    )
    if result.returncode != 0:
        raise ValueError(f"`{source}` failed: {result.stderr.strip()[-300:]}")
    return f"```console\n$ {source}\n{result.stdout.rstrip()}\n```\n"


def tool_environment() -> dict[str, str]:
    import os

    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1", "COLUMNS": "160"}


def stale_blocks(reports: Path, pages: list[Path] = PAGES) -> list[str]:
    problems = []
    for page in pages:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            where = f"{shown_path(page)}:{text[: match.start()].count(chr(10)) + 1}"
            try:
                expected = block_text(reports, match["kind"], match["source"])
            except (OSError, ValueError) as exc:
                problems.append(f"{where}: {match['kind']} {match['source']}: {exc}")
                continue
            if expected != match["body"]:
                problems.append(f"{where}: the {match['kind']} of {match['source']} changed")
    return problems


def stale(reports: Path, pages: list[Path] = PAGES) -> list[str]:
    """One line per figure that no longer matches its report (or whose report or key is gone)."""
    problems = []
    for figure in figures(pages):
        try:
            expected = render(reports, figure)
        except (OSError, KeyError, IndexError, ValueError, TypeError) as exc:
            problems.append(f"{figure.where()}: {figure.file} {figure.key}: cannot read it ({exc!r})")
            continue
        if expected != figure.shown:
            problems.append(f"{figure.where()}: shows {figure.shown}, {figure.file} {figure.key} is {expected}")
    return problems


def rewrite(reports: Path, pages: list[Path] = PAGES) -> int:
    """Every marked figure set from its report; returns how many changed."""
    changed = 0
    for page in pages:
        text = page.read_text()

        def update(match: re.Match[str]) -> str:
            nonlocal changed
            figure = format(value(reports, match["file"], match["key"]), match["format"] or "")
            changed += figure != match["figure"]
            return match[0].replace(match["figure"], figure, 1)

        text = MARKER.sub(update, text)

        def refill(match: re.Match[str]) -> str:
            nonlocal changed
            body = block_text(reports, match["kind"], match["source"])
            changed += body != match["body"]
            return f"<!--{match['kind']} {match['source']}-->\n{body}<!--/{match['kind']}-->"

        page.write_text(BLOCK.sub(refill, text))
    return changed


if __name__ == "__main__":
    count = rewrite(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "reports")
    print(f"{count} figures updated in README.md and docs/ from reports/")
