"""The fault suite: bad data files, bad params and broken models each stop the stage with exit 2, one
clear line naming the file and line or the params key, no traceback, and no output left behind.

Every case runs a real stage entry point (`shelltune.<stage>.main`) on real files. The model cases
build a tiny base and adapter once (real 4-bit loading), then break copies of them.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import pairs, set_key, trained_project, write_jsonl

GOOD_ROWS = pairs(40)


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def data_file(name: str, content: str | bytes, **data: Any) -> Callable[[Path, dict], str]:
    """A case whose dataset file is `content` (after 40 good rows when it is JSONL text)."""

    def setup(tmp: Path, raw: dict) -> str:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        set_key(raw, "data.path", str(path))
        for key, value in data.items():
            set_key(raw, f"data.{key}", value)
        return str(path)

    return setup


def after_good(line: str) -> str:
    return jsonl_text(GOOD_ROWS) + line + "\n"


def param(dotted: str, value: Any) -> Callable[[Path, dict], str]:
    def setup(tmp: Path, raw: dict) -> str:
        node = raw
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        return dotted

    return setup


def nl_cm(nl: str, cm: str) -> Callable[[Path, dict], str]:
    def setup(tmp: Path, raw: dict) -> str:
        (tmp / "pairs.nl").write_text(nl)
        (tmp / "pairs.cm").write_text(cm)
        set_key(raw, "data.path", str(tmp / "pairs"))
        return "pairs.nl"

    return setup


GOOD_CSV = "instruction,command\n" + "".join(f'"{p["instruction"]}","{p["command"]}"\n' for p in GOOD_ROWS)
L41 = ":41:"  # the bad row follows 40 good ones

DATA_CASES = [
    ("invalid-json", data_file("d.jsonl", after_good('{"instruction": "a", "command": ')), L41 + " invalid JSON"),
    ("truncated-last-line", data_file("d.jsonl", after_good('{"instruction": "count", "comm')[:-1]), L41),
    ("empty-file", data_file("d.jsonl", ""), "file is empty"),
    ("blank-lines-only", data_file("d.jsonl", "\n  \n\n"), "file is empty"),
    ("missing-field", data_file("d.jsonl", after_good('{"instruction": "a"}')), L41 + " missing field 'command'"),
    (
        "empty-field",
        data_file("d.jsonl", after_good('{"instruction": " ", "command": "ls"}')),
        L41 + " field 'instruction' is empty",
    ),
    (
        "non-string-field",
        data_file("d.jsonl", after_good('{"instruction": "a", "command": 5}')),
        L41 + " field 'command' must be a string, got int",
    ),
    (
        "null-field",
        data_file("d.jsonl", after_good('{"instruction": null, "command": "ls"}')),
        L41 + " missing field 'instruction'",
    ),
    ("array-row", data_file("d.jsonl", after_good('["a", "ls"]')), L41 + " expected a JSON object, got list"),
    (
        "latin1-bytes",
        data_file("d.jsonl", jsonl_text(GOOD_ROWS).encode() + b'{"instruction": "caf\xe9", "command": "ls"}\n'),
        L41 + " not valid UTF-8",
    ),
    ("utf16-file", data_file("d.jsonl", jsonl_text(GOOD_ROWS).encode("utf-16")), ":1: "),
    (
        "huge-command",
        data_file("d.jsonl", after_good('{"instruction": "x", "command": "echo ' + "y" * 600 + '"}')),
        L41 + " command is 605 characters (data.max_command_chars is 500)",
    ),
    (
        "huge-instruction",
        data_file("d.jsonl", after_good('{"instruction": "' + "x" * 1200 + '", "command": "ls"}')),
        L41 + " instruction is 1200 characters",
    ),
    ("csv-missing-column", data_file("d.csv", "instruction,cmd\nlist,ls\n"), "d.csv:1: missing column(s) 'command'"),
    ("csv-extra-cells", data_file("d.csv", GOOD_CSV + "list,ls,extra\n"), "d.csv:42: 3 cells, header has 2"),
    ("csv-header-only", data_file("d.csv", "instruction,command\n"), "d.csv"),
    ("tsv-missing-column", data_file("d.tsv", "instruction\tcommand_text\nlist\tls\n"), "d.tsv:1: missing column(s)"),
    ("nl-cm-mismatch", nl_cm("a\nb\nc\n", "ls\npwd\n"), "has 3 lines but"),
    ("corrupt-parquet", data_file("d.parquet", b"PAR1 this is not parquet"), "not a readable parquet file"),
    (
        "missing-file",
        lambda tmp, raw: set_key(raw, "data.path", str(tmp / "nope.jsonl")) and "",
        "data.path: file not found",
    ),
    ("unknown-extension", data_file("d.xml", "<rows/>"), "cannot tell the format"),
    (
        "chat-without-assistant",
        data_file("d.jsonl", '{"messages": [{"role": "user", "content": "a"}]}\n', schema="messages"),
        ":1: no assistant message",
    ),
    (
        "messages-not-a-list",
        data_file("d.jsonl", '{"messages": "hi"}\n', schema="messages"),
        ":1: field 'messages' must be a list",
    ),
    (
        "alpaca-missing-output",
        data_file("d.jsonl", '{"instruction": "a", "input": "", "output_x": "ls"}\n', schema="alpaca"),
        ":1:",
    ),
]

PARAM_CASES = [
    ("unknown-top-level-key", param("trainer", {"lr": 1}), "trainer"),
    ("unknown-nested-key", param("lora.rank", 8), "lora.rank"),
    ("wrong-type", param("train.max_steps", "many"), "train.max_steps"),
    ("bool-for-number", param("train.learning_rate", True), "train.learning_rate"),
    (
        "fractions-not-summing-to-1",
        param("split.fractions", {"train": 0.8, "val": 0.3, "test": 0.1}),
        "split.fractions",
    ),
    ("lora-r-zero", param("lora.r", 0), "lora.r"),
    ("lora-r-negative", param("lora.r", -4), "lora.r"),
    ("negative-learning-rate", param("train.learning_rate", -1e-4), "train.learning_rate"),
    ("dropout-one", param("lora.dropout", 1.0), "lora.dropout"),
    ("batch-size-zero", param("train.batch_size", 0), "train.batch_size"),
    ("unknown-quant-type", param("quant.quant_type", "int3"), "quant.quant_type"),
    ("negative-max-new-tokens", param("validate.max_new_tokens", -1), "validate.max_new_tokens"),
    ("hub-model-without-revision", param("model.name_or_path", "Qwen/Qwen2.5-Coder-7B-Instruct"), "model.revision"),
    ("section-not-a-mapping", param("lora", [16, 32]), "lora"),
]


@pytest.fixture
def project(tmp_path: Path, repo_params_raw: dict) -> tuple[Path, dict]:
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"].update(
        processed=str(tmp_path / "out" / "processed"),
        reports=str(tmp_path / "out" / "reports"),
        base=str(tmp_path / "out" / "base"),
        adapter=str(tmp_path / "out" / "adapter"),
        checkpoints=str(tmp_path / "out" / "ck"),
    )
    raw["data"]["path"] = str(write_jsonl(tmp_path / "good.jsonl", GOOD_ROWS))
    raw["data"]["mix"] = []  # its own rows only
    return tmp_path, raw


def run_stage(module: str, raw: dict | str, tmp: Path, capsys) -> tuple[int, str]:
    import importlib

    params = tmp / "params.yaml"
    params.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False))
    code = importlib.import_module(module).STAGE.main(["--params", str(params)])
    return code, capsys.readouterr().err


def assert_clean_failure(code: int, err: str, expected: str, out_dir: Path) -> None:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err
    left = [p for p in out_dir.rglob("*") if p.is_file()] if out_dir.exists() else []
    assert left == [], f"outputs left behind: {left}"


@pytest.mark.parametrize("name,setup,expected", DATA_CASES + PARAM_CASES, ids=[c[0] for c in DATA_CASES + PARAM_CASES])
def test_split_stage_fails_cleanly(project, capsys, name, setup, expected):
    tmp, raw = project
    setup(tmp, raw)
    code, err = run_stage("shelltune.stages.split", raw, tmp, capsys)
    assert_clean_failure(code, err, expected, tmp / "out")


BROKEN_PARAMS_FILES = [
    ("seed: 42\nsplit: [unclosed\n", "params.yaml:3"),  # the YAML error names the line
    ("- just\n- a list\n", "expected a mapping"),
]


@pytest.mark.parametrize("text,expected", BROKEN_PARAMS_FILES)
def test_broken_params_file(project, capsys, text, expected):
    tmp, raw = project
    code, err = run_stage("shelltune.stages.split", text, tmp, capsys)
    assert_clean_failure(code, err, expected, tmp / "out")


def test_missing_params_file(tmp_path, capsys):
    from shelltune.stages.split import STAGE

    assert STAGE.main(["--params", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


# ---------------------------------------------------------------- broken models (real 4-bit loading)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, repo_params_raw) -> tuple[dict, Path]:
    rows = [{"instruction": f"list the files in dir{i % 8}", "command": f"ls dir{i % 8}"} for i in range(64)]
    raw, _ = trained_project(repo_params_raw, tmp_path_factory.mktemp("trained"), rows, steps=4)
    return raw, Path(raw["paths"]["adapter"])


def copy_project(trained, tmp_path: Path) -> tuple[dict, Path, Path]:
    raw = copy.deepcopy(trained[0])
    base, adapter = tmp_path / "base", tmp_path / "adapter"
    shutil.copytree(raw["paths"]["base"], base)
    shutil.copytree(raw["paths"]["adapter"], adapter)
    info = json.loads((base / "base.json").read_text())
    (base / "base.json").write_text(json.dumps({**info, "name_or_path": str(base)}))  # the copy, not the original
    raw["paths"].update(base=str(base), adapter=str(adapter), reports=str(tmp_path / "out" / "reports"))
    return raw, base, adapter


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BROKEN_MODELS = [
    "missing-base",
    "missing-adapter",
    "corrupt-adapter-weights",
    "corrupt-base-weights",
    "pickled-adapter-weights",
    "pickled-base-weights",
    "adapter-for-another-base",
    "corrupt-base-info",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", BROKEN_MODELS)
def test_validate_refuses_broken_models(trained, tmp_path, capsys, name):
    raw, base, adapter = copy_project(trained, tmp_path)
    if name == "missing-base":
        shutil.rmtree(base)
        expected = str(base)
    elif name == "missing-adapter":
        shutil.rmtree(adapter)
        expected = "run the train stage first"
    elif name == "corrupt-adapter-weights":
        truncate(adapter / "adapter_model.safetensors")
        expected = "adapter_model.safetensors"
    elif name == "corrupt-base-weights":
        truncate(base / "model.safetensors")
        expected = "cannot load the base model"
    elif name == "pickled-adapter-weights":
        (adapter / "adapter_model.safetensors").rename(adapter / "adapter_model.bin")
        expected = "only safetensors weights are loaded"
    elif name == "corrupt-base-info":
        (base / "base.json").write_text('{"kind": "tiny", "name_or')
        expected = "base.json: corrupted"
    elif name == "pickled-base-weights":
        (base / "model.safetensors").rename(base / "pytorch_model.bin")
        expected = "cannot load the base model"
    else:
        other = copy.deepcopy(raw)
        other["model"]["tiny"]["hidden_size"] = 32
        other["paths"]["base"] = str(tmp_path / "other-base")
        from shelltune.config import parse_params
        from shelltune.stages.base import run as build_base

        build_base(parse_params(other))
        raw["paths"]["base"] = other["paths"]["base"]
        expected = "the adapter does not fit the base model"
    code, err = run_stage("shelltune.stages.validate", raw, tmp_path, capsys)
    assert_clean_failure(code, err, expected, tmp_path / "out")


def test_the_suite_is_at_least_forty_cases():
    cases = DATA_CASES + PARAM_CASES + BROKEN_PARAMS_FILES + BROKEN_MODELS + ["missing-params-file"]
    assert len(cases) >= 40 and len({str(c[0]) if isinstance(c, tuple) else c for c in cases}) == len(cases)


# ---------------------------------------------------------------- safe by default


@pytest.mark.slow
def test_trust_remote_code_is_off_by_default_and_announced_when_on(trained, capsys):
    from shelltune.basemodel import read_base_info
    from shelltune.config import REMOTE_CODE_WARNING, parse_params
    from shelltune.models import load_tokenizer

    raw = copy.deepcopy(trained[0])
    assert raw["model"]["trust_remote_code"] is False
    load_tokenizer(read_base_info(raw["paths"]["base"]), parse_params(raw))
    assert REMOTE_CODE_WARNING not in capsys.readouterr().err
    raw["model"]["trust_remote_code"] = True
    load_tokenizer(read_base_info(raw["paths"]["base"]), parse_params(raw))
    assert REMOTE_CODE_WARNING in capsys.readouterr().err


def called_names(tree) -> list[tuple[str, object]]:
    """(dotted name, call node) for every call in a module: `os.system`, `subprocess.run`, `eval`..."""
    import ast

    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func, parts = node.func, []
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                calls.append((".".join([func.id, *reversed(parts)]), node))
    return calls


def test_no_code_path_runs_a_shell_or_generated_text():
    """Only a few modules start processes, with fixed argument lists (git, dvc, accelerate); nothing calls a
    shell, os.system, exec or eval. Generated commands are printed and scanned, and run only inside the
    execute stage's sandbox: the one Popen, in sandbox/runner.py, whose argument list always goes through
    bubblewrap (tests/test_sandbox.py checks that list). Checked on the code itself (the scanner's own
    rules mention these names in strings, which is fine)."""
    import ast

    from conftest import ROOT

    forbidden = {"os.system", "os.popen", "os.execv", "os.execvp", "exec", "eval", "pty.spawn"}
    spawners = {}
    for path in sorted((ROOT / "src" / "shelltune").rglob("*.py")):
        calls = called_names(ast.parse(path.read_text()))
        assert not [name for name, _ in calls if name in forbidden], path
        for _name, node in calls:
            assert not any(k.arg == "shell" and getattr(k.value, "value", False) for k in node.keywords), path
        runs = [(name, node) for name, node in calls if name.startswith("subprocess.")]
        if runs:
            spawners[path.relative_to(ROOT / "src" / "shelltune").as_posix()] = [
                f"{name}: {ast.unparse(node.args[0])}" for name, node in runs
            ]
    assert set(spawners) == {
        "reporting/review.py",
        "distributed.py",
        "benchmark.py",
        "training/provenance.py",
        "sandbox/runner.py",
        "sandbox/builtin.py",
    }, spawners
    popens = [f for f, calls in spawners.items() if any("Popen" in c for c in calls)]
    assert popens == ["sandbox/runner.py"], popens
    allowed = (
        "subprocess.run: ['git'",  # our own repository (provenance, review) and the fixture world's git
        "subprocess.run: [sys.executable, '-m', 'dvc'",
        "subprocess.run: command",  # review.run: git or dvc, built above it
        "subprocess.run: launch_command(",  # accelerate launch of the train stage itself
        "subprocess.Popen: argv",  # the sandbox: setpriv + prlimit + bwrap around the command
        "subprocess.run: ['ldd', binary]",  # the sandbox: the libraries of bubblewrap, when it must copy it
    )
    assert all(call.startswith(allowed) for calls in spawners.values() for call in calls), spawners


def test_no_credentials_in_tracked_files():
    """Remote credentials live in the environment or the git-ignored .dvc/config.local, never in git."""
    import re
    import subprocess

    from conftest import ROOT

    config = (ROOT / ".dvc" / "config").read_text()
    credential_options = re.compile(
        r"^\s*(access_key_id|secret_access_key|session_token|password|credentialpath"
        r"|account_key|sas_token|keyfile|gdrive_client_secret)\s*=",
        re.M | re.I,
    )
    assert not credential_options.search(config), config
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    secret = re.compile(
        r"\b(AKIA|ASIA)[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----"
        r"|secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+]{30,}",
        re.I,
    )
    for name in filter(None, tracked.split("\0")):
        path = ROOT / name
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert not secret.search(path.read_text(errors="ignore")), name
    ignored = subprocess.run(["git", "check-ignore", "-q", ".dvc/config.local"], cwd=ROOT)
    assert ignored.returncode == 0, ".dvc/config.local must be git-ignored"
