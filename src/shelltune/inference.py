"""Loading base + adapter for inference, and batched greedy generation shared by validate, scan and predict.

Generation is batched with left padding and the KV cache, greedy, and stops at the end of the turn as the
tokenizer's chat template writes it (`shelltune.chat.end_of_turn_tokens`), whatever the model family.
Generated commands are only ever returned as text: nothing here executes them.
"""

from __future__ import annotations

import time
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
    """Greedy completions for each instruction, in input order."""
    import torch
    from tqdm.auto import tqdm

    from shelltune.console import progress_bars

    tokenizer.padding_side = "left"
    prompts = render_prompts(tokenizer, system, instructions)
    # Sort by length so each batch pads little; results are put back in input order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    stops = stop_token_ids(model, tokenizer)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=progress, disable=progress is None or not progress_bars(), leave=False):
        enc = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False).to(
            model.device
        )
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**enc, **greedy(max_new_tokens, stops, tokenizer.pad_token_id))
        elapsed = time.perf_counter() - start
        new = out[:, enc["input_ids"].shape[1] :]
        for row, index in zip(new, batch, strict=True):
            kept = until_stop(row.tolist(), stops)
            results[index] = Generation(tokenizer.decode(kept, skip_special_tokens=True), len(kept))
        if stats is not None:
            stats.samples += len(batch)
            stats.seconds += elapsed
            stats.new_tokens += sum(r.new_tokens for r in (results[i] for i in batch) if r)
    return [r for r in results if r is not None]


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
