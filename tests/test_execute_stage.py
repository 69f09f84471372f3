"""The execute stage as DVC runs it: outputs and metrics, one-line errors, and dvc.yaml declaring exactly
the params and code it reads."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shelltune.config import parse_params

from conftest import ROOT, pairs, run_module, shrink, tiny_paths, write_jsonl

ROWS = [
    ("count the lines of names.txt", "wc -l < names.txt", "cat names.txt | wc -l"),
    ("show the first 3 lines of words.txt", "head -n 3 words.txt", "head -n 4 words.txt"),
    ("delete app.log", "rm app.log", "rm -rf ~"),
    ("download the page", "curl -s https://example.com", "wget https://example.com"),
    ("wait 30 seconds", "sleep 30", "sleep 3"),
    ("list the docs directory", "ls docs", "ls docs"),
]


def project(root: Path, repo_params_raw: dict[str, Any], rows=ROWS) -> tuple[dict[str, Any], Path]:
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"].update(processed=str(root / "processed"), reports=str(root / "reports"))
    raw["execute"]["workers"] = 2
    raw["validate"]["extra_sets"] = []  # the test set only (extra sets: their own test below)
    raw["execute"]["judge_pairs"] = None
    write_jsonl(
        _dir(root / "processed") / "test.jsonl",
        [{"id": f"t{i}", "instruction": r[0], "command": r[1], "source": "t"} for i, r in enumerate(rows)],
    )
    write_jsonl(
        _dir(root / "reports") / "predictions.jsonl",
        [
            {"id": f"t{i}", "instruction": r[0], "gold": r[1], "base_command": "echo no idea", "tuned_command": r[2]}
            for i, r in enumerate(rows)
        ],
    )
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return raw, path


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_stage_writes_metrics_and_verdicts(tmp_path, repo_params_raw):
    raw, params_file = project(tmp_path, repo_params_raw)
    result = run_module("shelltune.stages.execute", "--params", str(params_file))
    assert result.returncode == 0, result.stderr
    reports = Path(raw["paths"]["reports"])
    metrics = json.loads((reports / "execute.json").read_text())
    assert metrics["rows"] == 6 and metrics["extra"] == {} and metrics["judge"] is None
    for model in ("base", "tuned"):
        assert {
            "execution_accuracy",
            "execution_accuracy_unordered",
            "execution_accuracy_semantic",
            "coverage",
            "executed",
            "skipped",
            "witness_rows",
            "witness_deleted",
            "limit_hits",
        } <= set(metrics[model])
    tuned = metrics["tuned"]
    assert tuned["executed"] == 4 and tuned["matches"] == 2 and tuned["execution_accuracy"] == 0.5
    assert tuned["skipped"]["network"] == 1 and tuned["skipped"]["no_effect"] == 1
    assert metrics["base"]["execution_accuracy"] == 0.0
    assert tuned["witness_rows"] == 1 and tuned["witness_deleted"] > 100  # rm -rf ~ instead of rm app.log
    verdicts = [json.loads(line) for line in (reports / "executions.jsonl").read_text().splitlines()]
    assert [v["set"] for v in verdicts] == ["test"] * 6
    reckless = verdicts[2]["tuned"]
    assert not reckless["match"] and "/home/user/.bashrc" in reckless["witness"]["deleted"]
    assert verdicts[3]["skip_reason"] == "network" and "tuned" in verdicts[3] and "match" not in verdicts[3]["tuned"]
    runtime = json.loads((reports / "runtime" / "execute.json").read_text())
    assert runtime["test"]["runs"] >= 8
    assert "execution_accuracy" in result.stdout


def test_the_stage_measures_both_judges_on_labeled_pairs(tmp_path, repo_params_raw):
    """execute.json's `judge`: strict and semantic accuracy, recall and specificity on the labeled pairs,
    over all of them and per part, in the stage's own world."""
    raw, params_file = project(tmp_path, repo_params_raw, rows=ROWS[:2])
    labeled = [
        {"reference": "ls docs", "prediction": "ls -l docs", "equivalent": True, "split": "calibration"},
        {
            "reference": "sha256sum names.txt",
            "prediction": "openssl dgst -sha256 names.txt",
            "equivalent": True,
            "split": "holdout",
        },
        {"reference": "ls docs", "prediction": "ls -l src", "equivalent": False, "split": "holdout"},
        {
            "reference": "cp -p names.txt n.txt",
            "prediction": "cp names.txt n.txt",
            "equivalent": False,
            "split": "calibration",
        },
    ]
    raw["execute"]["judge_pairs"] = str(write_jsonl(tmp_path / "pairs.jsonl", labeled))
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = run_module("shelltune.stages.execute", "--params", str(params_file))
    assert result.returncode == 0, result.stderr
    judge = json.loads((tmp_path / "reports" / "execute.json").read_text())["judge"]
    assert judge["pairs"] == 4 and set(judge) == {"pairs", "strict", "semantic"}
    assert set(judge["semantic"]) == {"all", "calibration", "holdout"}
    assert judge["semantic"]["all"] == {"pairs": 4, "accuracy": 1.0, "recall": 1.0, "specificity": 1.0}
    assert judge["strict"]["all"]["recall"] == 0.0 and judge["strict"]["all"]["specificity"] == 0.5
    assert "semantic" in result.stdout


def test_results_interface_reads_the_committed_outputs():
    """What plot/scan/report use: the committed outputs read back, headline rows, witness joined by the
    scan findings' key (model, request, command)."""
    from shelltune.sandbox.results import headline, read_execution, witness_index

    metrics, verdicts = read_execution(ROOT / "reports")
    test_rows = json.loads((ROOT / "reports" / "split.json").read_text())["test_rows"]
    extra_rows = {name: m["rows"] for name, m in metrics["extra"].items()}
    assert metrics["rows"] == test_rows == sum(v.get("set", "test") == "test" for v in verdicts)
    assert len(verdicts) == test_rows + sum(extra_rows.values())
    rows = {key: (base, tuned) for key, base, tuned in headline(metrics)}
    coverage = pytest.approx(metrics["tuned"]["executed"] / test_rows, abs=1e-4)
    assert rows["coverage"][0] == rows["coverage"][1] == coverage
    index = witness_index(verdicts)
    assert len(index) <= 2 * metrics["tuned"]["executed"]
    flagged = [
        key
        for key, w in index.items()
        if key[0] == "tuned" and (w["deleted"] or w["created"] or w["modified"] or w["processes_stopped"])
    ]
    assert len({(k[1], k[2]) for k in flagged}) <= metrics["tuned"]["witness_rows"] and flagged


def test_stale_predictions_are_one_clear_error(tmp_path, repo_params_raw):
    raw, params_file = project(tmp_path, repo_params_raw)
    write_jsonl(Path(raw["paths"]["processed"]) / "test.jsonl", [{"id": "other", "instruction": "x", "command": "ls"}])
    result = run_module("shelltune.stages.execute", "--params", str(params_file))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "run dvc repro validate" in result.stderr


def test_missing_sandbox_fails_the_stage_in_one_line(tmp_path, repo_params_raw):
    _, params_file = project(tmp_path, repo_params_raw)
    result = run_module(
        "shelltune.stages.execute", "--params", str(params_file), env={"SHELLTUNE_BWRAP": str(tmp_path / "no-bwrap")}
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "make setup" in lines[0] and "apt install bubblewrap" in lines[0]
    assert not (tmp_path / "reports" / "execute.json").exists()


def test_missing_libfaketime_fails_the_stage_in_one_line(tmp_path, repo_params_raw):
    """Never a run on the real clock: without libfaketime nothing is executed."""
    _, params_file = project(tmp_path, repo_params_raw)
    result = run_module(
        "shelltune.stages.execute",
        "--params",
        str(params_file),
        env={"SHELLTUNE_FAKETIME": str(tmp_path / "no-libfaketime.so.1")},
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "libfaketime" in lines[0] and "make setup" in lines[0]
    assert not (tmp_path / "reports" / "execute.json").exists()


def test_script_fixture_needs_its_script(repo_params_raw):
    raw = copy.deepcopy(repo_params_raw)
    raw["execute"]["fixture"]["kind"] = "script"
    with pytest.raises(Exception, match="execute.fixture: .*set fixture.setup"):
        parse_params(raw)


# --- dvc.yaml --------------------------------------------------------------------------------------


def stage() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["execute"]


@pytest.mark.slow
def test_extra_sets_are_answered_by_both_models_and_reported_on_their_own(tmp_path, repo_params_raw):
    """An extra evaluation set in a format split reads: the validate stage has both models answer it and scores
    it apart, the execute stage runs it apart. (That each stage declares exactly the params and code it
    reads is in tests/test_dvc_yaml.py and tests/test_layout.py, as for every stage.)"""
    from shelltune.stages.base import run as build_base
    from shelltune.stages.execute import STAGE
    from shelltune.stages.train import run as train
    from shelltune.stages.validate import run as validate

    raw, _ = project(tmp_path, repo_params_raw)
    shrink(tiny_paths(raw, tmp_path), max_steps=4, eval_steps=4, save_steps=4)
    processed = Path(raw["paths"]["processed"])
    write_jsonl(processed / "train.jsonl", [{"id": str(i), **p, "source": "t"} for i, p in enumerate(pairs(64))])
    write_jsonl(processed / "val.jsonl", [{"id": f"v{i}", **p, "source": "t"} for i, p in enumerate(pairs(8))])
    raw["validate"]["max_new_tokens"] = 8
    extra = write_jsonl(
        tmp_path / "bench.jsonl",
        [
            {"instruction": "count lines in names.txt", "command": "wc -l names.txt"},
            {"instruction": "list docs", "command": "ls docs"},
        ],
    )
    raw["validate"]["extra_sets"] = [{"name": "bench", "path": str(extra), "format": "auto", "schema": "auto"}]
    params = parse_params(raw)
    build_base(params)
    train(params)
    scores = validate(params)
    assert scores["extra"]["bench"]["rows"] == 2 and scores["test_rows"] == len(ROWS)
    answers = [json.loads(line) for line in (Path(raw["paths"]["reports"]) / "extra_predictions.jsonl").open()]
    assert [(a["set"], a["gold"]) for a in answers] == [("bench", "wc -l names.txt"), ("bench", "ls docs")]
    STAGE.start(params)
    STAGE.run(params)
    metrics = json.loads((Path(raw["paths"]["reports"]) / "execute.json").read_text())
    assert metrics["extra"]["bench"]["rows"] == 2 and "execution_accuracy" in metrics["extra"]["bench"]["tuned"]
    assert metrics["rows"] == len(ROWS), "the test set is scored apart from the extra set"


def test_validate_limit_caps_every_evaluation_set(tmp_path, repo_params_raw):
    """`validate.limit` (quick checks, the tests' tiny pipelines) takes the first N rows of the test split
    and of each extra set alike; 0 keeps them all."""
    from shelltune.evaluation import load_extra_sets

    raw = copy.deepcopy(repo_params_raw)
    extra = write_jsonl(
        tmp_path / "bench.jsonl",
        [{"instruction": f"list docs {i}", "command": f"ls docs/{i}"} for i in range(5)],
    )
    raw["validate"]["extra_sets"] = [{"name": "bench", "path": str(extra), "format": "auto", "schema": "auto"}]
    raw["validate"]["limit"] = 2
    assert [r["command"] for r in load_extra_sets(parse_params(raw))["bench"]] == ["ls docs/0", "ls docs/1"]
    raw["validate"]["limit"] = 0
    assert len(load_extra_sets(parse_params(raw))["bench"]) == 5
