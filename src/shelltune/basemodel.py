"""The base model: a tiny model built offline, or a pinned hub/local model, and its `base.json`.

With `model.name_or_path: tiny` (the default) a small model is built offline: a byte-level BPE tokenizer
trained on the chat-rendered train split, with the chat format's special tokens and template, and a
seeded random-init model whose sizes come from `model.tiny`. `model.tiny.architecture` picks the pair:
`qwen2` (Qwen2ForCausalLM, ChatML as Qwen2.5) or `llama` (LlamaForCausalLM, the Llama 3 template with a
BOS token and `<|eot_id|>`), both from `shelltune.chat`. Same params and data give byte-identical files.

Otherwise `name_or_path` is a hub id (pinned by `model.revision`) or a local directory. Nothing is
copied: the config is loaded to check it, and what was resolved (revision, config hash) is recorded, so
DVC tracks a few hundred bytes instead of 15 GB of weights. Every later stage finds the weights through
`base.json` (`read_base_info`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from shelltune.chat import BUILTIN_FORMATS, conversation, render_builtin
from shelltune.config import REMOTE_CODE_WARNING, TINY, ModelParams, Params, TinyModelParams
from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl

BASE_INFO = "base.json"
ARCHITECTURE_NAMES = {"qwen2": "Qwen2", "llama": "Llama"}

# Llama 3's pre-tokenizer split: digits in groups of up to three (Qwen2 splits them one by one).
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def tokenizer_corpus(rows: list[dict[str, Any]], system: str, architecture: str) -> list[str]:
    """The training conversations as the model will read them, in the architecture's chat format, so
    merges follow real token frequencies (the system prompt, present in every example, becomes a handful
    of tokens)."""
    fmt = BUILTIN_FORMATS[architecture]
    return [render_builtin(fmt, conversation(system, row)) for row in rows]


def bpe_core(architecture: str):
    """An untrained byte-level BPE as the format's model family has it: any byte sequence encodes, so no
    request is ever <unk>.

    ChatML (qwen2) keeps the GPT-2 split the default base was built with (transformers applies Qwen2's
    own split when it loads a qwen2 tokenizer). Llama 3's tokenizer.json carries its split, skips merges
    for words already in the vocabulary, and prepends BOS in its post-processor; llama.cpp's `llama-bpe`
    pre-tokenizer does the same, so the GGUF tokenizes as transformers does.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    if architecture == "qwen2":
        core = Tokenizer(models.BPE())
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        core = Tokenizer(models.BPE(ignore_merges=True))
        core.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    core.decoder = decoders.ByteLevel()
    return core


def train_tokenizer(texts: list[str], vocab_size: int, architecture: str):
    """Train the architecture's BPE on `texts`, its chat format's special tokens first (ids 0, 1, ...)."""
    from tokenizers import pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    fmt = BUILTIN_FORMATS[architecture]
    core = bpe_core(architecture)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(fmt.special_tokens),
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    named = {"eos_token": fmt.eos_token, "pad_token": fmt.pad_token}
    if fmt.bos_token is not None:
        named["bos_token"] = fmt.bos_token
        bos = (fmt.bos_token, core.token_to_id(fmt.bos_token))
        core.post_processor = processors.TemplateProcessing(
            single=f"{fmt.bos_token} $A", pair=f"{fmt.bos_token} $A:0 {fmt.bos_token}:1 $B:1", special_tokens=[bos]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        **named,
        chat_template=fmt.template,
        model_max_length=4096,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(tiny: TinyModelParams, tokenizer, seed: int):
    """The seeded random-init model. Its generation config stops where the family's checkpoints stop
    (`generation_eos` of its chat format); inference adds the template's end of turn itself."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_class, model_class = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "llama": (LlamaConfig, LlamaForCausalLM),
    }[tiny.architecture]
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=tiny.hidden_size,
        intermediate_size=tiny.intermediate_size,
        num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads,
        num_key_value_heads=tiny.num_key_value_heads,
        max_position_embeddings=tiny.max_position_embeddings,
        tie_word_embeddings=tiny.tie_word_embeddings,
        initializer_range=tiny.initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = model_class(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids(t) for t in BUILTIN_FORMATS[tiny.architecture].generation_eos],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    return model


def build_tiny(params: Params, train_file: Path, out: Path) -> dict[str, Any]:
    """Train the tokenizer on `train_file`, build the seeded random model, save both into `out`."""
    tiny = params.model.tiny
    corpus = tokenizer_corpus(read_jsonl(train_file), params.prompt.system, tiny.architecture)
    tokenizer = train_tokenizer(corpus, tiny.vocab_size, tiny.architecture)
    model = build_tiny_model(tiny, tokenizer, params.seed)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "kind": TINY,
        "name_or_path": str(out),
        "revision": None,
        "parameters": n_params,
        "vocab_size": len(tokenizer),
    }


def resolve_pretrained(model: ModelParams) -> dict[str, Any]:
    """Check a hub id or local directory loads (config and tokenizer) and pin what was resolved."""
    from transformers import AutoConfig

    local = Path(model.name_or_path)
    if local.is_dir() and not (local / "config.json").exists():
        raise ShelltuneError(f"model.name_or_path: {local} has no config.json (not a transformers model directory)")
    try:
        config = AutoConfig.from_pretrained(
            model.name_or_path, revision=model.revision, trust_remote_code=model.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ShelltuneError(
            f"model.name_or_path: cannot load {model.name_or_path!r}"
            f"{f' at revision {model.revision}' if model.revision else ''}: {first}"
        ) from None
    config_json = json.dumps(config.to_dict(), sort_keys=True, default=str)
    commit = getattr(config, "_commit_hash", None) or model.revision
    return {
        "kind": "local" if local.is_dir() else "hub",
        "name_or_path": model.name_or_path,
        "revision": commit,
        "architecture": (config.architectures or [None])[0],
        "config_sha256": hashlib.sha256(config_json.encode()).hexdigest(),
    }


def describe_pretrained(params: Params) -> dict[str, Any]:
    """`resolve_pretrained`, announcing remote code first."""
    if params.model.trust_remote_code:
        print(REMOTE_CODE_WARNING, file=sys.stderr)
    return resolve_pretrained(params.model)


def describe_origin(base: dict[str, Any]) -> str:
    """One sentence on where a GGUF-built base comes from, for summaries and model cards."""
    origin, deq = base["origin"], base["dequantization"]
    name = origin.get("name") or origin.get("basename") or "the model"
    by = f" by {origin['organization']}" if origin.get("organization") else ""
    license_ = origin.get("license") or "not stated in the file"
    if origin.get("package"):
        wheel = f" (wheel sha256 {origin['wheel_sha256']})" if origin.get("wheel_sha256") else ""
        found = f"`{origin['file']}` in the PyPI package {origin['package']} {origin['version']}{wheel}"
    else:
        found = f"`{origin['file']}`"
    types = ", ".join(f"{n} {t}" for t, n in deq["from"].items())
    return (
        f"{name}{by} (license {license_}), from the GGUF {found}, sha256 {origin['gguf_sha256']}; "
        f"its tensors ({types}) dequantized to {deq['to']} by {deq['by']}"
    )


def read_base_info(base_dir: str | Path) -> dict[str, Any]:
    path = Path(base_dir) / BASE_INFO
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; run the base stage first (dvc repro base)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShelltuneError(f"{path}: corrupted ({exc}); rebuild it with `dvc repro -f base`") from None
    if not isinstance(info, dict) or "name_or_path" not in info:
        raise ShelltuneError(f"{path}: corrupted (no name_or_path); rebuild it with `dvc repro -f base`")
    return info


def summary(params: Params, info: dict[str, Any]) -> str:
    if info["kind"] == TINY:
        architecture = ARCHITECTURE_NAMES[params.model.tiny.architecture]
        return (
            f"built tiny {architecture} base: {info['parameters']:,} parameters, vocab {info['vocab_size']} "
            f"→ {info['name_or_path']}"
        )
    return f"pinned {info['name_or_path']} at revision {info['revision']} ({info['architecture']})"
