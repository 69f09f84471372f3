"""Experiments from a clean clone at a tiny size: `dvc exp run -S`, `dvc exp show`, and a queued sweep."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import DVC, commit_all, make_clone, sh, shrink_params_file


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    repo = make_clone(tmp_path_factory.mktemp("exp") / "repo")
    shrink_params_file(repo / "params.yaml")
    commit_all(repo, "tiny params")
    return repo


def experiments(repo: Path) -> dict[str, dict]:
    """Experiment name -> its params and metrics, from `dvc exp show --json`."""
    shown = json.loads(sh(DVC, "exp", "show", "--json", cwd=repo, stdout_only=True))
    found = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("name") and data:
                    found[rev["name"]] = {"params": data["params"]["params.yaml"]["data"], "metrics": data["metrics"]}
    return found


@pytest.mark.slow
def test_exp_run_with_a_param_from_a_clean_clone(tiny_repo: Path):
    out = sh(DVC, "exp", "run", "-n", "rank8", "-S", "lora.r=8", cwd=tiny_repo)
    assert "Ran experiment(s): rank8" in out
    found = experiments(tiny_repo)
    assert found["rank8"]["params"]["lora"]["r"] == 8
    assert "reports/validate.json" in found["rank8"]["metrics"]
    table = sh(
        DVC,
        "exp",
        "show",
        "--md",
        "--drop",
        ".*",
        "--keep",
        "Experiment|lora.r|tuned.exact_match",
        cwd=tiny_repo,
        stdout_only=True,
    )
    assert "rank8" in table and "lora.r" in table


@pytest.mark.slow
def test_queued_sweep_with_two_workers(tiny_repo: Path):
    for rank in (2, 4):
        sh(DVC, "exp", "run", "--queue", "-n", f"sweep-r{rank}", "-S", f"lora.r={rank}", cwd=tiny_repo)
    sh(DVC, "queue", "start", "-j", "2", cwd=tiny_repo)
    try:
        deadline = time.time() + 600
        while True:
            status = sh(DVC, "queue", "status", cwd=tiny_repo)
            if "Queued" not in status and "Running" not in status:
                break
            assert time.time() < deadline, status
            time.sleep(5)
        assert status.count("Success") >= 2, status
    finally:
        sh(DVC, "queue", "stop", "--kill", cwd=tiny_repo, check=False)
    found = experiments(tiny_repo)
    assert {found["sweep-r2"]["params"]["lora"]["r"], found["sweep-r4"]["params"]["lora"]["r"]} == {2, 4}
