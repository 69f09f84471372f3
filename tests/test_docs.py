"""The docs cannot drift: each figure quoted from reports/ matches its file, and each `dvc` recipe the
README and docs show is one the installed DVC accepts (test_experiments.py runs the read-only ones)."""

from __future__ import annotations

import json
import re
import shlex
import shutil

import dvc
import pytest
from docfigures import PAGES, figures, rewrite, stale, stale_blocks
from dvc.cli import DvcParserError, parse_args
from test_layout import doc_code

from conftest import DVC, ROOT, require_tool, sh

REPORTS = ROOT / "reports"


def test_every_quoted_figure_matches_its_report():
    assert len(figures()) > 50
    problems = stale(REPORTS) + stale_blocks(REPORTS)
    assert not problems, "figures in the docs differ from reports/ (make docs-figures):\n" + "\n".join(problems)


def test_a_changed_report_is_caught_and_rewritten(tmp_path):
    reports = shutil.copytree(REPORTS, tmp_path / "reports")
    validate = json.loads((reports / "validate.json").read_text())
    validate["tuned"]["exact_match"] = 0.1234
    (reports / "validate.json").write_text(json.dumps(validate))
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    problems = stale(reports, [readme])
    assert problems and all("validate.json tuned." in p for p in problems), problems
    assert any(p.endswith("validate.json tuned.exact_match is 0.123") for p in problems), problems
    assert rewrite(reports, [readme]) == len(problems)
    assert not stale(reports, [readme])
    assert "0.123<!--fig validate.json tuned.exact_match .3f-->" in readme.read_text()


def numbers_outside_markers(text: str) -> list[str]:
    prose = re.sub(r"`[^`\n]*`|\[[^\]]*\]\([^)]*\)", "", text)  # code and link targets hold no quoted figures
    prose = re.sub(r"[-+]?\d[\d,]*(?:\.\d+)?%?<!--fig [^>]*-->", "", prose)
    return re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])", prose)


# Numbers in README's results that are not figures from a report: the machine, and params defaults.
NOT_FROM_REPORTS = ["2-core", "(default 0)"]


def test_readme_results_quote_no_figure_without_its_report():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Current results") : text.index("## Use the model")]
    for literal in NOT_FROM_REPORTS:
        section = section.replace(literal, "")
    assert numbers_outside_markers(section) == []


def dvc_recipes() -> list[tuple[str, list[str]]]:
    """(page, argv) of every `dvc ...` command shown as code in the README and docs/."""
    found = []
    for page in PAGES:
        text = re.sub(r"\\\n\s*", " ", page.read_text())  # continued lines
        for code in doc_code(text):
            line = re.sub(r"^\s*\$ ", "", code)
            line = re.sub(r"\$\([^)]*\)", "", line)  # $(shelltune profile ...): the -S it expands to is tested there
            try:
                lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
                lexer.whitespace_split, lexer.commenters = True, "#"
                tokens = list(lexer)
            except ValueError:  # prose and output, not a command
                continue
            segment: list[str] = []
            for token in [*tokens, ";"]:
                if set(token) <= set(";&|()"):
                    if segment[:1] == ["dvc"] and len(segment) > 1:
                        found.append((page.name, segment[1:]))
                    segment = []
                else:
                    segment.append(token)
    return found


def test_the_docs_show_dvc_recipes():
    shown = {" ".join(argv[:2]) for _, argv in dvc_recipes()}
    assert {"exp show", "exp run", "metrics show", "plots show", "pull models/adapter"} <= shown


@pytest.mark.parametrize("page,argv", dvc_recipes(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_every_dvc_recipe_is_one_the_installed_dvc_accepts(page, argv):
    if len(argv) == 1:  # `dvc plots` in prose names a command group: its help must work
        with pytest.raises(SystemExit) as shown:
            parse_args([*argv, "--help"])
        assert shown.value.code == 0, f"{page}: dvc {argv[0]}"
        return
    try:
        parse_args(argv)
    except (DvcParserError, SystemExit) as exc:
        raise AssertionError(f"{page}: DVC {dvc.__version__} refuses `dvc {' '.join(argv)}`") from exc


def test_the_plots_page_needs_no_network(tmp_path):
    """`dvc plots show` with the template `make tools` builds: the charting libraries are in the page."""
    template = ROOT / "tools" / "vega" / "template.html"
    require_tool(template.exists(), "SHELLTUNE_REQUIRE_VEGA", "tools/vega/template.html is missing: make tools (npm)")
    out = tmp_path / "plots"
    sh(DVC, "plots", "show", "--html-template", str(template), "-o", str(out), cwd=ROOT)
    page = (out / "index.html").read_text()
    assert not re.findall(r"<script[^>]+src=", page), "the page loads a script from elsewhere"
    assert "vegaEmbed('#reports_train_plots_metrics_eval_loss_tsv'" in page
    assert "vegaLite" in page and "static/workspace_reports_plots_metrics.png" in page


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"], ids=lambda p: p.name)
def test_a_page_is_prose_of_a_readable_size_with_no_paragraph_twice(page):
    """A scripted edit with an empty search string (`text.replace("", paragraph)`) once put a paragraph
    before every character of docs/data.md: 10.8 MB of it, committed, and every other check passed."""
    text = page.read_text(encoding="utf-8")
    assert len(text) < 200_000, f"{page.name}: {len(text):,} characters"
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 80 and not p.lstrip().startswith("```")]
    repeated = {p[:60] for p in paragraphs if paragraphs.count(p) > 1}
    assert not repeated, f"{page.name}: paragraphs repeated: {sorted(repeated)}"
