"""The cloud launch (cloud/sky-train.yaml): SkyPilot's own parser reads it as `sky launch` does, and its
run script, run here against a local git remote and DVC remote, pulls, runs an experiment with a profile
and pushes it back.

SkyPilot requires click<8.2, which the project's dvc stack does not allow, so it lives in a venv of its
own (`make cloud-tools`, pinned in tools/skypilot/requirements.txt, like actionlint). Without it the
parser tests skip, except where SHELLTUNE_REQUIRE_SKYPILOT=1 (CI) makes them fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shelltune.commands.profile import main as profile

from conftest import DVC, ROOT, commit_all, make_clone, require_tool, sh, shrink_params_file

TASK = ROOT / "cloud" / "sky-train.yaml"
SKY_PYTHON = ROOT / "tools" / "skypilot" / ".venv" / "bin" / "python"
SECRETS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "GIT_TOKEN"]

# Runs in SkyPilot's venv: the task as `sky launch TASK` reads it, and as `--secret NAME` resolves it.
PARSE = """
import json, sys, yaml
import sky
task = sky.Task.from_yaml(sys.argv[1])
launched = sky.Task.from_yaml_config(yaml.safe_load(open(sys.argv[1])), secrets_overrides=json.loads(sys.argv[2]))
print(json.dumps({
    "name": task.name,
    "workdir": task.workdir,
    "envs": task.envs,
    "secret_refs": sorted(ref.name for ref in task.managed_secret_refs),
    "inline_secrets": sorted(task.secrets),
    "launched_secrets": sorted(launched.secrets),
    "setup": task.setup,
    "run": task.run,
    "accelerators": [r.accelerators for r in task.resources],
    "disk_size": sorted({r.disk_size for r in task.resources}),
}))
"""


def sky_parse(path: Path) -> subprocess.CompletedProcess[str]:
    require_tool(SKY_PYTHON.exists(), "SHELLTUNE_REQUIRE_SKYPILOT", f"{SKY_PYTHON} is missing: run `make cloud-tools`")
    overrides = json.dumps([[name, "from-the-environment"] for name in SECRETS])
    return subprocess.run(
        [str(SKY_PYTHON), "-c", PARSE, str(path), overrides], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def parsed() -> dict:
    result = sky_parse(TASK)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_skypilot_reads_the_task_with_every_credential_left_to_the_environment(parsed):
    assert parsed["name"] == "shelltune-train" and parsed["workdir"] == "."
    assert parsed["secret_refs"] == sorted(SECRETS)  # declared, no value: `--secret NAME` fills them in
    assert parsed["inline_secrets"] == []
    assert parsed["launched_secrets"] == sorted(SECRETS)
    assert all(count == 1 for acc in parsed["accelerators"] for count in acc.values())
    assert {"L4", "A100", "H100"} <= {name for acc in parsed["accelerators"] for name in acc}
    assert parsed["disk_size"] == [100]
    raw = yaml.safe_load(TASK.read_text())
    assert all(value is None for value in raw["secrets"].values())
    assert not set(raw["envs"]) & set(SECRETS)
    assert not any(word in key for key in raw["envs"] for word in ("TOKEN", "SECRET", "PASSWORD", "KEY"))


def test_skypilot_rejects_a_task_with_a_mistake(tmp_path):
    """The parser is a real check: a misspelt section fails SkyPilot's schema."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(TASK.read_text().replace("\nsetup: |", "\nsetpu: |"))
    result = sky_parse(broken)
    assert result.returncode != 0 and "Invalid task YAML" in result.stderr, result.stderr[-2000:]


def test_the_scripts_set_up_cuda_torch_pull_run_a_profile_and_push(parsed, capsys):
    for script in ("setup", "run"):
        check = subprocess.run(["bash", "-n"], input=parsed[script], capture_output=True, text=True)
        assert check.returncode == 0, f"{script}: {check.stderr}"
    assert 'make setup TORCH_INDEX_URL="$TORCH_INDEX_URL"' in parsed["setup"]
    assert "TORCH_INDEX_URL ?=" in (ROOT / "Makefile").read_text()
    run = parsed["run"]
    steps = ["dvc pull", 'dvc exp run -n "$EXPERIMENT" $(shelltune profile "$PROFILE")', 'dvc exp push "$GIT_REMOTE"']
    assert all(step in run for step in steps) and sorted(steps, key=run.index) == steps
    assert profile([parsed["envs"]["PROFILE"]]) == 0  # the default profile exists and validates
    assert capsys.readouterr().out.startswith("-S ")


@pytest.mark.slow
def test_the_run_script_pulls_runs_and_pushes_an_experiment(parsed, tmp_path):
    """The run script as the cloud machine runs it, here: a fresh checkout of the git remote (what SkyPilot
    syncs), the team's run already in the DVC remote; a profile of our own; the experiment must reach the git
    remote and its adapter the DVC remote. (`setup` installs CUDA torch, which this machine cannot: the
    checkout's .venv is this environment instead.)"""
    team = make_clone(tmp_path / "team")
    shrink_params_file(team / "params.yaml")
    remote, origin = tmp_path / "dvc-remote", tmp_path / "origin.git"
    sh(DVC, "remote", "modify", "--local", "storage", "url", str(remote), cwd=team)
    sh(DVC, "repro", cwd=team)
    commit_all(team, "the team's run")
    sh(DVC, "push", cwd=team)
    sh("git", "clone", "-q", "--bare", str(team), str(origin), cwd=tmp_path)

    machine = tmp_path / "machine"
    sh("git", "clone", "-q", str(origin), str(machine), cwd=tmp_path)
    (machine / ".venv").symlink_to(Path(sys.prefix))
    profile_file = tmp_path / "lr.yaml"
    profile_file.write_text("train.learning_rate: 0.004\n")
    token = "test-token-not-a-secret"
    env = {
        **parsed["envs"],
        "PROFILE": str(profile_file),
        "EXPERIMENT": "cloud-lr",
        "DVC_REMOTE_URL": str(remote),
        **dict.fromkeys(SECRETS, "test"),
        "GIT_TOKEN": token,
        "HF_HUB_OFFLINE": "1",  # the tiny base needs no hub, and this machine has none
    }
    out = sh("bash", "-c", parsed["run"], cwd=machine, env=env, timeout=1800)
    assert "Running stage 'train'" in out and "cloud-lr" in out

    refs = sh("git", "ls-remote", str(origin), cwd=tmp_path, stdout_only=True)
    (ref,) = [line.split()[1] for line in refs.splitlines() if line.endswith("/cloud-lr")]
    lock = yaml.safe_load(sh("git", "show", f"{ref}:dvc.lock", cwd=origin, stdout_only=True))
    assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["learning_rate"] == 0.004
    (adapter,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/adapter"]
    digest = adapter["md5"].removesuffix(".dir")
    assert (remote / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir").exists()  # the experiment's adapter
    team_outs = yaml.safe_load((team / "dvc.lock").read_text())["stages"]["train"]["outs"]
    assert adapter["md5"] != next(o["md5"] for o in team_outs if o["path"] == "models/adapter")
    leaked = subprocess.run(["grep", "-rl", token, str(machine / ".git"), str(machine / ".dvc")], capture_output=True)
    assert leaked.stdout == b"", "the token was written to disk"
