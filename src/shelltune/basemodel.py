"""The base model: the tiny Qwen2 built offline, or a pinned hub/local model, and its `base.json`.

With `model.name_or_path: tiny` (the default) a small Qwen2-architecture model is built offline: a
byte-level BPE tokenizer trained on the chat-rendered train split, with ChatML special tokens and
Qwen2.5's chat template, and a seeded random-init `Qwen2ForCausalLM` whose sizes come from `model.tiny`.
Same params and data give byte-identical files.

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

from shelltune.chat import CHATML_TEMPLATE, EOS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, conversation, render_chatml
from shelltune.config import REMOTE_CODE_WARNING, TINY, ModelParams, Params, TinyModelParams
from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl

BASE_INFO = "base.json"


def tokenizer_corpus(rows: list[dict[str, Any]], system: str) -> list[str]:
    """The training conversations as the model will read them, so merges follow real token frequencies
    (the system prompt, present in every example, becomes a handful of tokens)."""
    return [render_chatml(conversation(system, row)) for row in rows]


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE like Qwen2's: any byte sequence encodes, so no request is ever <unk>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=CHATML_TEMPLATE,
        model_max_length=4096,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(tiny: TinyModelParams, tokenizer, seed: int):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=tiny.hidden_size,
        intermediate_size=tiny.intermediate_size,
        num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads,
        num_key_value_heads=tiny.num_key_value_heads,
        max_position_embeddings=tiny.max_position_embeddings,
        tie_word_embeddings=tiny.tie_word_embeddings,
        initializer_range=tiny.initializer_range,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(EOS_TOKEN),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[config.eos_token_id, tokenizer.pad_token_id], pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    return model


def build_tiny(params: Params, train_file: Path, out: Path) -> dict[str, Any]:
    """Train the tokenizer on `train_file`, build the seeded random model, save both into `out`."""
    tokenizer = train_tokenizer(
        tokenizer_corpus(read_jsonl(train_file), params.prompt.system), params.model.tiny.vocab_size
    )
    model = build_tiny_model(params.model.tiny, tokenizer, params.seed)
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


def summary(info: dict[str, Any]) -> str:
    if info["kind"] == TINY:
        return (
            f"built tiny Qwen2 base: {info['parameters']:,} parameters, vocab {info['vocab_size']} "
            f"→ {info['name_or_path']}"
        )
    return f"pinned {info['name_or_path']} at revision {info['revision']} ({info['architecture']})"
