"""Export: the optional DVC stage merges the adapter into the full-precision base, converts it to GGUF with
llama.cpp's own converter and quantizer, and checks llama.cpp's greedy outputs against transformers'.

Needs llama.cpp's converter in tools/llama.cpp and llama-cpp-python (`make export-tools`, part of
`make test`). Without them these tests skip, unless SHELLTUNE_REQUIRE_LLAMA_CPP=1 (set in CI)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shelltune.chat import turn_layout
from shelltune.exporting import llama_cpp_pre_tokenizer, modelfile_text, ollama_stops, ollama_template

from conftest import (
    DVC,
    LLAMA_CPP,
    child_env,
    gguf_reader,
    pairs,
    require_llama_cpp,
    sh,
    tiny_trained,
    tool_env,
    write_params,
)


@pytest.fixture(scope="module")
def exported(reproduced_clone, tmp_path_factory) -> Path:
    require_llama_cpp()
    repo = tmp_path_factory.mktemp("export") / "repo"
    shutil.copytree(reproduced_clone, repo, symlinks=True)
    assert not (repo / "models" / "gguf").exists()  # the default `dvc repro` did not run the export stage
    shutil.copytree(LLAMA_CPP, repo / "tools" / "llama.cpp", ignore=shutil.ignore_patterns("dist"))
    out = sh(DVC, "repro", "export/dvc.yaml", cwd=repo, timeout=900)
    assert "Running stage 'export/dvc.yaml:export'" in out
    for stage in ("split", "base", "train", "validate"):  # already up to date: not re-run
        assert f"Running stage '{stage}'" not in out
    return repo


@pytest.mark.slow
def test_export_writes_merged_model_gguf_files_and_modelfile(exported):
    merged = exported / "models" / "merged"
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in merged.iterdir()
    }
    config = json.loads((merged / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "float32"  # merged into full precision
    gguf_dir = exported / "models" / "gguf"
    assert sorted(p.name for p in gguf_dir.iterdir()) == [
        "Modelfile",
        "shelltune-f16.gguf",
        "shelltune-q4_k_m.gguf",
        "shelltune-q8_0.gguf",
    ]
    modelfile = (gguf_dir / "Modelfile").read_text()
    assert "FROM ./shelltune-q8_0.gguf" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    params = yaml.safe_load((exported / "params.yaml").read_text())
    assert f'SYSTEM """{params["prompt"]["system"]}"""' in modelfile
    assert "up to date" in sh(DVC, "status", cwd=exported)  # both pipelines, export included


@pytest.mark.slow
def test_gguf_metadata_says_what_llama_cpp_will_load(exported):
    def field(reader, name):
        part = reader.fields[name]
        value = part.parts[part.data[0]]
        return bytes(value).decode() if part.types[0].name == "STRING" else int(value[0])

    expected_type = {"f16": 1, "q8_0": 7, "q4_k_m": 15}  # llama_ftype: MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_Q4_K_M
    for kind, ftype in expected_type.items():
        reader = gguf_reader(exported / "models" / "gguf" / f"shelltune-{kind}.gguf")
        assert field(reader, "general.architecture") == "qwen2"
        assert field(reader, "general.file_type") == ftype
        assert field(reader, "tokenizer.ggml.pre") == "qwen2"
        assert field(reader, "qwen2.block_count") == 2
    sizes = [(exported / "models" / "gguf" / f"shelltune-{k}.gguf").stat().st_size for k in expected_type]
    assert sizes[0] > sizes[1] > sizes[2]  # f16 > Q8_0 > Q4_K_M


@pytest.mark.slow
def test_report_compares_llama_cpp_with_transformers(exported):
    report = json.loads((exported / "reports" / "export.json").read_text())
    speeds = json.loads((exported / "reports" / "runtime" / "export.json").read_text())  # outside the lock
    assert report["prompts"] == 64 and report["tokenizer_agreement"] == 1.0
    # f16 keeps the merged fp32 weights to 3 significant digits: greedy outputs should match nearly always.
    assert report["agreement"] == report["gguf"]["f16"]["agreement"] >= 0.95
    for kind in ("q8_0", "q4_k_m"):
        assert 0.5 <= report["gguf"][kind]["agreement"] <= 1.0
        assert speeds[kind]["tokens_per_s"] > 0 and report["gguf"][kind]["size_mb"] > 0
        assert "tokens_per_s" not in report["gguf"][kind]  # run-varying: kept out of export/dvc.lock
    assert report["merged"]["agreement_with_4bit_adapter"] >= 0.5


@pytest.mark.slow
def test_merged_weights_give_the_adapter_logits(exported):
    """merge_and_unload is exact up to float error: the merged model and base + unmerged adapter agree."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from shelltune.inference import attach_adapter

    base = AutoModelForCausalLM.from_pretrained(exported / "models" / "base", dtype=torch.float32)
    with_adapter = attach_adapter(base, exported / "models" / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(exported / "models" / "merged", dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(exported / "models" / "merged")
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "show disk usage of /var"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.inference_mode():
        expected = with_adapter(**ids).logits
        got = merged(**ids).logits
    assert torch.allclose(expected, got, atol=1e-4), (expected - got).abs().max()


@pytest.mark.slow
def test_missing_converter_is_one_clear_error_and_writes_nothing(reproduced_clone, tmp_path):
    params = yaml.safe_load((reproduced_clone / "params.yaml").read_text())
    params["export"].update(
        llama_cpp=str(tmp_path / "nowhere"), merged=str(tmp_path / "merged"), gguf=str(tmp_path / "gguf")
    )
    params["paths"]["reports"] = str(tmp_path / "reports")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "shelltune.stages.export", "--params", str(tmp_path / "params.yaml")],
        cwd=reproduced_clone,
        capture_output=True,
        text=True,
        env=tool_env(None),
        timeout=300,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "export.llama_cpp" in errors[0] and "make export-tools" in errors[0]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.slow
def test_pre_tokenizer_is_named_from_its_definition(exported, tmp_path):
    """llama.cpp identifies pre-tokenizers by hashing a known model's tokens; ours is named by definition."""
    assert llama_cpp_pre_tokenizer(exported / "models" / "merged" / "tokenizer.json") == "qwen2"
    (tmp_path / "gpt2.json").write_text(
        json.dumps({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}})
    )
    assert llama_cpp_pre_tokenizer(tmp_path / "gpt2.json") == "gpt-2"
    (tmp_path / "other.json").write_text(json.dumps({"pre_tokenizer": {"type": "Metaspace"}}))
    assert llama_cpp_pre_tokenizer(tmp_path / "other.json") is None


def test_modelfile_quotes_the_system_prompt():
    text = modelfile_text("m.gguf", 'Say """hi"""', 16, "{{ .Prompt }}{{ .Response }}", ["<|im_end|>"])
    assert '"""hi"""' not in text and text.count('"""') == 4  # the prompt cannot end the SYSTEM block
    assert "FROM ./m.gguf" in text and "PARAMETER num_predict 16" in text
    assert 'PARAMETER stop "<|im_end|>"' in text


def render_like_ollama(template: str, system: str, prompt: str) -> str:
    """Ollama's legacy-template path for a first turn: .System and .Prompt set, everything after
    {{ .Response }} cut (ollama/template/template.go, Execute). Covers the constructs ollama_template writes."""
    text = template.split("{{ .Response }}")[0]
    for name, value in (("System", system), ("Prompt", prompt)):
        block = re.compile(rf"\{{\{{ if \.{name} \}}\}}(.*?)\{{\{{ end \}}\}}", re.S)
        text = block.sub(r"\1" if value else "", text).replace(f"{{{{ .{name} }}}}", value)
    return text


@pytest.mark.parametrize("architecture", ["qwen2", "llama"])
def test_ollama_template_renders_what_the_chat_template_renders(architecture):
    """What Ollama sends llama.cpp for a request equals the training template's prompt; llama.cpp adds BOS
    itself when the tokenizer does (the GGUF's add_bos_token), so the Ollama template leaves it out."""
    from shelltune.basemodel import tokenizer_corpus, train_tokenizer
    from shelltune.chat import prompt_messages

    tokenizer = train_tokenizer(tokenizer_corpus(pairs(50), "Be safe.", architecture), 400, architecture)
    template = ollama_template(tokenizer)
    expected = tokenizer.apply_chat_template(
        prompt_messages("Be safe.", "list files"), tokenize=False, add_generation_prompt=True
    )
    adds_bos = tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id
    sent = (tokenizer.bos_token if adds_bos else "") + render_like_ollama(template, "Be safe.", "list files")
    assert sent == expected
    assert "<|begin_of_text|>" not in template  # never twice
    assert (
        ollama_stops(tokenizer)
        == {
            "qwen2": ["<|im_end|>", "<|im_start|>"],
            "llama": ["<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>"],
        }[architecture]
    )


SMOLLM2_TEMPLATE = (  # SmolLM2-135M-Instruct's own, with its bos_token <|im_start|>
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def test_a_bos_token_that_opens_every_turn_stays_in_the_turns():
    """SmolLM2 names `<|im_start|>` its BOS: it opens each turn, so the Ollama template must not take it
    for a BOS written once in front (that dropped `<|im_start|>` from the system turn)."""
    from shelltune.basemodel import tokenizer_corpus, train_tokenizer
    from shelltune.chat import prompt_messages

    tokenizer = train_tokenizer(tokenizer_corpus(pairs(50), "Be safe.", "qwen2"), 400, "qwen2")
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    tokenizer.bos_token = "<|im_start|>"
    assert tokenizer("x")["input_ids"][:1] != [tokenizer.bos_token_id]  # no BOS added by the tokenizer
    layout = turn_layout(tokenizer)
    assert layout.bos == "" and layout.system_open == "<|im_start|>system\n"
    template = ollama_template(tokenizer)
    expected = tokenizer.apply_chat_template(
        prompt_messages("Be safe.", "list files"), tokenize=False, add_generation_prompt=True
    )
    assert render_like_ollama(template, "Be safe.", "list files") == expected
    assert (
        render_like_ollama(template, "", "list files")
        == "<|im_start|>user\nlist files<|im_end|>\n<|im_start|>assistant\n"
    )


def test_a_template_ollama_cannot_be_told_is_left_to_ollama():
    from shelltune.basemodel import tokenizer_corpus, train_tokenizer

    tokenizer = train_tokenizer(tokenizer_corpus(pairs(50), "Be safe.", "llama"), 400, "llama")
    tokenizer.chat_template = (  # the system prompt folded into the user turn: no turn layout
        "{% for m in messages[1:] %}{% if m['role'] == 'user' %}[INST] {{ messages[0]['content'] }}\n\n"
        "{{ m['content'] }} [/INST]{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
    )
    assert ollama_template(tokenizer) is None
    text = modelfile_text("m.gguf", "Be safe.", 16, None, ollama_stops(tokenizer))
    assert "TEMPLATE" not in text.replace("no TEMPLATE", "") and 'PARAMETER stop "<|end_of_text|>"' in text


@pytest.mark.slow
def test_the_merged_model_is_the_same_bytes_whether_or_not_the_shell_is_offline(repo_params_raw, tmp_path):
    """transformers writes how it loaded the tokenizer (`local_files_only`, from HF_HUB_OFFLINE) into
    tokenizer_config.json; the merge drops it, so the export rebuilds bit for bit from any shell."""
    raw, _, _ = tiny_trained(repo_params_raw, tmp_path / "project")
    params_file = write_params(tmp_path / "params.yaml", raw)
    merges = {}
    for offline in ("1", None):
        out = tmp_path / f"merged-{offline}"
        env = {k: v for k, v in child_env().items() if k != "HF_HUB_OFFLINE"} | (
            {"HF_HUB_OFFLINE": offline} if offline else {}
        )
        code = (
            "from pathlib import Path; from shelltune.config import load_params; "
            "from shelltune.exporting import merge_adapter; "
            f"merge_adapter(load_params({str(params_file)!r}), Path({str(out)!r}))"
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=600)
        merges[offline] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert "tokenizer_config.json" in merges["1"]
    assert b"local_files_only" not in merges["1"]["tokenizer_config.json"]
    assert merges["1"] == merges[None]


def test_the_converter_gets_llama_cpps_gguf_even_after_the_pypi_one_was_imported():
    """The process may already hold PyPI's gguf (a GGUF base was read); the converter needs llama.cpp's own,
    newer copy, and the process gets PyPI's back afterwards."""
    require_llama_cpp()
    import gguf as pypi_gguf

    from shelltune.exporting import converter_on_path

    with converter_on_path(LLAMA_CPP) as convert:
        assert Path(convert.gguf.__file__).is_relative_to(LLAMA_CPP)
        assert hasattr(convert.gguf, "LazyChunkedTensor")
    assert sys.modules["gguf"] is pypi_gguf
    assert "convert_hf_to_gguf" not in sys.modules
