"""The layout holds: stages apart from the library, code deps in dvc.yaml derived from imports, one CLI
table whose every command the docs show exists and answers --help."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shelltune.cli import COMMANDS, PIPELINE
from shelltune.codedeps import code_files, direct_imports, relative

from conftest import ROOT

SRC = ROOT / "src" / "shelltune"
PIPELINE_FILES = {"dvc.yaml": ROOT / "dvc.yaml", "export/dvc.yaml": ROOT / "export" / "dvc.yaml"}


def dvc_stages() -> dict[str, dict]:
    stages = {}
    for path in PIPELINE_FILES.values():
        stages.update(yaml.safe_load(path.read_text())["stages"])
    return stages


def module_name(path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


LIBRARY = [module_name(p) for p in sorted(SRC.rglob("*.py")) if "stages" not in p.relative_to(SRC).parts[:1]]


# ---------------------------------------------------------------- code deps, derived both ways


@pytest.mark.parametrize("stage", sorted(dvc_stages()))
def test_code_deps_in_dvc_yaml_are_exactly_the_stage_imports(stage):
    spec = dvc_stages()[stage]
    assert spec["cmd"] == f"python -m shelltune.stages.{stage}"
    declared = {d for d in spec["deps"] if d.startswith("src/")}
    derived = set(relative(code_files(f"shelltune.stages.{stage}"), ROOT))
    missing, extra = sorted(derived - declared), sorted(declared - derived)
    assert not missing, f"{stage} imports {missing}, which dvc.yaml does not list: a change there would not re-run it"
    assert not extra, f"dvc.yaml lists {extra} for {stage}, which it never imports: needless re-runs"


def test_the_derivation_follows_lazy_and_from_imports():
    """Imports inside functions count (the heavy libraries are imported lazily, and so are some of ours),
    `from package import module` counts the module, and a package's __init__ runs before its modules."""
    export = direct_imports("shelltune.exporting")
    assert {"shelltune.inference", "shelltune.models"} <= export  # both imported inside functions only
    assert "shelltune.training.sampler" in direct_imports("shelltune.training.run")
    assert "shelltune.safety" in direct_imports("shelltune.safety.audit")  # its package
    train = relative(code_files("shelltune.stages.train"), ROOT)
    assert "src/shelltune/training/__init__.py" in train and "src/shelltune/safety/rules.py" not in train


# ---------------------------------------------------------------- stages apart from the library


@pytest.mark.parametrize("module", LIBRARY)
def test_no_library_module_imports_a_stage_or_a_private_name(module):
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shelltune"):
            assert not node.module.startswith("shelltune.stages"), f"{module} imports a stage: {node.module}"
            private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
            assert not private, f"{module} imports private names {private} from {node.module}"
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("shelltune.stages") for a in node.names), module


@pytest.mark.parametrize("stage", [p.stem for p in sorted((SRC / "stages").glob("[a-z]*.py"))])
def test_each_stage_is_a_thin_driver_that_imports_no_other_stage(stage):
    module = importlib.import_module(f"shelltune.stages.{stage}")
    assert module.STAGE.name == stage
    assert module.__doc__.splitlines()[0].startswith(f"The {'optional export' if stage == 'export' else stage} stage")
    imported = direct_imports(f"shelltune.stages.{stage}")
    assert not [m for m in imported if m.startswith("shelltune.stages.")], imported
    source = (SRC / "stages" / f"{stage}.py").read_text()
    assert len(source.splitlines()) <= 110, f"stages/{stage}.py is no longer a thin driver"


def test_the_cli_table_lists_the_pipeline_dvc_runs():
    assert list(PIPELINE) == list(yaml.safe_load(PIPELINE_FILES["dvc.yaml"].read_text())["stages"])
    assert len(COMMANDS) == len(set(COMMANDS))
    for name, (module, _) in COMMANDS.items():
        loaded = importlib.import_module(module)
        assert hasattr(loaded, "STAGE") or hasattr(loaded, "main") or name == "run", name


# ---------------------------------------------------------------- the commands the docs show


def doc_code(text: str) -> list[str]:
    """The code a markdown page shows: lines of fenced blocks and inline `code` spans (prose is not code)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    return [line for block in blocks for line in block.splitlines()] + re.findall(r"`([^`\n]+)`", prose)


def shown_commands() -> set[tuple[str, ...]]:
    """Every `shelltune CMD` (and `shelltune run STAGE`) the README and docs/ show as code."""
    found = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for code in doc_code(path.read_text()):
            for command, arg in re.findall(r"(?:^|[\s$(;|&])shelltune ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", code):
                found.add((command, arg) if command == "run" and arg else (command,))
    return found


def test_the_docs_show_commands():
    assert ("scan",) in shown_commands() and any(c[0] == "run" for c in shown_commands())


@pytest.mark.parametrize("shown", sorted(shown_commands()))
def test_every_command_the_docs_show_exists_and_answers_help(shown):
    assert shown[0] in COMMANDS, f"the docs show `shelltune {shown[0]}`, which does not exist"
    if shown[0] == "run" and len(shown) > 1:
        assert shown[1] in PIPELINE, f"the docs show `shelltune run {shown[1]}`: not a pipeline stage"
    result = subprocess.run(
        [sys.executable, "-m", "shelltune", *shown, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: shelltune" in result.stdout


def test_python_m_modules_the_docs_show_exist():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for module in re.findall(r"python -m (shelltune(?:\.[a-z_]+)*)\b", path.read_text()):
            assert importlib.util.find_spec(module) is not None, f"{path.name} shows `python -m {module}`"
