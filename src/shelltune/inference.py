"""Loading base + adapter for inference, and batched greedy generation shared by validate, scan and predict.

Generation is batched with left padding and the KV cache, greedy, and stops at the end of the turn as the
tokenizer's chat template writes it (`shelltune.chat.end_of_turn_tokens`), whatever the model family.
Generated commands are only ever returned as text: nothing here executes them.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.basemodel import read_base_info
from shelltune.chat import end_of_turn_ids, prompt_messages
from shelltune.config import Params
from shelltune.errors import ShelltuneError


@dataclass(frozen=True)
class Generation:
    text: str
    new_tokens: int


@dataclass
class GenerationStats:
    samples: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}latency_ms_per_sample": round(1000 * self.seconds / max(self.samples, 1), 2),
            f"{prefix}generated_tokens_per_s": round(self.new_tokens / self.seconds, 1) if self.seconds else 0.0,
            f"{prefix}samples_per_s": round(self.samples / self.seconds, 2) if self.seconds else 0.0,
        }


def load_model_and_tokenizer(params: Params, adapter: str | Path | None):
    """The 4-bit base with the trained adapter on top (adapter=None: the base alone)."""
    import torch

    from shelltune.models import load_quantized_model, load_tokenizer, resolve_placement

    base = read_base_info(params.paths.base)
    runtime = resolve_placement(params.train.device, params.quant, torch.cuda.is_available())
    tokenizer = load_tokenizer(base, params)
    model = load_quantized_model(base, params, runtime, training=False)
    if adapter is not None:
        model = attach_adapter(model, Path(adapter))
    model.config.use_cache = True
    model.eval()
    return model, tokenizer


ADAPTER_WEIGHTS = "adapter_model.safetensors"


def attach_adapter(model, adapter: Path):
    """The trained LoRA adapter on top of `model`. Only safetensors weights are ever loaded: a pickled
    `adapter_model.bin` could run arbitrary code on load, so it is refused rather than used."""
    from peft import PeftModel
    from safetensors import SafetensorError

    if not (adapter / "adapter_config.json").exists():
        raise ShelltuneError(f"{adapter}: no adapter_config.json; run the train stage first (dvc repro train)")
    if not (adapter / ADAPTER_WEIGHTS).exists():
        pickled = sorted(p.name for p in adapter.glob("*.bin"))
        why = (
            f"{', '.join(pickled)} is pickled and refused: only safetensors weights are loaded"
            if pickled
            else "run the train stage first (dvc repro train)"
        )
        raise ShelltuneError(f"{adapter}: no {ADAPTER_WEIGHTS}; {why}")
    try:
        return PeftModel.from_pretrained(model, str(adapter), use_safetensors=True)
    except SafetensorError as exc:
        raise ShelltuneError(f"{adapter / ADAPTER_WEIGHTS}: corrupted or truncated ({exc})") from None
    except (RuntimeError, ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ShelltuneError(f"{adapter}: the adapter does not fit the base model: {first}") from None


def render_prompts(tokenizer, system: str, instructions: list[str]) -> list[str]:
    return [
        tokenizer.apply_chat_template(prompt_messages(system, text), tokenize=False, add_generation_prompt=True)
        for text in instructions
    ]


def stop_token_ids(model, tokenizer) -> list[int]:
    """The template's end of turn, the tokenizer's eos and whatever the model's generation config stops at:
    a checkpoint's eos settings may name only the end of text (<|end_of_text|> where turns end with
    <|eot_id|>), and a model fine-tuned on its template ends its answer with the end of turn."""
    ids = {*end_of_turn_ids(tokenizer), tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if isinstance(i, int) and i >= 0)


def generate(
    model,
    tokenizer,
    system: str,
    instructions: list[str],
    max_new_tokens: int,
    batch_size: int,
    stats: GenerationStats | None = None,
    progress: str | None = None,
) -> list[Generation]:
    """Greedy completions for each instruction, in input order.

    Every prompt starts with the same tokens (the template's opening and the one system prompt): their keys
    and values are computed once per call and shared by every row (`shared_prefix`), and on the CPU the
    4-bit weights are dequantized once rather than at every forward (`dequantized_once`).
    """
    import torch
    from tqdm.auto import tqdm

    from shelltune.console import progress_bars

    encoded = [
        tokenizer(p, add_special_tokens=False)["input_ids"] for p in render_prompts(tokenizer, system, instructions)
    ]
    prefix = shared_prefix(encoded)
    # Sort by length so each batch pads little; results are put back in input order.
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: list[Generation | None] = [None] * len(encoded)
    stops = stop_token_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    with torch.inference_mode(), dequantized_once(model):
        cache = prefix_cache(model, prefix)
        for batch in tqdm(batches, desc=progress, disable=progress is None or not progress_bars(), leave=False):
            input_ids, attention_mask = pack(prefix, [encoded[i][len(prefix) :] for i in batch], pad, model.device)
            settings = greedy(max_new_tokens, stops, pad)
            if cache is not None:
                settings["past_key_values"] = expand_cache(cache, len(batch))
            start = time.perf_counter()
            out = model.generate(input_ids=input_ids, attention_mask=attention_mask, **settings)
            elapsed = time.perf_counter() - start
            for row, index in zip(out[:, input_ids.shape[1] :], batch, strict=True):
                kept = until_stop(row.tolist(), stops)
                results[index] = Generation(tokenizer.decode(kept, skip_special_tokens=True), len(kept))
            if stats is not None:
                stats.samples += len(batch)
                stats.seconds += elapsed
                stats.new_tokens += sum(r.new_tokens for r in (results[i] for i in batch) if r)
    return [r for r in results if r is not None]


# Below this many shared tokens a separate forward for the prefix costs more than it saves.
MIN_SHARED_PREFIX = 8


def shared_prefix(encoded: list[list[int]]) -> list[int]:
    """The longest token prefix every prompt starts with, leaving each at least one token of its own (the
    last prompt token's logits pick the first generated token)."""
    if not encoded:
        return []
    prefix = encoded[0]
    for ids in encoded[1:]:
        n = 0
        while n < min(len(prefix), len(ids)) and prefix[n] == ids[n]:
            n += 1
        prefix = prefix[:n]
    prefix = prefix[: min(len(ids) for ids in encoded) - 1]
    return prefix if len(prefix) >= MIN_SHARED_PREFIX else []


def pack(prefix: list[int], suffixes: list[list[int]], pad: int, device):
    """[prefix | left padding | suffix] rows and their attention mask. Positions come from the mask (its
    cumulative sum), so every suffix continues right after the prefix, whatever its padding."""
    import torch

    width = max(len(s) for s in suffixes)
    ids = [prefix + [pad] * (width - len(s)) + s for s in suffixes]
    mask = [[1] * len(prefix) + [0] * (width - len(s)) + [1] * len(s) for s in suffixes]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def prefix_cache(model, prefix: list[int]):
    """Keys and values of the shared prefix, computed once (None when there is no shared prefix)."""
    import torch
    from transformers import DynamicCache

    if not prefix:
        return None
    cache = DynamicCache(config=model.config)
    model(input_ids=torch.tensor([prefix], device=model.device), past_key_values=cache, use_cache=True)
    return cache


def expand_cache(cache, rows: int):
    """A copy of the prefix cache for a batch of `rows` (generation appends to the copy, not the original)."""
    import copy

    batch = copy.deepcopy(cache)
    batch.batch_repeat_interleave(rows)
    return batch


@contextmanager
def dequantized_once(model):
    """On the CPU, compute with each 4-bit layer's weights dequantized once instead of at every call.

    bitsandbytes' CPU path for unpacked 4-bit weights dequantizes them (NF4 codes × block scales) and runs a
    float matmul, on every forward: a tenth of a second per token step for the 135M model. The same
    dequantized tensor, computed once by the same bitsandbytes function, gives the same bits at every step
    (tests/test_inference.py). Layers in bitsandbytes' packed inference layout (runtime.cpu_kernels: native on
    AVX512-BF16) keep their own kernel; on a GPU nothing changes. Costs 4 bytes per weight while it lasts.
    """
    from shelltune.numerics import linear4bit_layers

    layers = [
        layer
        for layer in linear4bit_layers(model)
        if layer.weight.device.type == "cpu" and not layer.support_avx512bf16_for_cpu
    ]
    try:
        for layer in layers:
            layer.forward = dequantized_forward(layer)
        yield
    finally:
        for layer in layers:
            layer.__dict__.pop("forward", None)


def dequantized_forward(layer):
    """Linear4bit.forward with the weight dequantized up front (the CPU, unpacked path)."""
    import torch
    from bitsandbytes.functional import dequantize_4bit

    compute = layer.compute_dtype or layer.weight.quant_state.dtype
    weight = dequantize_4bit(layer.weight.data, layer.weight.quant_state).to(compute)
    bias = None if layer.bias is None else layer.bias.to(compute)

    def forward(x):
        return torch.nn.functional.linear(x.to(compute), weight, bias).to(x.dtype)

    return forward


def greedy(max_new_tokens: int, stops: list[int], pad_token_id: int | None) -> dict[str, Any]:
    """`generate` settings of every greedy decode: validation, the scan, and export's reference outputs."""
    return {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "num_beams": 1,
        "eos_token_id": stops,
        "pad_token_id": pad_token_id,
        "use_cache": True,
    }


def until_stop(ids: list[int], stops: list[int]) -> list[int]:
    """The generated ids before the first stop token."""
    for position, token in enumerate(ids):
        if token in stops:
            return ids[:position]
    return ids
