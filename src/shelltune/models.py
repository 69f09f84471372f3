"""Loading the base model and tokenizer, shared by training, validation, scanning and prediction.

The base weights are loaded in 4-bit through bitsandbytes (NF4 and double quantization by default), only
from safetensors files, and with `trust_remote_code` off unless params turn it on.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.config import REMOTE_CODE_WARNING, Params, QuantParams
from shelltune.errors import ShelltuneError


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" or "cuda"
    compute_dtype: str  # "float32", "bfloat16" or "float16"


def choose_compute_dtype(requested: str, device: str, bf16_supported: bool) -> str:
    """quant.compute_dtype for the device at hand: `auto` is float32 on CPU, bfloat16 on a GPU that computes in
    it (compute capability 8.0 or newer: A100, A10, L4, H100, RTX 30xx/40xx), and float16 where it does not
    (T4, V100): the trainer then runs fp16 autocast with a GradScaler (loss scaling), and bitsandbytes
    dequantizes to float16."""
    if requested == "auto":
        if device == "cpu":
            return "float32"
        return "bfloat16" if bf16_supported else "float16"
    if device == "cpu" and requested != "float32":
        raise ShelltuneError(f"quant.compute_dtype: {requested} needs a GPU; use float32 (or auto) on CPU")
    if device == "cuda" and requested == "bfloat16" and not bf16_supported:
        raise ShelltuneError(
            "quant.compute_dtype: bfloat16 needs a GPU of compute capability 8.0 or newer; "
            "this one computes in float16 (T4, V100): use auto or float16"
        )
    return requested


def cuda_supports_bf16() -> bool:
    """Whether the current CUDA device computes in bfloat16 (compute capability 8.0+, or ROCm)."""
    import torch

    # torch's default (including_emulation=True) also says yes on a T4, where bf16 tensors can be stored but
    # every bf16 matmul is emulated: what decides the dtype is the hardware, so no emulation.
    return torch.cuda.is_bf16_supported(including_emulation=False)


def resolve_placement(
    device: str, quant: QuantParams, cuda_available: bool, bf16_supported: bool | None = None
) -> Placement:
    """Fill in the `auto` choices of train.device and quant.compute_dtype for the machine at hand.

    `bf16_supported` describes the GPU; None asks the visible one (only when the choice is a GPU)."""
    if device == "cuda" and not cuda_available:
        raise ShelltuneError("train.device: cuda was requested but no CUDA device is available")
    chosen = "cuda" if device == "cuda" or (device == "auto" and cuda_available) else "cpu"
    if chosen == "cuda" and bf16_supported is None:
        bf16_supported = cuda_supports_bf16()
    return Placement(chosen, choose_compute_dtype(quant.compute_dtype, chosen, bool(bf16_supported)))


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


def drop_load_options(directory: Path) -> None:
    """Make a saved tokenizer's config say what the tokenizer is, not how this process loaded it: transformers
    writes `local_files_only` into tokenizer_config.json (true under HF_HUB_OFFLINE, false otherwise), so the
    file's hash, and the adapter's and the export's with it, would follow the shell's environment."""
    path = directory / "tokenizer_config.json"
    if path.exists():
        config = json.loads(path.read_text())
        config.pop("local_files_only", None)
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
