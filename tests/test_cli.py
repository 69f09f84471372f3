"""The command line stays quiet and says what it expects: --help complete for every command, no traceback
on a closed pipe, no silent wait at a terminal, no library noise, and `predict` finds its adapter (or says
how to get it back) before it loads anything."""

from __future__ import annotations

import argparse
import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shelltune.cli import COMMANDS, PIPELINE
from shelltune.cli import main as cli_main

from conftest import ROOT, child_env, pairs, require_tool, trained_project

SHELLTUNE = [sys.executable, "-m", "shelltune"]


def all_invocations() -> list[list[str]]:
    return [[name] for name in COMMANDS] + [["run", stage] for stage in PIPELINE]


def help_parser(monkeypatch, invocation: list[str]) -> argparse.ArgumentParser:
    """The parser that answers `shelltune ... --help` (the last one asked to print its help)."""
    shown: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.print_help
    monkeypatch.setattr(
        argparse.ArgumentParser, "print_help", lambda self, file=None: (shown.append(self), original(self, file))
    )
    with pytest.raises(SystemExit) as exit_info:
        cli_main([*invocation, "--help"])
    assert exit_info.value.code == 0
    return shown[-1]


@pytest.mark.parametrize("invocation", all_invocations(), ids=" ".join)
def test_every_help_names_its_command_and_explains_every_option(monkeypatch, capsys, invocation):
    parser = help_parser(monkeypatch, invocation)
    usage = capsys.readouterr().out.splitlines()[0]
    assert usage.startswith(f"usage: shelltune {' '.join(invocation)} "), usage
    undocumented = [
        action.option_strings or action.dest
        for action in parser._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert not undocumented, f"shelltune {' '.join(invocation)}: no help for {undocumented}"


@pytest.mark.parametrize("invocation", [["run"], ["run", "train"], ["export"], ["predict"], ["plan"]], ids=" ".join)
def test_commands_that_read_params_offer_params_debug_and_quiet(monkeypatch, capsys, invocation):
    options = {o for action in help_parser(monkeypatch, invocation)._actions for o in action.option_strings}
    assert {"--params", "--debug", "--quiet"} <= options


def test_options_before_the_stage_name_reach_the_stage(tmp_path):
    result = subprocess.run(
        [*SHELLTUNE, "run", "--params", str(tmp_path / "none.yaml"), "split"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
    )
    assert result.returncode == 2 and "none.yaml: params file not found" in result.stderr, result.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    commands = tmp_path / "commands.txt"
    commands.write_text("".join(f"echo {i}\n" for i in range(20000)))
    with commands.open() as stdin:
        scan = subprocess.Popen(
            [*SHELLTUNE, "scan"], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env()
        )
        first = scan.stdout.readline()
        scan.stdout.close()  # what `| head -1` does
        stderr = scan.stderr.read().decode()
        code = scan.wait(timeout=120)
    assert first == b"ok: echo 0\n"
    assert stderr == "" and code == 141  # 128 + SIGPIPE, as for any tool whose reader went away


def at_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run with stdin a terminal (a pseudo-terminal nobody types into); (exit status, stderr)."""
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            args, stdin=follower, capture_output=True, text=True, env=child_env(), timeout=60, cwd=ROOT
        )
    finally:
        os.close(leader)
        os.close(follower)
    return result.returncode, result.stderr


def test_scan_without_commands_at_a_terminal_says_what_it_expects():
    code, stderr = at_a_terminal([*SHELLTUNE, "scan"])
    assert code == 2
    assert stderr.startswith("error: no command to judge: pass commands as arguments"), stderr


def test_predict_without_requests_at_a_terminal_says_what_it_expects():
    code, stderr = at_a_terminal([*SHELLTUNE, "predict"])
    assert code == 2
    assert stderr.startswith("error: no request: pass it as an argument"), stderr


# ---------------------------------------------------------------- predict finds its adapter first


def predict_without_loading(cwd: Path, *args: str) -> tuple[int, str, list[str]]:
    """`shelltune predict` in `cwd`: (exit status, stderr, which heavy libraries it imported)."""
    probe = (
        "import sys\n"
        "from shelltune.commands.predict import main\n"
        f"code = main({list(args)!r})\n"
        "print([m for m in ('torch', 'transformers', 'peft') if m in sys.modules])\n"
        "raise SystemExit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, env=child_env(), timeout=120
    )
    return result.returncode, result.stderr, json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"'))


def dvc(cwd: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, check=True, capture_output=True, env=child_env(), timeout=120
    )


@pytest.fixture
def project(tmp_path) -> Path:
    """A DVC project with the repository's params, whose dvc.lock records an adapter DVC cached."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    dvc(tmp_path, "init", "--no-scm", "-q")
    adapter = tmp_path / "models" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    dvc(tmp_path, "add", "-q", "models/adapter")  # puts it in the cache; dvc.lock below is what names it
    digest = next(
        line.split()[-1] for line in (tmp_path / "models" / "adapter.dvc").read_text().splitlines() if "md5:" in line
    )
    (tmp_path / "models" / "adapter.dvc").unlink()
    lock = {"schema": "2.0", "stages": {"train": {"cmd": "x", "outs": [{"path": "models/adapter", "md5": digest}]}}}
    (tmp_path / "dvc.lock").write_text(json.dumps(lock))
    return tmp_path


def remove_adapter(project: Path) -> None:
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (project / "models" / "adapter" / name).unlink()


def test_an_adapter_dvc_removed_is_restored_by_dvc_checkout(project):
    remove_adapter(project)
    code, stderr, loaded = predict_without_loading(project, "list files")
    assert code == 2 and loaded == []
    assert "the DVC cache holds it" in stderr and "`dvc checkout models/adapter` restores it" in stderr, stderr


def test_an_adapter_only_the_remote_holds_is_pulled(project):
    remove_adapter(project)
    for path in (project / ".dvc" / "cache").rglob("*"):
        if path.is_file():
            path.chmod(0o644)
            path.unlink()
    code, stderr, loaded = predict_without_loading(project, "list files")
    assert code == 2 and loaded == []
    assert "`dvc pull models/adapter` fetches it from the remote" in stderr, stderr


def test_an_adapter_never_trained_says_to_run_the_pipeline(project):
    remove_adapter(project)
    (project / "dvc.lock").unlink()
    code, stderr, loaded = predict_without_loading(project, "list files")
    assert code == 2 and loaded == []
    assert stderr.strip() == (
        "error: models/adapter: no adapter has been trained here yet: `dvc repro` runs the pipeline (train)"
    )


def test_a_mistyped_adapter_path_is_named(project):
    code, stderr, loaded = predict_without_loading(project, "--adapter", "models/adaptr", "list files")
    assert code == 2 and loaded == []
    assert stderr.strip() == "error: --adapter models/adaptr: no such directory"


# ---------------------------------------------------------------- quiet by default


@pytest.fixture(scope="module")
def tiny_project(repo_params_raw, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("quiet")
    _, params_file = trained_project(repo_params_raw, root, pairs(48), steps=4)
    return root, params_file


@pytest.mark.slow
def test_predict_prints_the_answer_and_nothing_from_the_libraries(tiny_project):
    root, params_file = tiny_project
    run = [*SHELLTUNE, "predict", "--params", str(params_file), "show the first 3 lines of notes3.txt"]
    quiet = subprocess.run(run, capture_output=True, text=True, env=child_env(), timeout=300, cwd=root)
    assert quiet.returncode in (0, 3), quiet.stderr
    assert len(quiet.stdout.splitlines()) == 1
    assert quiet.stderr in ("",) or quiet.stderr.startswith("refused"), quiet.stderr
    debug = subprocess.run([*run, "--debug"], capture_output=True, text=True, env=child_env(), timeout=300, cwd=root)
    assert debug.stdout == quiet.stdout
    assert len(debug.stderr) > len(quiet.stderr)  # the libraries' warnings and bars are there to see


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_init_prints_code_the_shell_parses(shell, tmp_path):
    require_tool(shutil.which(shell) is not None, "SHELLTUNE_REQUIRE_SHELLS", f"{shell} is not installed")
    code = subprocess.run(
        [*SHELLTUNE, "shell-init", shell], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert code.returncode == 0 and "__shelltune_line" in code.stdout
    snippet = tmp_path / f"key.{shell}"
    snippet.write_text(code.stdout)
    checked = subprocess.run([shell, "-n", str(snippet)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "shellclient.py" in code.stdout and " -I -S " in code.stdout  # the fast, isolated client
