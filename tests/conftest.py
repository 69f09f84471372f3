"""Shared fixtures: the repository's own params as a base, and helpers to write data files."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shelltune.config import instant_seconds

ROOT = Path(__file__).resolve().parents[1]
# The sandbox's clock in params.yaml (execute.clock), in epoch seconds: the sandbox tests build their worlds at it.
CLOCK = instant_seconds(yaml.safe_load((ROOT / "params.yaml").read_text())["execute"]["clock"])
DVC = str(Path(sys.executable).with_name("dvc"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def repo_params_raw() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def params_raw(repo_params_raw: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A deep copy of params.yaml with outputs redirected into tmp_path."""
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"]["processed"] = str(tmp_path / "processed")
    raw["paths"]["reports"] = str(tmp_path / "reports")
    return raw


def set_key(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node = raw
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return raw


def write_params(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_module(module: str, *args: str, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args` the way DVC runs a stage, capturing output."""
    full_env = {k: v for k, v in os.environ.items() if k != "SHELLTUNE_DEBUG"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=600)


def pairs(n: int, start: int = 0) -> list[dict[str, str]]:
    """n distinct, safe instruction/command pairs."""
    return [{"instruction": f"show the first {i} lines of notes{i}.txt", "command": f"head -n {i} notes{i}.txt"}
            for i in range(start, start + n)]


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for dvc/git/shelltune subprocesses: the venv first on PATH, no analytics."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            **(extra or {})}


def sh(*args: str, cwd: Path, stdout_only: bool = False, env: dict[str, str] | None = None,
       check: bool = True, timeout: int = 900) -> str:
    """Run a command; with check, a failure shows its output. Returns stdout (+ stderr unless stdout_only)."""
    result = subprocess.run(args, cwd=cwd, env=tool_env(env), capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout if stdout_only else result.stdout + result.stderr


def make_clone(dest: Path) -> Path:
    """A fresh git repository holding the working tree's tracked files (what a newcomer's clone has)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    sh("git", "init", "-q", "-b", "main", cwd=dest)
    commit_all(dest, "clone")
    return dest


def commit_all(repo: Path, message: str) -> None:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message, cwd=repo)


@pytest.fixture(scope="session")
def reproduced_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone after a full default `dvc repro` (about 4.5 minutes on 2 cores), shared by the slow
    tests that need real outputs: the reproduction check, remote storage and CI-style runs."""
    repo = make_clone(tmp_path_factory.mktemp("reproduced") / "repo")
    sh(DVC, "repro", cwd=repo, timeout=1800)
    return repo
