"""Any chat model: the whole pipeline through DVC on a second architecture and chat format.

`model.tiny.architecture: llama` builds a random-init LlamaForCausalLM with Llama 3's template (a BOS
token, role headers, `<|eot_id|>` after each turn) whose eos_token and generation config name only
`<|end_of_text|>`, as Meta-Llama-3-8B-Instruct first shipped. Nothing in the pipeline may assume ChatML:
split → base → train → validate → scan → plot, then the export (merge, GGUF, Ollama Modelfile, llama.cpp
against transformers) when llama.cpp's tools are there (`make export-tools`; required in CI).

The data are templated requests a tiny model learns in 120 steps (at 60 it is still mid-way, and whether
it picks the right utility then depends on the seed), so the model really ends its answers with the
end-of-turn token and the checks on stopping mean something.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import (
    DVC,
    LLAMA_CPP,
    gguf_reader,
    make_clone,
    require_llama_cpp,
    sh,
    shrink_params_file,
    write_jsonl,
)

EOT, END_OF_TEXT = "<|eot_id|>", "<|end_of_text|>"


def templated_rows() -> list[dict[str, str]]:
    rows = []
    for i in range(1, 201):
        rows.append(
            {"instruction": f"show the first {i} lines of notes{i}.txt", "command": f"head -n {i} notes{i}.txt"}
        )
        rows.append({"instruction": f"show the last {i} lines of notes{i}.txt", "command": f"tail -n {i} notes{i}.txt"})
        rows.append({"instruction": f"count the lines in log{i}.txt", "command": f"wc -l log{i}.txt"})
    return rows


@pytest.fixture(scope="module")
def llama_repo(tmp_path_factory) -> tuple[Path, str]:
    """A fresh clone with the tiny Llama, after `dvc repro`; and what that printed."""
    repo = make_clone(tmp_path_factory.mktemp("llama") / "repo")
    write_jsonl(repo / "data" / "raw" / "templated.jsonl", templated_rows())
    params_file = repo / "params.yaml"
    shrink_params_file(params_file, max_steps=120, eval_steps=60, save_steps=60, logging_steps=10)
    raw = yaml.safe_load(params_file.read_text())
    raw["model"]["tiny"]["architecture"] = "llama"
    raw["data"]["path"] = "data/raw/templated.jsonl"
    raw["data"]["mix"] = []  # its templated rows only (not the default's training-only supplement)
    raw["export"]["prompts"] = 32
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    return repo, sh(DVC, "repro", cwd=repo, timeout=1200)


@pytest.mark.slow
def test_every_stage_runs_on_a_llama_with_llama3_chat_format(llama_repo):
    repo, out = llama_repo
    for stage in ("split", "base", "train", "validate", "scan", "plot"):
        assert f"Running stage '{stage}'" in out
    base = repo / "models" / "base"
    assert json.loads((base / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    assert json.loads((base / "tokenizer_config.json").read_text())["eos_token"] == END_OF_TEXT
    assert json.loads((base / "generation_config.json").read_text())["eos_token_id"] == [1]  # <|end_of_text|>
    assert "<|start_header_id|>" in (repo / "models" / "adapter" / "chat_template.jinja").read_text()
    metrics = json.loads((repo / "reports" / "validate.json").read_text())
    assert metrics["tuned"]["command_name_accuracy"] >= 0.9 and metrics["tuned"]["command_only"] == 1.0
    for row in map(json.loads, (repo / "reports" / "predictions.jsonl").read_text().splitlines()):
        # one line, the answer only: no role header or next turn leaking past the end of turn
        assert "assistant" not in row["tuned_output"] and "\n" not in row["tuned_output"].strip()
    assert (repo / "reports" / "plots" / "metrics.png").exists()
    assert "up to date" in sh(DVC, "status", "dvc.yaml", cwd=repo)


@pytest.mark.slow
def test_the_llama_base_rebuilds_byte_identical(llama_repo):
    repo, _ = llama_repo
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    before = lock["stages"]["base"]["outs"]
    sh(DVC, "repro", "-f", "base", cwd=repo)
    assert yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["base"]["outs"] == before
    assert "up to date" in sh(DVC, "status", "dvc.yaml", cwd=repo)  # train sees the same base


@pytest.mark.slow
def test_generation_stops_at_eot_which_only_the_template_names(llama_repo, monkeypatch):
    """The model ends its answers with <|eot_id|> (trained on the template), and generation stops there
    although the checkpoint's eos settings say <|end_of_text|> only."""
    import torch

    from shelltune.chat import end_of_turn_ids
    from shelltune.config import load_params
    from shelltune.inference import generate, load_model_and_tokenizer, render_prompts, stop_token_ids

    repo, _ = llama_repo
    monkeypatch.chdir(repo)
    params = load_params(repo / "params.yaml")
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    eot, end_of_text = tokenizer.convert_tokens_to_ids([EOT, END_OF_TEXT])
    assert model.generation_config.eos_token_id == [end_of_text] and tokenizer.eos_token_id == end_of_text
    assert end_of_turn_ids(tokenizer) == [eot] and eot in stop_token_ids(model, tokenizer)

    requests = [json.loads(line)["instruction"] for line in (repo / "data" / "processed" / "test.jsonl").open()][:10]
    system, budget = params.prompt.system, params.validate.max_new_tokens
    new = []
    with torch.inference_mode():  # one prompt at a time (no padding), as the checkpoint alone would stop
        for text in render_prompts(tokenizer, system, requests):
            ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
            out = model.generate(**ids, max_new_tokens=budget, do_sample=False, eos_token_id=[end_of_text])
            new.append(out[0, ids["input_ids"].shape[1] :].tolist())
    ends = [row.index(eot) if eot in row else None for row in new]
    assert sum(end is not None and end < budget - 1 for end in ends) >= 9, ends  # it learned to end the turn
    generations = generate(model, tokenizer, system, requests, budget, batch_size=1)
    for generation, row, end in zip(generations, new, ends, strict=True):
        if end is not None:  # stopped exactly at the end of turn: the answer, nothing after it
            assert generation.new_tokens == end
            assert generation.text == tokenizer.decode(row[:end], skip_special_tokens=True)


@pytest.fixture(scope="module")
def llama_export(llama_repo) -> Path:
    require_llama_cpp()
    repo, _ = llama_repo
    shutil.copytree(LLAMA_CPP, repo / "tools" / "llama.cpp", ignore=shutil.ignore_patterns("dist"))
    out = sh(DVC, "repro", "export/dvc.yaml", cwd=repo, timeout=900)
    assert "Running stage 'export/dvc.yaml:export'" in out and "Running stage 'train'" not in out
    return repo


def gguf_fields(path: Path) -> dict[str, object]:
    fields = {}
    for name, part in gguf_reader(path).fields.items():
        if name.startswith("tokenizer.ggml.") and name[15:] in ("tokens", "merges", "token_type"):
            continue
        value = part.parts[part.data[0]]
        fields[name] = bytes(value).decode() if part.types[0].name == "STRING" else value[0].item()
    return fields


@pytest.mark.slow
def test_llama_gguf_agrees_with_transformers(llama_export):
    report = json.loads((llama_export / "reports" / "export.json").read_text())
    assert report["prompts"] == 32 and report["tokenizer_agreement"] == 1.0
    assert report["agreement"] == report["gguf"]["f16"]["agreement"] >= 0.95
    for kind in ("q8_0", "q4_k_m"):
        assert report["gguf"][kind]["agreement"] >= 0.5
    merged = llama_export / "models" / "merged"
    stops = json.loads((merged / "generation_config.json").read_text())["eos_token_id"]
    assert sorted(stops) == [1, 4]  # <|end_of_text|> and <|eot_id|>, written for transformers users too
    fields = gguf_fields(llama_export / "models" / "gguf" / "shelltune-f16.gguf")
    assert fields["general.architecture"] == "llama" and fields["tokenizer.ggml.pre"] == "llama-bpe"
    assert fields["tokenizer.ggml.add_bos_token"] is True and fields["tokenizer.ggml.bos_token_id"] == 0
    assert fields["tokenizer.chat_template"] == (merged / "chat_template.jinja").read_text()


@pytest.mark.slow
def test_llama_modelfile_speaks_llama3(llama_export):
    modelfile = (llama_export / "models" / "gguf" / "Modelfile").read_text()
    assert "FROM ./shelltune-q8_0.gguf" in modelfile
    assert (
        'TEMPLATE """{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}'
        "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
        '<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>"""'
    ) in modelfile
    assert "<|begin_of_text|>" not in modelfile  # llama.cpp adds it (add_bos_token)
    assert [line for line in modelfile.splitlines() if line.startswith("PARAMETER stop")] == [
        f'PARAMETER stop "{EOT}"',
        f'PARAMETER stop "{END_OF_TEXT}"',
        'PARAMETER stop "<|start_header_id|>"',
    ]
    assert "<|im_end|>" not in modelfile and "<|im_start|>" not in modelfile
