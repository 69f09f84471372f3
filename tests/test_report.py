"""`shelltune report --against REV`: metric and param diffs and both revisions' plots, as markdown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from conftest import commit_all, make_clone, sh


def test_report_against_a_revision(tmp_path: Path):
    repo = make_clone(tmp_path / "repo")
    before = (repo / "reports/plots/metrics.png").read_bytes()
    validate = json.loads((repo / "reports/validate.json").read_text())
    old_exact = validate["tuned"]["exact_match"]
    validate["tuned"]["exact_match"] = 0.5
    (repo / "reports/validate.json").write_text(json.dumps(validate, indent=2))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["lora"]["r"] = 8
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / "reports/plots/metrics.png").write_bytes(before[:-1] + b"\0")  # a different PNG than main's
    commit_all(repo, "experiment")

    out = sh(sys.executable, "-m", "shelltune", "report", "--against", "HEAD~1", "--out", "review", cwd=repo)
    assert "wrote review/report.md" in out
    report = (repo / "review" / "report.md").read_text()
    assert "workspace vs `HEAD~1`" in report
    metric_row = next(line for line in report.splitlines() if "tuned.exact_match" in line)
    assert str(old_exact) in metric_row and "0.5" in metric_row
    param_row = next(line for line in report.splitlines() if "lora.r" in line)
    assert "16" in param_row and "8" in param_row
    assert (repo / "review/plots/metrics-HEAD-1.png").read_bytes() == before
    assert (repo / "review/plots/metrics-workspace.png").read_bytes() != before
    assert "![metrics workspace](plots/metrics-workspace.png)" in report


def test_report_with_nothing_changed_says_so(tmp_path: Path):
    repo = make_clone(tmp_path / "repo")
    sh(sys.executable, "-m", "shelltune", "report", "--against", "main", cwd=repo)
    report = (repo / "pr-report" / "report.md").read_text()
    assert "No metric changed." in report and "No param changed." in report


def test_unknown_revision_is_one_clear_error(tmp_path: Path):
    repo = make_clone(tmp_path / "repo")
    out = sh(sys.executable, "-m", "shelltune", "report", "--against", "nope", cwd=repo, check=False)
    assert "error: --against nope: no such git revision" in out and "Traceback" not in out
    assert not (repo / "pr-report").exists()


def test_wrong_answers_are_sorted_into_kinds():
    from shelltune.reporting.errors import error_kind

    assert error_kind("wc -l a.txt", "") == "no_command"
    assert error_kind("wc -l a.txt", "# refused: deletes files") == "refused"
    assert error_kind("# refused: wipes a disk", "# refused: destroys a disk") == "refusal_wording"
    assert error_kind("wc -l a.txt", "cat a.txt | wc -l") == "wrong_utility"
    assert error_kind("sort -nr a.txt", "sort -n a.txt") == "options"
    assert error_kind("head -n 5 a.txt", "head -n 5 b.txt") == "arguments"
    assert error_kind("grep -c x a.txt", "grep x -c a.txt") == "same_words"


def test_the_error_section_counts_by_set_and_judges_by_the_sandbox_first():
    from shelltune.reporting.errors import errors_section

    def record(i, gold, command, normalized):
        scores = {"normalized_match": normalized}
        return {"id": str(i), "instruction": f"r{i}", "gold": gold, "tuned_command": command, "tuned_scores": scores}

    test = [record(0, "ls -a", "ls -l", 0.0), record(1, "ls", "ls .", 0.0), record(2, "pwd", "pwd", 1.0)]
    verdicts = {"1": {"executed": True, "tuned": {"match": True}}, "2": {"executed": True, "tuned": {"match": False}}}
    people = [record(9, "tac f", "", 0.0) | {"gold_utility_seen": False}]
    text = errors_section({"test": (test, verdicts), "people": (people, {})})
    assert "| **2 of 3** | **1 of 1** |" in text  # row 1 ran the same way; row 2 matched in words only
    assert "| the right utility, other options | 1 (33%) | 0 (0%) |" in text
    assert "| of which the reference's utility is never in the training data | 0 | 1 |" in text


def test_the_committed_headline_has_base_and_tuned_on_every_set_and_fits_160_columns():
    """reports/headline.json is what `dvc metrics show` prints: base and fine-tuned on the test split and on
    each extra set, the gate's dangerous rate and the eval loss, as the stage reports say; one row of
    `dvc metrics show` (path, then each metric in a column as wide as its name or value, 4 spaces apart)
    fits 160 columns."""
    from shelltune.reporting.summary import headline_metrics

    reports = Path(__file__).resolve().parents[1] / "reports"
    read = {name: json.loads((reports / f"{name}.json").read_text()) for name in ("validate", "execute", "scan")}
    train = json.loads((reports / "train" / "metrics.json").read_text())
    headline = json.loads((reports / "headline.json").read_text())
    assert headline == headline_metrics(train, read["validate"], read["execute"], read["scan"])
    sets = ["exec", "exact", *(f"{name}_exec" for name in read["execute"]["extra"])]
    assert "people_exec" in sets and all(set(headline[key]) == {"base", "tuned"} for key in sets)
    assert headline["exec"]["tuned"] == read["execute"]["tuned"]["execution_accuracy"]
    columns = [(f"{key}.{m}", value[m]) for key, value in headline.items() if isinstance(value, dict) for m in value]
    columns += [(key, value) for key, value in headline.items() if not isinstance(value, dict)]
    width = len("reports/headline.json") + sum(4 + max(len(name), len(str(value))) for name, value in columns)
    assert width <= 160, width
