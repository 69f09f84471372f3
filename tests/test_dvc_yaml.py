"""dvc.yaml declares exactly what each stage reads.

Params: each stage runs (its entry's start-up included) with a recording proxy in place of its params,
and the keys it touched are compared with the stage's `params:` list. Code: the files each stage's
module imports, followed transitively (`shelltune.codedeps`), are compared with its `deps:`, both ways.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from shelltune.config import parse_params

from conftest import ROOT, Recorder, pairs, shrink, tiny_paths, write_jsonl

STAGES = ["split", "base", "train", "validate", "execute", "scan", "plot", "export"]
LLAMA_CPP = ROOT / "tools" / "llama.cpp"


def declared_params() -> dict[str, list[str]]:
    stages = {}
    for file in (ROOT / "dvc.yaml", ROOT / "export" / "dvc.yaml"):  # the main pipeline and the optional export
        stages.update(yaml.safe_load(file.read_text())["stages"])
    return {name: stage.get("params", []) for name, stage in stages.items()}


def needs_converter(stage: str) -> None:
    if stage == "export" and not (LLAMA_CPP / "convert_hf_to_gguf.py").exists():
        pytest.skip("llama.cpp's converter is not unpacked (make export-tools)")


def model_dump_sections(seen: set[str], params) -> set[str]:
    """`params.model_dump()` reads everything; train keeps only PARAM_SECTIONS of it."""
    from shelltune.training.provenance import PARAM_SECTIONS

    if "*" in seen:
        seen.discard("*")
        seen.update(PARAM_SECTIONS)
    return seen


def covered(key: str, declared: list[str]) -> bool:
    return any(key == d or key.startswith(d + ".") for d in declared)


@pytest.fixture(scope="module")
def reads(tmp_path_factory, repo_params_raw) -> dict[str, set[str]]:
    root = tmp_path_factory.mktemp("reads")
    raw = shrink(tiny_paths(copy.deepcopy(repo_params_raw), root), max_steps=4, eval_steps=2, save_steps=2)
    raw["data"]["path"] = str(write_jsonl(root / "data.jsonl", pairs(120)))
    # an extra set, so every stage's extra-set branch runs (validate answers it, execute runs it, scan checks it)
    extra = write_jsonl(root / "extra.jsonl", [{"instruction": "list docs", "command": "ls docs"}])
    raw["validate"]["extra_sets"] = [{"name": "extra", "path": str(extra), "format": "auto", "schema": "auto"}]
    raw["validate"].update(limit=8, max_new_tokens=8)
    raw["scan"].update(redteam=str(ROOT / raw["scan"]["redteam"]), max_new_tokens=8)
    raw["export"].update(
        merged=str(root / "merged"),
        gguf=str(root / "gguf"),
        llama_cpp=str(LLAMA_CPP),
        prompts=4,
        max_new_tokens=8,
        quantize=["q8_0"],
    )
    params = parse_params(raw)
    names = [n for n in STAGES if n != "export" or (LLAMA_CPP / "convert_hf_to_gguf.py").exists()]
    result: dict[str, Any] = {"params": params}
    for name in names:
        stage = importlib.import_module(f"shelltune.stages.{name}").STAGE
        seen: set[str] = set()
        stage.start(Recorder(params, "", seen))  # what the entry point reads before the stage runs
        stage.run(Recorder(params, "", seen))
        result[name] = model_dump_sections(seen, params)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_every_param_a_stage_reads_is_declared(reads, stage):
    needs_converter(stage)
    declared = declared_params()[stage]
    undeclared = sorted(k for k in reads[stage] if not covered(k, declared))
    assert not undeclared, f"{stage} reads {undeclared} but dvc.yaml does not declare them"


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_every_declared_param_is_read(reads, stage):
    needs_converter(stage)
    unused = [d for d in declared_params()[stage] if not any(covered(k, [d]) for k in reads[stage])]
    assert not unused, f"dvc.yaml declares {unused} for {stage}, which never reads them (needless re-runs)"


# Sections read in part, depending on the configuration: base reads model.tiny.* for the tiny model and
# model.revision/trust_remote_code for others; split reads data.hf.* only for a Hugging Face dataset.
BRANCHES = {("base", "model"), ("split", "data")}


def leaf_keys(node: BaseModel, prefix: str) -> list[str]:
    keys = []
    for name, field in type(node).model_fields.items():
        dotted = f"{prefix}.{field.alias or name}"
        value = getattr(node, name)
        keys += leaf_keys(value, dotted) if isinstance(value, BaseModel) else [dotted]
    return keys


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_declared_sections_are_read_in_full(reads, stage):
    """Declaring a whole section when only part of it is read would re-run the stage for nothing."""
    needs_converter(stage)
    params = reads["params"]
    for declared in declared_params()[stage]:
        node = params
        for part in declared.split("."):
            node = getattr(node, "schema_" if part == "schema" else part)
        if not isinstance(node, BaseModel) or (stage, declared) in BRANCHES:
            continue
        unread = [
            leaf
            for leaf in leaf_keys(node, declared)
            if not any(leaf == k or leaf.startswith(k + ".") for k in reads[stage])
        ]
        assert not unread, f"{stage} declares {declared} but never reads {unread}: declare the keys it reads"


# ---------------------------------------------------------------- the check stage runs first


def stage_graph() -> dict[str, set[str]]:
    """Stage -> the stages whose outputs it reads, over both pipelines (paths resolved from params.yaml)."""
    paths = yaml.safe_load((ROOT / "params.yaml").read_text())["paths"]
    stages = {}
    for file in (ROOT / "dvc.yaml", ROOT / "export" / "dvc.yaml"):
        stages.update(yaml.safe_load(file.read_text())["stages"])

    def resolve(entry: Any) -> str:
        name = next(iter(entry)) if isinstance(entry, dict) else entry
        for key, value in paths.items():
            name = name.replace("${paths." + key + "}", value)
        return name

    produced = {resolve(out): name for name, stage in stages.items() for out in stage.get("outs", [])}
    return {
        name: {
            produced[o]
            for p in map(resolve, stage.get("deps", []))
            for o in produced
            if p == o or p.startswith(o + "/")
        }
        for name, stage in stages.items()
    }


def test_the_check_stage_reads_every_param_and_every_other_stage_waits_for_it():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages)[0] == "check" and stages["check"]["params"] == [{"params.yaml": None}]
    graph = stage_graph()

    def upstream(name: str) -> set[str]:
        found = set(graph[name])
        for parent in graph[name]:
            found |= upstream(parent)
        return found

    assert not graph["check"]
    assert all("check" in upstream(name) for name in graph if name != "check"), {n: upstream(n) for n in graph}
