"""The real DVC pipeline on a fresh copy of the repository: offline, reproducible, declared honestly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow
DVC = str(Path(sys.executable).with_name("dvc"))


def sh(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh git clone of the working tree's tracked files (what a newcomer gets)."""
    dest = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    sh("git", "init", "-q", cwd=dest)
    sh("git", "add", "-A", cwd=dest)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "clone", cwd=dest)
    return dest


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
