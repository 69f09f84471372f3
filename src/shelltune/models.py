"""Loading the base model and tokenizer, shared by training, validation, scanning and prediction.

The base weights are loaded in 4-bit through bitsandbytes (NF4 and double quantization by default), only
from safetensors files, and with `trust_remote_code` off unless params turn it on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from shelltune.config import REMOTE_CODE_WARNING, Params, QuantParams
from shelltune.errors import ShelltuneError


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda"
    compute_dtype: str  # "float32", "bfloat16" or "float16"


def resolve_placement(device: str, quant: QuantParams, cuda_available: bool) -> Placement:
    """Fill in the `auto` choices of train.device and quant.compute_dtype for the machine at hand."""
    if device == "cuda" and not cuda_available:
        raise ShelltuneError("train.device: cuda was requested but no CUDA device is available")
    chosen = "cuda" if device == "cuda" or (device == "auto" and cuda_available) else "cpu"
    dtype = quant.compute_dtype if quant.compute_dtype != "auto" else ("bfloat16" if chosen == "cuda" else "float32")
    if chosen == "cpu" and dtype != "float32":
        raise ShelltuneError(f"quant.compute_dtype: {dtype} needs a GPU; use float32 (or auto) on CPU")
    return Placement(chosen, dtype)


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def build_quant_config(quant: QuantParams, compute_dtype: str):
    from transformers import BitsAndBytesConfig

    if not quant.load_in_4bit:
        return None
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.quant_type,
        bnb_4bit_use_double_quant=quant.double_quant,
        bnb_4bit_compute_dtype=torch_dtype(compute_dtype),
        bnb_4bit_quant_storage=torch_dtype(quant.quant_storage),
    )


def warn_if_remote_code(params: Params) -> None:
    if params.model.trust_remote_code:
        print(REMOTE_CODE_WARNING, file=sys.stderr)


def load_tokenizer(base: dict[str, Any], params: Params):
    """The base's tokenizer, left-padded for generation. Every stage that loads a model comes through
    here first, so this is where `trust_remote_code` is announced."""
    from transformers import AutoTokenizer

    warn_if_remote_code(params)
    tokenizer = AutoTokenizer.from_pretrained(
        base["name_or_path"], revision=base.get("revision"), trust_remote_code=params.model.trust_remote_code
    )
    tokenizer.padding_side = "left"  # generation needs left padding; the SFT collator pads by itself
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_quantized_model(base: dict[str, Any], params: Params, runtime: Placement, *, training: bool):
    """The frozen base in 4-bit NF4 (or full precision with quant.load_in_4bit: false).

    `training` is required: a model that will train must never take bitsandbytes' CPU inference layout
    (numerics.choose_bnb_cpu_path); one that only generates takes it under runtime.cpu_kernels=native.
    """
    from shelltune.distributed import current_ranks, uses_fsdp
    from shelltune.numerics import choose_bnb_cpu_path, configure_torch

    if uses_fsdp():
        device_map = None  # FSDP places and shards the weights itself (cpu_ram_efficient_loading)
    elif runtime.device == "cuda":
        device_map = {"": current_ranks().local_rank}  # each DDP process holds a whole copy on its own GPU
    else:
        device_map = "cpu"
    model = load_base_weights(
        base, params, runtime.compute_dtype, build_quant_config(params.quant, runtime.compute_dtype), device_map
    )
    model.config.use_cache = False  # the KV cache only helps generation
    if params.quant.load_in_4bit:
        choose_bnb_cpu_path(model, params.runtime.cpu_kernels, training)
    configure_torch(params.runtime, runtime.device)
    return model


def load_base_weights(
    base: dict[str, Any], params: Params, dtype: str, quantization_config=None, device_map: Any = "cpu"
):
    """`from_pretrained` for the base: safetensors only, `trust_remote_code` from params, and a one-line
    error for missing, pickled-only or corrupted weights."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            base["name_or_path"],
            revision=base.get("revision"),
            dtype=torch_dtype(dtype),
            quantization_config=quantization_config,
            device_map=device_map,
            use_safetensors=True,
            trust_remote_code=params.model.trust_remote_code,
        )
    except (OSError, ValueError, SafetensorError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ShelltuneError(f"{base['name_or_path']}: cannot load the base model: {first}") from None
