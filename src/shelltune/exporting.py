"""Export: the adapter merged into the base, converted to GGUF for llama.cpp and Ollama, and checked.

The export stage (`shelltune export`, or `dvc repro export/dvc.yaml`) composes these steps:

1. `merge_adapter`: the base reloaded in `export.dtype` (float32 or bfloat16, never the 4-bit weights:
   merging into quantized weights would round the adapter away), the LoRA adapter merged into it with
   peft (`merge_and_unload`), saved as safetensors with the tokenizer.
2. `convert_to_gguf`: GGUF f16 with llama.cpp's own converter (`convert_hf_to_gguf.py`, from the
   llama.cpp that llama-cpp-python vendors; `make export-tools` fetches it into `export.llama_cpp`), and
   `quantize_gguf` into each of `export.quantize` (q8_0, q4_k_m) with llama.cpp's quantizer.
3. `modelfile_text`: an Ollama `Modelfile` with the model's chat template written in Ollama's template
   language (`ollama_template`), its stop tokens and the system prompt.
4. The check: greedy outputs of every GGUF file (`gguf_outputs`, through llama-cpp-python) against the
   merged transformers model (`transformers_outputs`) from the same prompt token ids.

Generated commands are compared as text and never executed.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.basemodel import LLAMA3_SPLIT, read_base_info
from shelltune.chat import end_of_turn_ids, end_of_turn_tokens, special_ids, turn_layout
from shelltune.config import Params
from shelltune.errors import ShelltuneError
from shelltune.fileio import atomic_path, read_jsonl

MODEL_FILE_STEM = "shelltune"
QUANT_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M"}
CONVERTER_FILES = ("convert_hf_to_gguf.py", "conversion", "gguf-py")


# ---------------------------------------------------------------- merge


def merge_adapter(params: Params, out_dir: Path) -> dict[str, Any]:
    """Base in full precision + adapter, merged, saved as safetensors with the tokenizer."""
    from shelltune.inference import attach_adapter
    from shelltune.models import drop_load_options, load_base_weights, load_tokenizer

    base = read_base_info(params.paths.base)
    tokenizer = load_tokenizer(base, params)
    model = load_base_weights(base, params, params.export.dtype)  # full precision, on the CPU
    merged = attach_adapter(model, Path(params.paths.adapter)).merge_and_unload()
    merged.generation_config.eos_token_id = stop_ids(tokenizer)
    with atomic_path(out_dir) as staged:
        merged.save_pretrained(staged, safe_serialization=True)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(staged)
        drop_load_options(staged)  # the same bytes whether or not the shell set HF_HUB_OFFLINE
    parameters = sum(p.numel() for p in merged.parameters())
    del merged, model  # the check below loads the saved files: one copy in memory at a time
    return {
        "dir": str(out_dir),
        "dtype": params.export.dtype,
        "parameters": parameters,
        "size_mb": round(directory_size(out_dir, "*.safetensors") / 2**20, 2),
    }


def stop_ids(tokenizer) -> list[int]:
    """End of turn (from the chat template) and end of text: where generation stops, in transformers and
    in llama.cpp alike."""
    return sorted({*end_of_turn_ids(tokenizer), tokenizer.eos_token_id})


def directory_size(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


# ---------------------------------------------------------------- convert and quantize


def check_converter(llama_cpp: Path) -> None:
    missing = [name for name in CONVERTER_FILES if not (llama_cpp / name).exists()]
    if missing:
        raise ShelltuneError(
            f"export.llama_cpp: {llama_cpp} lacks {', '.join(missing)}; run `make export-tools` "
            "(it unpacks llama.cpp's converter from the llama-cpp-python source distribution)"
        )


@contextlib.contextmanager
def converter_on_path(llama_cpp: Path) -> Iterator[Any]:
    """llama.cpp's converter and its own gguf-py, imported from export.llama_cpp for the duration.

    The `gguf` package from PyPI (pinned for reading GGUF bases, `shelltune.ggufmodel`) may already be
    imported in this process, and it lags llama.cpp's own copy (the converter needs names it lacks): the
    converter's imports get llama.cpp's modules, and the process gets its own back afterwards."""
    check_converter(llama_cpp)
    added = [str(llama_cpp / "gguf-py"), str(llama_cpp)]
    ours = ("gguf", "convert_hf_to_gguf", "conversion")
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] in ours}
    for name in saved:
        del sys.modules[name]
    sys.path[:0] = added
    try:
        yield importlib.import_module("convert_hf_to_gguf")
    finally:
        for entry in added:
            sys.path.remove(entry)
        for name in [name for name in sys.modules if name.split(".")[0] in ours]:
            del sys.modules[name]
        sys.modules.update(saved)


# Qwen2's pre-tokenizer split (transformers writes it for every Qwen2 tokenizer, the tiny base's included).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# llama.cpp's pre-tokenizers for a split regex followed by byte-level BPE. `llama-bpe` also skips merges
# for words already in the vocabulary and prepends BOS, as Llama 3's tokenizer.json (and the tiny Llama's)
# says.
KNOWN_SPLITS = {QWEN2_SPLIT: "qwen2", LLAMA3_SPLIT: "llama-bpe"}


def llama_cpp_pre_tokenizer(tokenizer_json: Path) -> str | None:
    """llama.cpp's name for the tokenizer's pre-tokenizer, read from its definition rather than from a
    hash of a known model's tokens (which a tokenizer trained here cannot match); None if unknown."""
    try:
        definition = json.loads(tokenizer_json.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    pre = definition.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True) and not steps[0].get("add_prefix_space"):
        return "gpt-2"
    if (
        kinds == ["Split", "ByteLevel"]
        and steps[0].get("behavior") == "Isolated"
        and not steps[1].get("use_regex", True)
    ):
        name = KNOWN_SPLITS.get(steps[0].get("pattern", {}).get("Regex"))
        ignores_merges = bool(definition.get("model", {}).get("ignore_merges"))
        return name if name != "llama-bpe" or ignores_merges else None
    return None


def convert_to_gguf(merged_dir: Path, out_file: Path, llama_cpp: Path) -> None:
    """GGUF f16 through llama.cpp's convert_hf_to_gguf (the same code path as its command line)."""
    import torch

    with converter_on_path(llama_cpp) as convert:
        logging.getLogger("hf-to-gguf").setLevel(logging.WARNING)
        import gguf

        hparams = convert.ModelBase.load_hparams(merged_dir, False)
        architecture = convert.get_model_architecture(hparams, convert.ModelType.TEXT)
        try:
            model_class = convert.get_model_class(architecture, mmproj=False)
        except NotImplementedError:
            raise ShelltuneError(f"{merged_dir}: llama.cpp's converter does not support {architecture}") from None
        known_pre = llama_cpp_pre_tokenizer(merged_dir / "tokenizer.json")

        class Converter(model_class):  # type: ignore[misc, valid-type]
            model_arch = model_class.model_arch

            def get_vocab_base_pre(self, tokenizer) -> str:
                # llama.cpp names pre-tokenizers by hashing a known model's tokens; a tokenizer trained here
                # is unknown to it, so name the pre-tokenizer from its definition instead.
                if known_pre is not None:
                    return known_pre
                try:
                    return super().get_vocab_base_pre(tokenizer)
                except NotImplementedError:
                    raise ShelltuneError(
                        f"{merged_dir / 'tokenizer.json'}: llama.cpp does not know this tokenizer's pre-tokenizer"
                    ) from None

        with torch.inference_mode():
            converter = Converter(
                merged_dir,
                gguf.LlamaFileType.MOSTLY_F16,
                out_file,
                is_big_endian=False,
                use_temp_file=False,
                eager=False,
                model_name=MODEL_FILE_STEM,
            )
            converter.write()


@contextlib.contextmanager
def quiet_llama_cpp() -> Iterator[None]:
    """llama.cpp logs every tensor; show errors only."""
    from llama_cpp import _logger

    level = _logger.logger.level
    _logger.set_verbose(False)
    try:
        yield
    finally:
        _logger.logger.setLevel(level)


def quantize_gguf(source: Path, target: Path, kind: str) -> None:
    """llama.cpp's quantizer (llama_model_quantize). For Q4_K_M, tensors whose rows are not a multiple of
    256 fall back to another type, as llama-quantize does."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_TYPES[kind])
    params.nthread = os.cpu_count() or 1
    with quiet_llama_cpp():
        failed = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if failed:
        raise ShelltuneError(f"{source}: llama.cpp could not quantize it to {kind} (code {failed})")


def ollama_template(tokenizer) -> str | None:
    """The tokenizer's chat template in Ollama's template language, for one system prompt, one request and
    the answer; None when the template does not lay turns out as `chat.turn_layout` reads them.

    Ollama never runs Jinja: without a TEMPLATE it takes, of its own known templates, the one closest to
    the GGUF's chat template by edit distance (under 100 characters), else `{{ .Prompt }}` with the roles
    dropped. A template that is not character for character a known one would lose its format silently,
    so the Modelfile spells it out: ChatML, Llama 3 and most one-turn-per-role formats take apart this
    way. The `if` blocks are Ollama's own idiom: it runs a legacy template once per turn of a chat,
    the system prompt only in the first.
    """
    layout = turn_layout(tokenizer)
    if layout is None:
        return None
    # llama.cpp prepends BOS itself when the tokenizer does (the GGUF's add_bos_token comes from the same
    # post-processor); written into the template as well, it would be there twice.
    adds_bos = bool(layout.bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    template = (
        ("" if adds_bos else layout.bos)
        + f"{{{{ if .System }}}}{layout.system_open}{{{{ .System }}}}{layout.turn_close}{{{{ end }}}}"
        + f"{{{{ if .Prompt }}}}{layout.user_open}{{{{ .Prompt }}}}{layout.turn_close}{{{{ end }}}}"
        + f"{layout.assistant_open}{{{{ .Response }}}}{layout.answer_close}"
    )
    return None if '"""' in template else template


def ollama_stops(tokenizer) -> list[str]:
    """Where Ollama stops: the end of turn, the end of text, and the token that opens a new turn (a model
    that starts one has finished its answer)."""
    stops = [*end_of_turn_tokens(tokenizer), tokenizer.eos_token]
    layout = turn_layout(tokenizer)
    if layout is not None:
        special = special_ids(tokenizer)
        opening = [i for i in tokenizer(layout.assistant_open, add_special_tokens=False)["input_ids"] if i in special]
        stops += [tokenizer.convert_ids_to_tokens(opening[0])] if opening else []
    return list(dict.fromkeys(stops))


def modelfile_text(gguf_name: str, system: str, max_new_tokens: int, template: str | None, stops: list[str]) -> str:
    """An Ollama Modelfile: the GGUF, the chat template (`ollama_template`; left to Ollama when None), the
    training system prompt, greedy decoding, the stop tokens."""
    quoted = system.replace('"""', '" " "')
    lines = [
        '# Ollama: ollama create shelltune -f Modelfile && ollama run shelltune "list files by size"',
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{template}"""'
        if template is not None
        else "# no TEMPLATE: this chat template has no Ollama equivalent here; Ollama picks one from the GGUF",
        f'SYSTEM """{quoted}"""',
        "PARAMETER temperature 0",
        f"PARAMETER num_predict {max_new_tokens}",
        *(f'PARAMETER stop "{stop}"' for stop in stops),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- check


@dataclass
class Outputs:
    texts: list[str]
    seconds: float
    new_tokens: int

    def speed(self) -> dict[str, float]:
        return {
            "tokens_per_s": round(self.new_tokens / self.seconds, 1) if self.seconds else 0.0,
            "samples_per_s": round(len(self.texts) / self.seconds, 2) if self.seconds else 0.0,
        }


def prompt_token_ids(tokenizer, system: str, instructions: list[str]) -> list[list[int]]:
    from shelltune.inference import render_prompts

    return [
        tokenizer(text, add_special_tokens=False)["input_ids"]
        for text in render_prompts(tokenizer, system, instructions)
    ]


def transformers_outputs(
    merged_dir: Path, prompts: list[list[int]], stops: list[int], max_new_tokens: int, dtype: str
) -> Outputs:
    """Greedy, one prompt at a time (as llama.cpp runs), with the merged model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from shelltune.inference import greedy, until_stop
    from shelltune.models import torch_dtype

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    model = AutoModelForCausalLM.from_pretrained(
        merged_dir, dtype=torch_dtype(dtype), device_map="cpu", use_safetensors=True
    ).eval()
    texts, new_tokens, start = [], 0, time.perf_counter()
    with torch.inference_mode():
        for ids in prompts:
            out = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                **greedy(max_new_tokens, stops, tokenizer.pad_token_id),
            )
            kept = until_stop(out[0, len(ids) :].tolist(), stops)
            new_tokens += len(kept)
            texts.append(tokenizer.decode(kept, skip_special_tokens=True))
    return Outputs(texts, time.perf_counter() - start, new_tokens)


def gguf_outputs(gguf_file: Path, prompts: list[list[int]], stops: list[int], max_new_tokens: int, decode) -> Outputs:
    """Greedy with llama-cpp-python from the same prompt token ids."""
    from llama_cpp import Llama

    with quiet_llama_cpp():
        llm = Llama(
            model_path=str(gguf_file),
            n_ctx=max(len(p) for p in prompts) + max_new_tokens + 8,
            n_batch=512,
            n_threads=os.cpu_count() or 1,
            seed=0,
            verbose=False,
            logits_all=False,
        )
    texts, new_tokens, start = [], 0, time.perf_counter()
    for ids in prompts:
        kept: list[int] = []
        for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            if token in stops or len(kept) == max_new_tokens:
                break
            kept.append(token)
        new_tokens += len(kept)
        texts.append(decode(kept))
    seconds = time.perf_counter() - start
    with quiet_llama_cpp():
        llm.close()
    return Outputs(texts, seconds, new_tokens)


def llama_cpp_tokenizer_agreement(gguf_file: Path, texts: list[str], reference: list[list[int]]) -> float:
    """Share of prompts that llama.cpp's own tokenizer (from the GGUF) splits exactly as transformers does."""
    from llama_cpp import Llama

    with quiet_llama_cpp():
        llm = Llama(model_path=str(gguf_file), vocab_only=True, verbose=False)
        same = sum(
            llm.tokenize(text.encode(), add_bos=False, special=True) == ids
            for text, ids in zip(texts, reference, strict=True)
        )
        llm.close()
    return round(same / max(len(texts), 1), 4)


def agreement(a: list[str], b: list[str]) -> float:
    return round(sum(x == y for x, y in zip(a, b, strict=True)) / max(len(a), 1), 4)


def qlora_agreement(predictions: Path, instructions: list[str], merged_texts: list[str]) -> float | None:
    """Share of prompts where the merged model says what the 4-bit base + adapter said in the validate
    stage. Merging into the full-precision base changes the weights the adapter was trained against
    (no NF4 rounding any more), so this need not be 1."""
    if not predictions.exists():
        return None
    tuned = {row["instruction"]: row["tuned_output"] for row in read_jsonl(predictions)}
    pairs = [(tuned[text], merged) for text, merged in zip(instructions, merged_texts, strict=True) if text in tuned]
    return agreement([a for a, _ in pairs], [b for _, b in pairs]) if pairs else None


def write_gguf_files(params: Params, merged_dir: Path, llama_cpp_dir: Path) -> dict[str, Path]:
    """f16, each quantization, and the Modelfile, written together into `export.gguf`."""
    from transformers import AutoTokenizer

    settings, gguf_dir = params.export, Path(params.export.gguf)
    files: dict[str, Path] = {}
    with atomic_path(gguf_dir) as staged:
        staged.mkdir()
        f16 = staged / f"{MODEL_FILE_STEM}-f16.gguf"
        print(f"converting to GGUF f16 with llama.cpp's converter → {gguf_dir / f16.name}")
        convert_to_gguf(merged_dir, f16, llama_cpp_dir)
        files["f16"] = f16
        for kind in settings.quantize:
            target = staged / f"{MODEL_FILE_STEM}-{kind}.gguf"
            print(f"quantizing to {kind.upper()} with llama.cpp's quantizer → {gguf_dir / target.name}")
            quantize_gguf(f16, target, kind)
            files[kind] = target
        default = settings.quantize[0] if settings.quantize else "f16"
        tokenizer = AutoTokenizer.from_pretrained(merged_dir)
        (staged / "Modelfile").write_text(
            modelfile_text(
                files[default].name,
                params.prompt.system,
                settings.max_new_tokens,
                ollama_template(tokenizer),
                ollama_stops(tokenizer),
            )
        )
    return {kind: gguf_dir / path.name for kind, path in files.items()}


def check_exports(
    merged_dir: Path, files: dict[str, Path], system: str, instructions: list[str], max_new_tokens: int, dtype: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Greedy outputs of each GGUF file against the merged transformers model, from the same prompt token
    ids: ({"gguf": per file, "tokenizer_agreement", "merged_texts"}, generation speeds)."""
    from transformers import AutoTokenizer

    from shelltune.inference import render_prompts

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    prompts = prompt_token_ids(tokenizer, system, instructions)
    stops = stop_ids(tokenizer)
    reference = transformers_outputs(merged_dir, prompts, stops, max_new_tokens, dtype)
    results: dict[str, Any] = {}
    speeds: dict[str, Any] = {"merged": reference.speed()}
    for kind, path in files.items():
        outputs = gguf_outputs(
            path, prompts, stops, max_new_tokens, lambda ids: tokenizer.decode(ids, skip_special_tokens=True)
        )
        results[kind] = {
            "file": str(path),
            "size_mb": round(path.stat().st_size / 2**20, 2),
            "agreement": agreement(outputs.texts, reference.texts),
        }
        speeds[kind] = outputs.speed()
        print(
            f"  {kind:7s} {results[kind]['size_mb']:8.2f} MB  identical outputs {results[kind]['agreement']:.1%}  "
            f"{speeds[kind]['tokens_per_s']:.0f} tokens/s"
        )
    tokenizer_agreement = llama_cpp_tokenizer_agreement(
        files["f16"], render_prompts(tokenizer, system, instructions), prompts
    )
    return {"gguf": results, "tokenizer_agreement": tokenizer_agreement, "merged_texts": reference.texts}, speeds
