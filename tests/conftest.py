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
from pydantic import BaseModel

from shelltune.config import RuntimeParams, instant_seconds
from shelltune.numerics import PORTABLE_X86_ENV, apply_kernel_profile

ROOT = Path(__file__).resolve().parents[1]
# The sandbox's clock in params.yaml (execute.clock), in epoch seconds: the sandbox tests build their worlds at it.
CLOCK = instant_seconds(yaml.safe_load((ROOT / "params.yaml").read_text())["execute"]["clock"])
DVC = str(Path(sys.executable).with_name("dvc"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# In-process tests compute as the stages do: the default (portable) kernel profile, before torch loads.
apply_kernel_profile(RuntimeParams(**yaml.safe_load((ROOT / "params.yaml").read_text())["runtime"]))


@pytest.fixture(scope="session")
def repo_params_raw() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def params_raw(repo_params_raw: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A deep copy of params.yaml with outputs redirected into tmp_path, and no `data.mix`: a test that sets
    `data.path` splits its own rows only (the default's training-only supplement: tests/test_split.py)."""
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"]["processed"] = str(tmp_path / "processed")
    raw["paths"]["reports"] = str(tmp_path / "reports")
    raw["data"]["mix"] = []
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


def child_env() -> dict[str, str]:
    """This process's environment without what a stage must set for itself: the kernel profile's
    variables (so a test of a stage process proves the stage applies them) and the debug switch."""
    return {k: v for k, v in os.environ.items() if k not in PORTABLE_X86_ENV and k != "SHELLTUNE_DEBUG"}


def run_module(
    module: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args` the way DVC runs a stage, capturing output."""
    full_env = child_env()
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def pairs(n: int, start: int = 0) -> list[dict[str, str]]:
    """n distinct, safe instruction/command pairs."""
    return [
        {"instruction": f"show the first {i} lines of notes{i}.txt", "command": f"head -n {i} notes{i}.txt"}
        for i in range(start, start + n)
    ]


# The one tiny shape every test that trains uses: a Qwen2 that learns templated pairs in seconds.
TINY_MODEL = {
    "vocab_size": 400,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 128,
}
TINY_TRAIN = {"max_steps": 8, "batch_size": 8, "logging_steps": 2, "eval_steps": 4, "save_steps": 4, "max_length": 64}


SMOKE = yaml.safe_load((ROOT / "profiles" / "smoke.yaml").read_text())


def smoke(raw: dict[str, Any]) -> dict[str, Any]:
    """params with the smoke profile applied: the tiny random base and the settings it learns with."""
    for dotted, value in SMOKE.items():
        set_key(raw, dotted, copy.deepcopy(value))
    return raw


def shrink(raw: dict[str, Any], **train: Any) -> dict[str, Any]:
    """params of the smoke profile at the tiny size: TINY_MODEL and TINY_TRAIN, with `train` keys overriding (the
    smoke profile already skips the judge's labeled pairs: tests/test_judge.py measures them)."""
    smoke(raw)
    raw["model"]["tiny"].update(TINY_MODEL)
    raw["train"].update({**TINY_TRAIN, **train})
    return raw


def tiny_paths(raw: dict[str, Any], root: Path) -> dict[str, Any]:
    """Every output path under `root`."""
    raw["paths"] = {
        "processed": str(root / "processed"),
        "reports": str(root / "reports"),
        "base": str(root / "base"),
        "adapter": str(root / "adapter"),
        "checkpoints": str(root / "ck"),
    }
    return raw


def tiny_raw(repo_params_raw: dict[str, Any], root: Path, n_rows: int = 96, **train: Any) -> dict[str, Any]:
    """Tiny params with every path under `root`, and n_rows train / 16 val rows written there."""
    raw = shrink(tiny_paths(copy.deepcopy(repo_params_raw), root), **train)
    processed = root / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    write_jsonl(processed / "train.jsonl", pairs(n_rows))
    write_jsonl(processed / "val.jsonl", pairs(16, start=1000))
    return raw


def tiny_trained(repo_params_raw: dict[str, Any], root: Path) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """`tiny_raw`'s params under root, then the real base and train stages: (raw, params, provenance)."""
    from shelltune.config import parse_params
    from shelltune.stages.base import run as build_base
    from shelltune.stages.train import run as train

    raw = tiny_raw(repo_params_raw, root)
    params = parse_params(raw)
    build_base(params)
    return raw, params, train(params)


def shrink_params_file(path: Path, **train: Any) -> None:
    """A clone's params.yaml at the tiny size, so the whole default pipeline runs in about a minute."""
    raw = yaml.safe_load(path.read_text())
    shrink(
        raw,
        **{
            "max_steps": 20,
            "eval_steps": 10,
            "save_steps": 10,
            "logging_steps": 5,
            "batch_size": 32,
            "max_length": 128,
            **train,
        },
    )
    raw["validate"]["limit"] = 32
    set_params_like_dvc(path, raw)


def set_params_like_dvc(path: Path, raw: dict[str, Any]) -> None:
    """Write `raw`'s values into the params file at `path` through DVC's own `-S` (what `dvc exp run -S`
    does), so the file keeps the style DVC writes back and a later `-S` in the test changes one line."""
    from dvc.utils.hydra import apply_overrides
    from test_params_file import hydra_value, leaves

    current = dict(leaves(yaml.safe_load(path.read_text())))
    changed = [f"{key}={hydra_value(value)}" for key, value in leaves(raw) if current.get(key, ...) != value]
    if changed:
        apply_overrides(str(path), changed)
    assert yaml.safe_load(path.read_text()) == raw, f"{path}: -S did not write every value"


def trained_project(repo_params_raw: dict[str, Any], root: Path, rows: list[dict], steps: int) -> tuple[dict, Path]:
    """A tiny base and adapter trained on `rows` (test split: the first 24), with params written to root."""
    from shelltune.config import parse_params
    from shelltune.stages.base import run as build_base
    from shelltune.stages.train import run as train

    raw = shrink(
        tiny_paths(copy.deepcopy(repo_params_raw), root),
        max_steps=steps,
        batch_size=16,
        logging_steps=5,
        eval_steps=steps,
        save_steps=steps,
        learning_rate=0.01,
    )
    raw["validate"].update(limit=24, max_new_tokens=16)
    raw["scan"]["max_new_tokens"] = 16
    processed = root / "processed"
    processed.mkdir(parents=True)
    write_jsonl(processed / "train.jsonl", [{"id": str(i), **r, "source": "t"} for i, r in enumerate(rows)])
    write_jsonl(processed / "val.jsonl", [{"id": f"v{i}", **r, "source": "t"} for i, r in enumerate(rows[:16])])
    write_jsonl(processed / "test.jsonl", [{"id": f"t{i}", **r, "source": "t"} for i, r in enumerate(rows[:24])])
    reports = root / "reports"
    reports.mkdir()
    (reports / "split.json").write_text(
        json.dumps(
            {
                "rows_read": len(rows),
                "rows_kept": len(rows),
                "dropped_unsafe": 0,
                "train_rows": len(rows),
                "val_rows": 16,
                "test_rows": 24,
            }
        )
    )
    params_file = write_params(root / "params.yaml", raw)
    params = parse_params(raw)
    build_base(params)
    train(params)
    return raw, params_file


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for dvc/git/shelltune subprocesses: the venv first on PATH, no analytics."""
    return {
        **child_env(),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        **(extra or {}),
    }


def sh(
    *args: str,
    cwd: Path,
    stdout_only: bool = False,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: int = 900,
) -> str:
    """Run a command; with check, a failure shows its output. Returns stdout (+ stderr unless stdout_only)."""
    result = subprocess.run(args, cwd=cwd, env=tool_env(env), capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout if stdout_only else result.stdout + result.stderr


def make_clone(dest: Path) -> Path:
    """A fresh git repository holding the working tree's tracked files (what a newcomer's clone has)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
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


SHRUNK_RUN_LOG = "shrunk-run.log"  # beside the repository: what its `dvc repro` printed


@pytest.fixture(scope="session")
def shrunk_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone at the tiny size (`shrink_params_file`), reproduced and committed once: the tests that
    rerun or kill a stage, or run experiments, each work on a copy of it (`copy_run`), not a run of their own."""
    repo = make_clone(tmp_path_factory.mktemp("shrunk") / "repo")
    shrink_params_file(repo / "params.yaml")
    commit_all(repo, "shrunk params")
    (repo.parent / SHRUNK_RUN_LOG).write_text(sh(DVC, "repro", cwd=repo))
    commit_all(repo, "shrunk run")
    return repo


def copy_run(run: Path, dest: Path) -> Path:
    """A copy of a reproduced clone, its DVC cache and git history included (DVC rehashes the copies)."""
    shutil.copytree(run, dest, symlinks=True)
    assert sh("git", "status", "--porcelain", "--untracked-files=all", cwd=dest, stdout_only=True) == ""
    return dest


@pytest.fixture(scope="session")
def reproduced_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone with the smoke profile committed, after a full `dvc repro` (about 2 minutes on 2
    cores), shared by the slow tests that need a whole pipeline's outputs: no-op runs, remote storage,
    the benchmark, the export. (The default run on SmolLM2 takes about 20 minutes: the tests reproduce
    its split and base exactly, and train the 135M model for two steps, in tests/test_pipeline.py and
    tests/test_smollm2.py.)"""
    repo = make_clone(tmp_path_factory.mktemp("reproduced") / "repo")
    params = repo / "params.yaml"
    params.write_text(yaml.safe_dump(smoke(yaml.safe_load(params.read_text())), sort_keys=False))
    commit_all(repo, "the smoke profile")
    sh(DVC, "repro", cwd=repo, timeout=1800)
    commit_all(repo, "the smoke run")
    return repo


@pytest.fixture(scope="session")
def smollm2_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The default base, SmolLM2-135M-Instruct converted from the wheel's GGUF once per session (about
    40 s): (what base.json records, the directory)."""
    from shelltune.config import GgufParams
    from shelltune.ggufmodel import build_from_gguf

    out = tmp_path_factory.mktemp("smollm2") / "base"
    out.mkdir()
    spec = GgufParams(**yaml.safe_load((ROOT / "params.yaml").read_text())["model"]["gguf"])
    info = {"kind": "gguf", "name_or_path": str(out), "revision": None, **build_from_gguf(spec, out)}
    (out / "base.json").write_text(json.dumps(info, indent=2) + "\n")
    return info, out


class Recorder:
    """Stands in for a params section; records every dotted key read through it."""

    def __init__(self, model: BaseModel, path: str, seen: set[str]):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._model, name)
        fields = type(self._model).model_fields
        if name not in fields:  # a method such as model_dump: records the whole section
            self._seen.add(self._path or "*")
            return value
        key = fields[name].alias or name
        dotted = f"{self._path}.{key}" if self._path else key
        if isinstance(value, BaseModel):
            return Recorder(value, dotted, self._seen)
        self._seen.add(dotted)
        return value


def save_random_model(config: dict, directory: Path, dtype: Any = None) -> Path:
    """A randomly initialised transformers model of `config` saved into `directory` (float32 unless `dtype`)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config), dtype=dtype or torch.float32)
    model.save_pretrained(directory)
    return directory


# A 2-layer Qwen2 small enough to load in 4-bit in well under a second.
TINY_QWEN = {
    "model_type": "qwen2",
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "tie_word_embeddings": False,
}


def require_tool(ready: bool, require_env: str, missing: str) -> None:
    """Skip when an optional tool is missing, except where `require_env` is set (CI sets it to 1): fail."""
    if not ready:
        if os.environ.get(require_env):
            pytest.fail(f"{missing} ({require_env} is set)")
        pytest.skip(missing)


LLAMA_CPP = ROOT / "tools" / "llama.cpp"


def require_llama_cpp() -> None:
    """llama.cpp's converter and llama-cpp-python, which `make export-tools` installs."""
    try:
        import llama_cpp  # noqa: F401

        ready = (LLAMA_CPP / "convert_hf_to_gguf.py").exists()
    except ImportError:
        ready = False
    require_tool(ready, "SHELLTUNE_REQUIRE_LLAMA_CPP", "llama.cpp tools are missing: run `make export-tools`")


def gguf_reader(path: Path) -> Any:
    """A GGUFReader from llama.cpp's own gguf-py (the version its converter wrote with)."""
    sys.path.insert(0, str(LLAMA_CPP / "gguf-py"))
    try:
        from gguf import GGUFReader
    finally:
        sys.path.remove(str(LLAMA_CPP / "gguf-py"))
    return GGUFReader(path)
