"""The real DVC pipeline on a fresh copy of the repository: offline, reproducible, declared honestly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import DVC, ROOT, SHRUNK_RUN_LOG, commit_all, copy_run, make_clone, sh, shrink_params_file

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]  # check, split, ..., plot


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return make_clone(tmp_path / "clone")


@pytest.mark.slow
def test_split_stage_reproduces_the_committed_lock(clone: Path):
    out = sh(DVC, "repro", "split", cwd=clone)
    assert "Running stage 'split'" in out
    for name in ("train", "val", "test", "dropped"):
        assert (clone / "data" / "processed" / f"{name}.jsonl").stat().st_size > 0
    # The committed dvc.lock already describes these outputs: nothing changes in git.
    assert sh("git", "status", "--porcelain", "--", "dvc.lock", cwd=clone) == ""
    assert "up to date" in sh(DVC, "status", "split", cwd=clone)
    again = sh(DVC, "repro", "split", cwd=clone)
    assert "didn't change, skipping" in again


@pytest.mark.slow
def test_param_change_reruns_split_and_unrelated_change_does_not(clone: Path):
    sh(DVC, "repro", "split", cwd=clone)
    params = clone / "params.yaml"
    params.write_text(params.read_text().replace("seed: 42 ", "seed: 7 "))
    assert "Running stage 'split'" in sh(DVC, "repro", "split", cwd=clone)
    (clone / "README.md").write_text("changed\n")
    assert "didn't change, skipping" in sh(DVC, "repro", "split", cwd=clone)


@pytest.mark.slow
def test_whole_pipeline_through_dvc(shrunk_run: Path, tmp_path: Path):
    out = (shrunk_run.parent / SHRUNK_RUN_LOG).read_text()
    clone = copy_run(shrunk_run, tmp_path / "clone")
    for stage in ("split", "base", "train", "validate", "execute", "scan", "plot"):
        assert f"Running stage '{stage}'" in out
    reports = clone / "reports"
    for name in (
        "validate.json",
        "execute.json",
        "executions.jsonl",
        "scan.json",
        "predictions.jsonl",
        "findings.jsonl",
        "report.md",
        "plots/loss.png",
        "plots/metrics.png",
        "plots/safety.png",
        "train/metrics.json",
    ):
        assert (reports / name).exists(), name
    assert (clone / "models" / "adapter" / "adapter_model.safetensors").exists()
    metrics = json.loads(sh(DVC, "metrics", "show", "--json", cwd=clone, stdout_only=True))
    shown = next(iter(metrics.values()))["data"]  # keyed by revision; "" = workspace
    assert list(shown) == ["reports/headline.json"]  # the headline alone, by default (docs/experiments.md)
    assert set(shown["reports/headline.json"]["data"]["exec"]) == {"base", "tuned"}
    full = json.loads(sh(DVC, "metrics", "show", "--json", "reports/validate.json", cwd=clone, stdout_only=True))
    validate = next(iter(full.values()))["data"]["reports/validate.json"]["data"]
    assert set(validate["tuned"]) == set(validate["base"]) and "exact_match" in validate["tuned"]
    assert "up to date" in sh(DVC, "status", "dvc.yaml", cwd=clone)
    assert "didn't change, skipping" in sh(DVC, "repro", cwd=clone)
    # A validate-only param re-runs validate and what follows it, never training.
    params = clone / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    raw["validate"]["max_new_tokens"] = 40
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    again = sh(DVC, "repro", cwd=clone)
    assert "Running stage 'validate'" in again and "Running stage 'train'" not in again
    html = sh(DVC, "plots", "show", "-o", str(clone / "plots_html"), cwd=clone)
    assert (clone / "plots_html" / "index.html").exists(), html


@pytest.mark.slow
def test_fresh_clone_converts_the_base_exactly_as_the_committed_lock_says(clone: Path):
    """What `make repro` starts with on a new machine: the split and SmolLM2's conversion from its GGUF give
    exactly the hashes in the committed dvc.lock (the rest of the default run, 20 minutes of training and
    generation, is checked the same way from a fresh clone before each relock: docs/development.md)."""
    out = sh(DVC, "repro", "base", cwd=clone, timeout=900)
    assert "Running stage 'base'" in out
    changed = sh("git", "status", "--porcelain", "--untracked-files=all", cwd=clone, stdout_only=True)
    assert changed == "", f"the split or the conversion changed tracked files:\n{changed}"
    assert "up to date" in sh(DVC, "status", "base", cwd=clone)


@pytest.mark.slow
def test_noop_repro_runs_nothing(reproduced_clone: Path):
    out = sh(DVC, "repro", cwd=reproduced_clone)
    assert "Running stage" not in out and out.count("didn't change, skipping") == len(STAGES)


@pytest.mark.slow
def test_a_fresh_clone_of_a_committed_run_reproduces_every_hash(shrunk_run: Path, tmp_path: Path):
    """A fresh clone of a committed run (tiny size, no DVC cache), every stage forced to run again
    (`dvc repro -f`: without it DVC keeps the committed reports once the adapter matches), reproduces every
    hash of its dvc.lock and every tracked report (timings live in the git-ignored reports/runtime/)."""
    clone = tmp_path / "again"
    sh("git", "clone", "-q", str(shrunk_run), str(clone), cwd=tmp_path)
    out = sh(DVC, "repro", "-f", cwd=clone, timeout=1800)
    assert out.count("Running stage") == len(STAGES)
    changed = sh("git", "status", "--porcelain", "--untracked-files=all", cwd=clone, stdout_only=True)
    assert changed == "", f"a fresh run changed tracked files or left untracked ones:\n{changed}"
    assert (clone / "dvc.lock").read_text() == (shrunk_run / "dvc.lock").read_text()
    assert "up to date" in sh(DVC, "status", "dvc.yaml", cwd=clone)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["train", "validate", "scan"])
def test_kill_9_mid_stage_changes_nothing_tracked_and_repro_recovers(shrunk_run: Path, tmp_path: Path, stage: str):
    """`kill -9` of a stage (and of dvc) while it runs: every tracked file is as it was (git status is
    clean, temporary files included), and `dvc repro` brings back the same lock and outputs."""
    import signal
    import subprocess
    import time

    from conftest import tool_env

    clone = copy_run(shrunk_run, tmp_path / "clone")
    if stage == "train":  # long enough to be killed mid-way
        shrink_params_file(clone / "params.yaml", max_steps=200)
        sh(DVC, "repro", cwd=clone)
        commit_all(clone, "a longer training")
    lock = (clone / "dvc.lock").read_text()
    outputs = {
        p: (clone / p).read_bytes()
        for p in (
            "reports/validate.json",
            "reports/predictions.jsonl",
            "reports/scan.json",
            "reports/findings.jsonl",
            "reports/train/metrics.json",
        )
    }
    finished = clone / "reports" / "runtime" / f"{stage}.json"  # written as the stage finishes
    finished_at = finished.stat().st_mtime_ns
    # train: dvclive has logged the first evaluation; the others: a few seconds into generation
    started = clone / "reports" / "runtime" / "train.staging" / "metrics.json"
    proc = subprocess.Popen(
        [DVC, "repro", "-f", stage],
        cwd=clone,
        env=tool_env(),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    seen = ""
    while f"Running stage '{stage}'" not in seen:  # wait until the stage itself is running
        seen += proc.stdout.readline()
        assert time.time() < deadline and proc.poll() is None, seen
    if stage == "train":
        while not started.exists():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(1)
    else:
        time.sleep(3 if stage == "validate" else 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert finished.stat().st_mtime_ns == finished_at, "the stage finished before the kill; the test proves nothing"
    status = sh("git", "status", "--porcelain", "--untracked-files=all", cwd=clone, stdout_only=True)
    assert status == "", f"a killed {stage} changed what git tracks:\n{status}"
    out = sh(DVC, "repro", cwd=clone)
    # train's adapter is a cached output, which DVC removed before running the stage: it is rebuilt
    assert ("Running stage 'train'" in out) == (stage == "train")
    assert (clone / "dvc.lock").read_text() == lock
    for path, data in outputs.items():
        assert (clone / path).read_bytes() == data, path
    assert sh("git", "status", "--porcelain", "--untracked-files=all", cwd=clone, stdout_only=True) == ""
