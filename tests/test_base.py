"""The base stage: a deterministic tiny Qwen2 (ChatML) or Llama (Llama 3 template) built offline, or a
pinned reference to another model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from shelltune.basemodel import read_base_info, tokenizer_corpus, train_tokenizer
from shelltune.chat import prompt_messages
from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.stages.base import run as build_base

from conftest import TINY_MODEL, pairs, set_key, shrink, smoke, write_jsonl


@pytest.fixture
def base_params(params_raw, tmp_path):
    processed = Path(params_raw["paths"]["processed"])
    processed.mkdir(parents=True)
    write_jsonl(processed / "train.jsonl", pairs(60))
    set_key(params_raw, "paths.base", str(tmp_path / "base"))
    return shrink(params_raw)


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_tokenizer_has_chatml_tokens_and_qwen_template():
    tok = train_tokenizer(tokenizer_corpus(pairs(50), "Be safe.", "qwen2"), 400, "qwen2")
    for token in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tok(token, add_special_tokens=False)["input_ids"]) == 1
    text = tok.apply_chat_template(
        prompt_messages("Be safe.", "list files"), tokenize=False, add_generation_prompt=True
    )
    assert text == (
        "<|im_start|>system\nBe safe.<|im_end|>\n<|im_start|>user\nlist files<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    # byte-level: anything round-trips, even characters never seen in training
    command = "grep -rn 'ünïcode ✓' ~/src | head -n 3"
    assert tok.decode(tok(command, add_special_tokens=False)["input_ids"]) == command


def test_llama_tokenizer_has_llama3_tokens_template_and_bos():
    from shelltune.chat import end_of_turn_tokens

    tok = train_tokenizer(tokenizer_corpus(pairs(50), "Be safe.", "llama"), 400, "llama")
    for token in ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"):
        assert len(tok(token, add_special_tokens=False)["input_ids"]) == 1
    messages = prompt_messages("Be safe.", "list files")
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe safe.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nlist files<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    # As Meta-Llama-3-8B-Instruct first shipped: eos_token is the end of text, the turn ends with <|eot_id|>.
    assert tok.eos_token == "<|end_of_text|>" and end_of_turn_tokens(tok) == ["<|eot_id|>"]
    # The tokenizer prepends BOS to plain text; the rendered template carries its own, once.
    assert tok("ls")["input_ids"][0] == tok.bos_token_id
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    command = "grep -rn 'ünïcode ✓' ~/src | head -n 12345"
    assert tok.decode(tok(command, add_special_tokens=False)["input_ids"]) == command


@pytest.mark.parametrize(
    ("architecture", "model_class"), [("qwen2", "Qwen2ForCausalLM"), ("llama", "LlamaForCausalLM")]
)
def test_tiny_base_is_deterministic(base_params, tmp_path, architecture, model_class):
    set_key(base_params, "model.tiny.architecture", architecture)
    params = parse_params(base_params)
    info = build_base(params)
    first = digests(tmp_path / "base")
    build_base(params)
    assert digests(tmp_path / "base") == first
    assert {"model.safetensors", "config.json", "tokenizer.json", "base.json"} <= set(first)
    assert info["kind"] == "tiny" and read_base_info(tmp_path / "base")["vocab_size"] <= 400
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    assert config["architectures"] == [model_class] and config["hidden_size"] == TINY_MODEL["hidden_size"]
    set_key(base_params, "seed", 1)
    build_base(parse_params(base_params))
    assert digests(tmp_path / "base")["model.safetensors"] != first["model.safetensors"]


def test_local_directory_is_pinned_not_copied(base_params, tmp_path):
    build_base(parse_params(base_params))  # a real model directory to point at
    local = tmp_path / "local_model"
    (tmp_path / "base").rename(local)
    set_key(base_params, "model.name_or_path", str(local))
    info = build_base(parse_params(base_params))
    assert info["kind"] == "local" and info["architecture"] == "Qwen2ForCausalLM"
    assert len(info["config_sha256"]) == 64
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["base.json"]


def test_directory_without_config_is_a_clear_error(base_params, tmp_path):
    (tmp_path / "empty").mkdir()
    set_key(base_params, "model.name_or_path", str(tmp_path / "empty"))
    with pytest.raises(ShelltuneError, match="has no config.json"):
        build_base(parse_params(base_params))
    assert not (tmp_path / "base").exists()


def test_hub_models_must_be_pinned(base_params):
    set_key(base_params, "model.name_or_path", "Qwen/Qwen2.5-Coder-7B-Instruct")
    with pytest.raises(ShelltuneError, match="model.revision must pin hub model"):
        parse_params(base_params)


def test_unreachable_hub_model_is_a_clear_error(base_params, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    set_key(base_params, "model.name_or_path", "acme/no-such-model")
    set_key(base_params, "model.revision", "0123456789abcdef0123456789abcdef01234567")
    with pytest.raises(ShelltuneError, match="cannot load 'acme/no-such-model' at revision 0123"):
        build_base(parse_params(base_params))


def test_missing_train_split(params_raw, tmp_path):
    smoke(params_raw)  # the tiny base is built from the train split
    set_key(params_raw, "paths.base", str(tmp_path / "base"))
    with pytest.raises(ShelltuneError, match="run the split stage first"):
        build_base(parse_params(params_raw))
