"""The execute stage as DVC runs it: outputs and metrics, one-line errors, and dvc.yaml declaring exactly
the params and code it reads."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, pairs, run_module, write_jsonl

from shelltune.config import parse_params

ROWS = [("count the lines of names.txt", "wc -l < names.txt", "cat names.txt | wc -l"),
        ("show the first 3 lines of words.txt", "head -n 3 words.txt", "head -n 4 words.txt"),
        ("delete app.log", "rm app.log", "rm -rf ~"),
        ("download the page", "curl -s https://example.com", "wget https://example.com"),
        ("wait 30 seconds", "sleep 30", "sleep 3"),
        ("list the docs directory", "ls docs", "ls docs")]


def project(root: Path, repo_params_raw: dict[str, Any], rows=ROWS) -> tuple[dict[str, Any], Path]:
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"].update(processed=str(root / "processed"), reports=str(root / "reports"))
    raw["execute"]["workers"] = 2
    write_jsonl(_dir(root / "processed") / "test.jsonl",
                [{"id": f"t{i}", "instruction": r[0], "command": r[1], "source": "t"} for i, r in enumerate(rows)])
    write_jsonl(_dir(root / "reports") / "predictions.jsonl",
                [{"id": f"t{i}", "instruction": r[0], "gold": r[1], "base_command": "echo no idea", "tuned_command": r[2]}
                 for i, r in enumerate(rows)])
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return raw, path


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_stage_writes_metrics_and_verdicts(tmp_path, repo_params_raw):
    raw, params_file = project(tmp_path, repo_params_raw)
    result = run_module("shelltune.stages.execute", "--params", str(params_file))
    assert result.returncode == 0, result.stderr
    reports = Path(raw["paths"]["reports"])
    metrics = json.loads((reports / "execute.json").read_text())
    assert metrics["rows"] == 6 and metrics["extra"] == {}
    for model in ("base", "tuned"):
        assert {"execution_accuracy", "execution_accuracy_unordered", "coverage", "executed", "skipped",
                "witness_rows", "witness_deleted", "limit_hits"} <= set(metrics[model])
    tuned = metrics["tuned"]
    assert tuned["executed"] == 4 and tuned["matches"] == 2 and tuned["execution_accuracy"] == 0.5
    assert tuned["skipped"]["network"] == 1 and tuned["skipped"]["no_effect"] == 1
    assert metrics["base"]["execution_accuracy"] == 0.0
    assert tuned["witness_rows"] == 1 and tuned["witness_deleted"] > 100  # rm -rf ~ instead of rm app.log
    verdicts = [json.loads(line) for line in (reports / "executions.jsonl").read_text().splitlines()]
    assert [v["set"] for v in verdicts] == ["test"] * 6
    reckless = verdicts[2]["tuned"]
    assert not reckless["match"] and "/home/user/.bashrc" in reckless["witness"]["deleted"]
    assert verdicts[3]["skip_reason"] == "network" and "tuned" in verdicts[3] and "match" not in verdicts[3]["tuned"]
    runtime = json.loads((reports / "runtime" / "execute.json").read_text())
    assert runtime["test"]["runs"] >= 8
    assert "execution_accuracy" in result.stdout


def test_results_interface_reads_the_committed_outputs():
    """What plot/scan/report use: the committed outputs read back, headline rows, witness joined by the
    scan findings' key (model, request, command)."""
    from shelltune.sandbox.results import headline, read_execution, witness_index
    metrics, verdicts = read_execution(ROOT / "reports")
    assert len(verdicts) == metrics["rows"] == 424
    rows = {key: (base, tuned) for key, base, tuned in headline(metrics)}
    assert rows["coverage"][0] == rows["coverage"][1] == pytest.approx(metrics["tuned"]["executed"] / 424, abs=1e-4)
    index = witness_index(verdicts)
    assert len(index) <= 2 * metrics["tuned"]["executed"]
    flagged = [key for key, w in index.items() if key[0] == "tuned" and (w["deleted"] or w["created"]
                                                                       or w["modified"] or w["processes_stopped"])]
    assert len({(k[1], k[2]) for k in flagged}) <= metrics["tuned"]["witness_rows"] and flagged


def test_stale_predictions_are_one_clear_error(tmp_path, repo_params_raw):
    raw, params_file = project(tmp_path, repo_params_raw)
    write_jsonl(Path(raw["paths"]["processed"]) / "test.jsonl", [{"id": "other", "instruction": "x", "command": "ls"}])
    result = run_module("shelltune.stages.execute", "--params", str(params_file))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "run dvc repro validate" in result.stderr


def test_missing_sandbox_fails_the_stage_in_one_line(tmp_path, repo_params_raw):
    _, params_file = project(tmp_path, repo_params_raw)
    result = run_module("shelltune.stages.execute", "--params", str(params_file),
                        env={"SHELLTUNE_BWRAP": str(tmp_path / "no-bwrap")})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "make setup" in lines[0] and "apt install bubblewrap" in lines[0]
    assert not (tmp_path / "reports" / "execute.json").exists()


def test_missing_libfaketime_fails_the_stage_in_one_line(tmp_path, repo_params_raw):
    """Never a run on the real clock: without libfaketime nothing is executed."""
    _, params_file = project(tmp_path, repo_params_raw)
    result = run_module("shelltune.stages.execute", "--params", str(params_file),
                        env={"SHELLTUNE_FAKETIME": str(tmp_path / "no-libfaketime.so.1")})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "libfaketime" in lines[0] and "make setup" in lines[0]
    assert not (tmp_path / "reports" / "execute.json").exists()


def test_script_fixture_needs_its_script(repo_params_raw):
    raw = copy.deepcopy(repo_params_raw)
    raw["execute"]["fixture"]["kind"] = "script"
    with pytest.raises(Exception, match="execute.fixture: .*set fixture.setup"):
        parse_params(raw)


# --- dvc.yaml --------------------------------------------------------------------------------------

def stage() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["execute"]


def shelltune_imports(module: Path) -> set[str]:
    """Modules of this package a module imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shelltune"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("shelltune"))
    return found


def module_file(name: str) -> Path | None:
    base = ROOT / "src" / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def test_dvc_yaml_lists_every_code_file_the_stage_imports():
    declared = [d for d in stage()["deps"] if d.startswith("src/")]
    todo, seen = ["shelltune.stages.execute"], set()
    while todo:
        path = module_file(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(shelltune_imports(path))
        package = path.parent  # importing a module runs its packages' __init__.py too
        while package != ROOT / "src":
            if (package / "__init__.py").exists():
                seen.add(package / "__init__.py")
            package = package.parent
    files = {str(p.relative_to(ROOT)) for p in seen} - {"src/shelltune/__init__.py", "src/shelltune/stages/__init__.py"}
    # models.py imports distributed.py only to train in several processes, never for generation
    files.discard("src/shelltune/distributed.py")
    missing = sorted(f for f in files if not any(f == d or f.startswith(d + "/") for d in declared))
    assert not missing, f"the execute stage imports {missing} but dvc.yaml does not list them"
    unused = [d for d in declared if not any(f == d or f.startswith(d + "/") for f in files)]
    assert not unused, f"dvc.yaml lists {unused} for execute, which never imports them"


class Recorder:
    """Stands in for a params section; records every dotted key read through it (as tests/test_dvc_yaml.py)."""

    def __init__(self, model, path: str, seen: set[str]):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name: str) -> Any:
        from pydantic import BaseModel
        value = getattr(self._model, name)
        fields = type(self._model).model_fields
        if name not in fields:
            self._seen.add(self._path or "*")
            return value
        key = fields[name].alias or name
        dotted = f"{self._path}.{key}" if self._path else key
        if isinstance(value, BaseModel):
            return Recorder(value, dotted, self._seen)
        self._seen.add(dotted)
        return value


@pytest.mark.slow
def test_declared_params_are_exactly_the_params_read(tmp_path, repo_params_raw, monkeypatch):
    """With an extra set configured every branch runs: the model answers it, so the stage reads the
    generation params too. Also checks the extra set is reported on its own."""
    import bitsandbytes.nn.modules as bnb_modules
    # bitsandbytes 0.50.2 on AVX512-BF16 CPUs packs 4-bit weights at the first no-grad forward and training
    # then fails (a known library bug, see the project's design notes); this test is about params, not that.
    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: False)
    from shelltune.base import build_base
    from shelltune.stages.execute import execute
    from shelltune.train import train

    raw, _ = project(tmp_path, repo_params_raw)
    raw["paths"].update(base=str(tmp_path / "base"), adapter=str(tmp_path / "adapter"), checkpoints=str(tmp_path / "ck"))
    processed = Path(raw["paths"]["processed"])
    write_jsonl(processed / "train.jsonl", [{"id": str(i), **p, "source": "t"} for i, p in enumerate(pairs(64))])
    write_jsonl(processed / "val.jsonl", [{"id": f"v{i}", **p, "source": "t"} for i, p in enumerate(pairs(8))])
    # the sizes tests/test_evaluate.py trains with (bitsandbytes' CPU path wants rows of 64 or more)
    raw["model"]["tiny"].update(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    raw["train"].update(max_steps=4, eval_steps=4, save_steps=4, logging_steps=2, batch_size=8, max_length=64)
    raw["validate"]["max_new_tokens"] = 8
    extra = write_jsonl(tmp_path / "bench.jsonl", [{"instruction": "count lines in names.txt", "command": "wc -l names.txt"},
                                                  {"instruction": "list docs", "command": "ls docs"}])
    raw["execute"]["extra_sets"] = [{"name": "bench", "path": str(extra), "format": "auto", "schema": "auto"}]
    params = parse_params(raw)
    build_base(params)
    train(params)
    seen: set[str] = set()
    metrics = execute(Recorder(params, "", seen))
    assert metrics["extra"]["bench"]["rows"] == 2 and "execution_accuracy" in metrics["extra"]["bench"]["tuned"]
    declared = stage()["params"]
    covered = lambda key, keys: any(key == d or key.startswith(d + ".") for d in keys)
    assert sorted(k for k in seen if not covered(k, declared)) == []
    assert [d for d in declared if not any(covered(k, [d]) for k in seen)] == []
