"""The real DVC pipeline on a fresh copy of the repository: offline, reproducible, declared honestly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import DVC, make_clone, sh

pytestmark = pytest.mark.slow


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return make_clone(tmp_path / "clone")


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


def test_param_change_reruns_split_and_unrelated_change_does_not(clone: Path):
    sh(DVC, "repro", "split", cwd=clone)
    params = clone / "params.yaml"
    params.write_text(params.read_text().replace("seed: 42 ", "seed: 7 "))
    assert "Running stage 'split'" in sh(DVC, "repro", "split", cwd=clone)
    (clone / "README.md").write_text("changed\n")
    assert "didn't change, skipping" in sh(DVC, "repro", "split", cwd=clone)


def shrink_params(clone: Path) -> None:
    """The same pipeline at a size that runs in seconds: a smaller model and fewer steps."""
    import yaml

    path = clone / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["model"]["tiny"].update(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=1)
    raw["train"].update(max_steps=20, eval_steps=10, save_steps=10, logging_steps=5)
    raw["validate"]["limit"] = 32
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def test_whole_pipeline_through_dvc(clone: Path):
    shrink_params(clone)
    out = sh(DVC, "repro", cwd=clone)
    for stage in ("split", "base", "train", "validate", "execute", "scan", "plot"):
        assert f"Running stage '{stage}'" in out
    reports = clone / "reports"
    for name in ("validate.json", "execute.json", "executions.jsonl", "scan.json", "predictions.jsonl",
                 "findings.jsonl", "report.md",
                 "plots/loss.png", "plots/metrics.png", "plots/safety.png", "train/metrics.json"):
        assert (reports / name).exists(), name
    assert (clone / "models" / "adapter" / "adapter_model.safetensors").exists()
    metrics = json.loads(sh(DVC, "metrics", "show", "--json", cwd=clone, stdout_only=True))
    shown = next(iter(metrics.values()))["data"]["reports/validate.json"]["data"]  # keyed by revision; "" = workspace
    assert set(shown["tuned"]) == set(shown["base"]) and "exact_match" in shown["tuned"]
    assert "up to date" in sh(DVC, "status", "dvc.yaml", cwd=clone)
    assert "didn't change, skipping" in sh(DVC, "repro", cwd=clone)
    # A validate-only param re-runs validate and what follows it, never training.
    import yaml

    params = clone / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    raw["validate"]["max_new_tokens"] = 40
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    again = sh(DVC, "repro", cwd=clone)
    assert "Running stage 'validate'" in again and "Running stage 'train'" not in again
    html = sh(DVC, "plots", "show", "-o", str(clone / "plots_html"), cwd=clone)
    assert (clone / "plots_html" / "index.html").exists(), html


def test_fresh_clone_reproduces_the_committed_lock_exactly(reproduced_clone: Path):
    """What `make repro` does on a new machine: every hash in dvc.lock and every tracked report comes out
    identical (timings live in the git-ignored reports/runtime/)."""
    clone = reproduced_clone
    changed = sh("git", "status", "--porcelain", "--untracked-files=no", cwd=clone, stdout_only=True)
    assert changed == "", f"a fresh run changed tracked files:\n{changed}"
    untracked = sh("git", "status", "--porcelain", cwd=clone, stdout_only=True)
    assert untracked == "", f"a fresh run left files git does not know about:\n{untracked}"
    assert "up to date" in sh(DVC, "status", "dvc.yaml", cwd=clone)


def test_noop_repro_runs_nothing_and_is_quick(reproduced_clone: Path):
    import time

    start = time.perf_counter()
    out = sh(DVC, "repro", cwd=reproduced_clone)
    assert "Running stage" not in out and out.count("didn't change, skipping") == 7
    assert time.perf_counter() - start < 30


def test_forced_rerun_gives_identical_hashes(clone: Path):
    """`dvc repro -f` twice in a row: every output hash in dvc.lock is the same (tiny size, all stages)."""
    shrink_params(clone)
    sh(DVC, "repro", cwd=clone)
    first = (clone / "dvc.lock").read_text()
    out = sh(DVC, "repro", "-f", cwd=clone)
    assert out.count("Running stage") == 7
    assert (clone / "dvc.lock").read_text() == first


@pytest.mark.parametrize("stage", ["validate", "scan"])
def test_kill_9_mid_stage_then_repro_recovers(clone: Path, stage: str):
    """`kill -9` of a stage (and of dvc) while it writes, then `dvc repro`: a clean re-run, the same
    outputs and lock as before, and no temporary files left behind."""
    import signal
    import subprocess
    import time

    from conftest import tool_env

    shrink_params(clone)
    sh(DVC, "repro", cwd=clone)
    lock = (clone / "dvc.lock").read_text()
    outputs = {p: (clone / p).read_bytes() for p in ("reports/validate.json", "reports/predictions.jsonl",
                                                      "reports/scan.json", "reports/findings.jsonl")}
    proc = subprocess.Popen([DVC, "repro", "-f", stage], cwd=clone, env=tool_env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    seen = ""
    while f"Running stage '{stage}'" not in seen:  # wait until the stage itself is running
        seen += proc.stdout.readline()
        assert time.time() < deadline and proc.poll() is None, seen
    time.sleep(3 if stage == "validate" else 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    metrics = clone / "reports" / f"{stage}.json"
    assert not metrics.exists(), "the stage finished before the kill; the test proves nothing"
    out = sh(DVC, "repro", cwd=clone)
    assert f"Running stage '{stage}'" in out
    assert (clone / "dvc.lock").read_text() == lock
    for path, data in outputs.items():
        assert (clone / path).read_bytes() == data, path
    status = sh("git", "status", "--porcelain", "--untracked-files=all", cwd=clone, stdout_only=True)
    leftovers = [line for line in status.splitlines() if line.startswith("??")]
    assert leftovers == [], leftovers
