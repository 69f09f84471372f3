"""How much GPU memory a QLoRA run needs, estimated from the model's shapes before anything is loaded.

`shelltune plan` prints the estimate; the train stage compares it with the visible GPU's free memory and
refuses a run that cannot fit, before it loads the tokenizer or a single weight (`preflight`).

What the estimate counts, and where each number comes from:

- **4-bit weights.** Every linear layer of the decoder blocks is a bitsandbytes `Linear4bit`: two NF4
  values per byte, plus its quantization constants, one absmax per block of 64 weights. With double
  quantization the absmax are themselves 8-bit, with one fp32 absmax per 256 of them, an fp32 offset and
  a 256-entry code; without it each absmax is fp32. Checked against bitsandbytes on CPU
  (tests/test_planning.py: exact to the byte).
- **The parts that stay unquantized**: embeddings, the output head (unless tied), norms and biases.
  They load in the compute dtype; `prepare_model_for_kbit_training` then upcasts them to fp32.
- **Trainable tensors**: LoRA A and B for every targeted layer, and full copies of `modules_to_save`,
  in bfloat16 when computing in bfloat16 (TRL's QLoRA cast), else fp32; their gradients alike; AdamW's two
  moments in the parameter dtype (`adamw_torch`), fp32 (`*_32bit`), or 8-bit with one fp32 absmax per 256
  (`*_8bit`, for tensors of 4096 elements or more). Paged optimizers keep tensors of 100k elements or more
  in CUDA unified memory, which can spill to host memory.
- **Activations**: what autograd saves per decoder layer, derived op by op from transformers' Llama/Qwen2
  block with peft's LoRA on bitsandbytes layers (`layer_activation_bytes`; the derivation is in the
  docstring there, checked against the tensors autograd actually saves on CPU). With gradient
  checkpointing only each layer's input is kept, and one layer is recomputed during backward.
- **The LM head**: TRL's chunked log-prob head never builds the logits; it keeps the final hidden states
  and works in tiles of 4096 tokens x 32768 vocabulary entries.
- **The backward's buffers** (gradients of one layer, the largest dequantized weight), derived from the
  shapes but not checkable without a GPU; and two assumptions, stated in the table: the share the caching
  allocator loses to fragmentation, and the CUDA context.

Everything is for the worst batch: `train.batch_size` rows padded to `train.max_length`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from shelltune.config import GGUF, TINY, Params
from shelltune.errors import ShelltuneError
from shelltune.models import choose_compute_dtype
from shelltune.training.trainer import choose_optimizer, trainable_dtype

GiB = 2**30

# bitsandbytes' 4-bit blockwise quantization (functional.quantize_4bit): one absmax per 64 weights; with
# double quantization the absmax go to 8-bit in blocks of 256 (quantize_blockwise) with an fp32 offset.
BLOCKSIZE = 64
NESTED_BLOCKSIZE = 256
NF4_CODE_BYTES = 16 * 4  # the 16-entry NF4 code, per layer
NESTED_CODE_BYTES = 256 * 4  # the 8-bit dynamic code of the nested quantization, copied into every layer

# bitsandbytes' 8-bit optimizers (optim/optimizer.py): 8-bit states only for tensors of min_8bit_size or
# more, one fp32 absmax per block of 256 per state; paged buffers only for tensors of 1e5 elements or more.
MIN_8BIT_SIZE = 4096
OPTIMIZER_BLOCKSIZE = 256
MIN_PAGED_SIZE = 100_000

# TRL's chunked log-prob head (trl/kernels/chunked_logprob.py, trainer/utils.py): tiles of 4096 tokens x
# 32768 vocabulary entries.
HEAD_TOKEN_TILE = 4096
HEAD_VOCAB_TILE = 32768

# Assumptions (not derivable from shapes). A CUDA context with PyTorch's and bitsandbytes' kernels
# loaded lazily takes a few hundred MiB (driver- and GPU-dependent); it is already gone from the free
# memory the pre-flight check reads, so it only matters for the total.
CUDA_CONTEXT_BYTES = 512 * 2**20
FRAGMENTATION = 0.10  # PyTorch's caching allocator: share of the changing tensors lost to fragmentation

LINEAR_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SAVABLE_MODULES = ("embed_tokens", "lm_head")
# Decoder blocks shaped like Llama's: attention q/k/v/o, a gated MLP gate/up/down, two RMSNorms.
LLAMA_LIKE = {"llama", "mistral", "qwen2", "qwen3"}
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Architecture:
    """The shapes the estimate needs, from a config.json."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    source: str = field(default="", compare=False)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear layer of one decoder block."""
        h, i = self.hidden_size, self.intermediate_size
        q, kv = self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def unquantized_parameters(self) -> int:
        """Embeddings, the head unless tied, the norms and the biases: what stays out of Linear4bit."""
        h, shapes = self.hidden_size, self.linear_shapes()
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        norms = (2 * self.num_hidden_layers + 1) * h
        if self.model_type == "qwen3":
            norms += 2 * self.num_hidden_layers * self.head_dim  # q_norm and k_norm
        bias = (sum(shapes[m][1] for m in ("q_proj", "k_proj", "v_proj")) if self.qkv_bias else 0) + (
            h if self.o_bias else 0
        )
        return embeddings + norms + bias * self.num_hidden_layers

    def quantized_parameters(self) -> int:
        return self.num_hidden_layers * sum(i * o for i, o in self.linear_shapes().values())

    def parameters(self) -> int:
        return self.quantized_parameters() + self.unquantized_parameters()


def architecture_from_config(config: dict[str, Any], source: str) -> Architecture:
    """An `Architecture` from a transformers config.json (Llama-style decoder blocks only)."""
    model_type = str(config.get("model_type", ""))
    if model_type not in LLAMA_LIKE:
        raise ShelltuneError(
            f"{source}: model_type {model_type or '(none)'!r} is not a Llama-style decoder that shelltune plan "
            f"knows ({', '.join(sorted(LLAMA_LIKE))})"
        )
    heads = int(config["num_attention_heads"])
    attention_bias = bool(config.get("attention_bias", False))
    return Architecture(
        model_type=model_type,
        vocab_size=int(config["vocab_size"]),
        hidden_size=int(config["hidden_size"]),
        intermediate_size=int(config["intermediate_size"]),
        num_hidden_layers=int(config["num_hidden_layers"]),
        num_attention_heads=heads,
        num_key_value_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or config["hidden_size"] // heads),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        # Qwen2 always has q/k/v biases; Llama, Mistral and Qwen3 follow `attention_bias` (q/k/v and o).
        qkv_bias=model_type == "qwen2" or attention_bias,
        o_bias=model_type != "qwen2" and attention_bias,
        source=source,
    )


def _known(model_type: str, v: int, h: int, i: int, layers: int, heads: int, kv: int, tie: bool, source: str):
    return Architecture(
        model_type, v, h, i, layers, heads, kv, h // heads, tie, model_type == "qwen2", False, source=source
    )


# The profiles' models, for when the hub is out of reach and the weights are not cached: the shapes of
# each config.json at the pinned revision. tests/test_planning.py checks each against the parameter count
# its publisher states.
KNOWN_ARCHITECTURES = {
    "Qwen/Qwen2.5-Coder-0.5B-Instruct": _known(
        "qwen2", 151936, 896, 4864, 24, 14, 2, True, "built-in table (config.json of Qwen2.5-Coder-0.5B-Instruct)"
    ),
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": _known(
        "qwen2", 151936, 1536, 8960, 28, 12, 2, True, "built-in table (config.json of Qwen2.5-Coder-1.5B-Instruct)"
    ),
    "Qwen/Qwen2.5-Coder-7B-Instruct": _known(
        "qwen2", 152064, 3584, 18944, 28, 28, 4, False, "built-in table (config.json of Qwen2.5-Coder-7B-Instruct)"
    ),
    "meta-llama/Llama-3.2-1B-Instruct": _known(
        "llama", 128256, 2048, 8192, 16, 32, 8, True, "built-in table (config.json of Llama-3.2-1B-Instruct)"
    ),
}


def find_architecture(params: Params, config_dir: str | None = None) -> Architecture:
    """The model's shapes, from the first of: an explicit config directory; the built base (the tiny
    model, or one converted from a GGUF file) or the GGUF file's own metadata; a local model directory; the
    Hugging Face cache at the pinned revision; the built-in table of the profiles' models. Never downloads."""
    if config_dir:
        return read_config_dir(Path(config_dir))
    model = params.model
    if model.name_or_path in (TINY, GGUF):
        built = Path(params.paths.base) / "config.json"
        if built.exists():
            return read_config_dir(built.parent)
        return tiny_architecture(params) if model.name_or_path == TINY else gguf_architecture(params)
    local = Path(model.name_or_path)
    if local.is_dir():
        return read_config_dir(local)
    cached = cached_config(model.name_or_path, model.revision)
    if cached is not None:
        return read_config_dir(cached.parent)
    if model.name_or_path in KNOWN_ARCHITECTURES:
        return KNOWN_ARCHITECTURES[model.name_or_path]
    raise ShelltuneError(
        f"{model.name_or_path}: no config.json in the Hugging Face cache and not in shelltune's table of "
        f"known models; download it (hf download {model.name_or_path} config.json --revision "
        f"{model.revision}) or pass --config DIR"
    )


def gguf_architecture(params: Params) -> Architecture:
    """The shapes a GGUF file's metadata gives, as transformers reads them (without its weights)."""
    from transformers import AutoConfig

    from shelltune.ggufmodel import locate_gguf

    path = locate_gguf(params.model.gguf).path
    config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name).to_dict()
    return architecture_from_config(config, str(path))


def read_config_dir(directory: Path) -> Architecture:
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShelltuneError(f"{path}: cannot read the model config: {exc}") from None
    return architecture_from_config(config, str(path))


def cached_config(repo_id: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return Path(found) if isinstance(found, str) else None


def tiny_architecture(params: Params) -> Architecture:
    """The tiny base before the base stage has built it: its vocabulary is at most `tiny.vocab_size`."""
    t = params.model.tiny
    return _known(
        "qwen2",
        t.vocab_size,
        t.hidden_size,
        t.intermediate_size,
        t.num_hidden_layers,
        t.num_attention_heads,
        t.num_key_value_heads,
        t.tie_word_embeddings,
        "params.yaml model.tiny (the base stage has not built it yet)",
    )


@dataclass(frozen=True)
class RunShape:
    """Everything besides the architecture that decides the memory of one training process."""

    device: str  # "cuda" or "cpu"
    compute_dtype: str
    optimizer: str
    batch_size: int
    seq_len: int
    gradient_checkpointing: bool
    lora_r: int
    lora_targets: tuple[str, ...]
    lora_dropout: float
    modules_to_save: tuple[str, ...]
    load_in_4bit: bool
    double_quant: bool
    # prepare_model_for_kbit_training upcasts what is not quantized to fp32 (the train stage's 4-bit path)
    upcast_unquantized: bool


def lora_targets(target_modules: str | list[str]) -> tuple[str, ...]:
    if target_modules == "all-linear":  # peft: every linear layer but the output head
        return LINEAR_LAYERS
    unknown = sorted(set(target_modules) - set(LINEAR_LAYERS))
    if unknown:
        raise ShelltuneError(
            f"lora.target_modules: {', '.join(unknown)} is not a linear layer of a Llama-style block "
            f"({', '.join(LINEAR_LAYERS)}); shelltune plan cannot estimate it"
        )
    return tuple(m for m in LINEAR_LAYERS if m in target_modules)


def run_shape(
    params: Params, device: str = "cuda", bf16_supported: bool = True, seq_len: int | None = None
) -> RunShape:
    """The shape of the run params describe, on `device` (whose bf16 support decides `auto`)."""
    unknown = sorted(set(params.lora.modules_to_save) - set(SAVABLE_MODULES))
    if unknown:
        raise ShelltuneError(f"lora.modules_to_save: shelltune plan knows {', '.join(SAVABLE_MODULES)}, not {unknown}")
    t = params.train
    return RunShape(
        device=device,
        compute_dtype=choose_compute_dtype(params.quant.compute_dtype, device, bf16_supported),
        optimizer=choose_optimizer(t.optimizer, device),
        batch_size=t.batch_size,
        seq_len=seq_len or t.max_length,
        gradient_checkpointing=t.gradient_checkpointing,
        lora_r=params.lora.r,
        lora_targets=lora_targets(params.lora.target_modules),
        lora_dropout=params.lora.dropout,
        modules_to_save=tuple(params.lora.modules_to_save),
        load_in_4bit=params.quant.load_in_4bit,
        double_quant=params.quant.double_quant,
        upcast_unquantized=params.quant.load_in_4bit,  # the single-process and DDP path (FSDP is not modelled)
    )


# ---------------------------------------------------------------- the parts


def quantized_weight_bytes(arch: Architecture, double_quant: bool) -> tuple[int, int]:
    """(packed 4-bit weights, quantization constants) of every Linear4bit, as bitsandbytes stores them."""
    packed = constants = 0
    for fan_in, fan_out in arch.linear_shapes().values():
        n = fan_in * fan_out
        blocks = math.ceil(n / BLOCKSIZE)
        packed += math.ceil(n / 2)
        constants += NF4_CODE_BYTES
        if double_quant:  # 8-bit absmax, one fp32 absmax per 256 of them, the fp32 offset, the 8-bit code
            constants += blocks + 4 * math.ceil(blocks / NESTED_BLOCKSIZE) + 4 + NESTED_CODE_BYTES
        else:
            constants += 4 * blocks
    return packed * arch.num_hidden_layers, constants * arch.num_hidden_layers


def trainable_tensors(arch: Architecture, shape: RunShape) -> list[int]:
    """Element counts of every trainable tensor: LoRA A and B per targeted layer, modules_to_save copies."""
    linear = arch.linear_shapes()
    tensors = []
    for _ in range(arch.num_hidden_layers):
        for name in shape.lora_targets:
            fan_in, fan_out = linear[name]
            tensors += [shape.lora_r * fan_in, fan_out * shape.lora_r]
    tensors += [arch.vocab_size * arch.hidden_size for _ in shape.modules_to_save]
    return tensors


def optimizer_bytes(tensors: list[int], optimizer: str, param_bytes: int) -> tuple[int, int]:
    """(optimizer state bytes, of which in paged memory) for AdamW's two moments."""
    total = paged = 0
    eight_bit = optimizer.endswith("8bit")
    for n in tensors:
        if optimizer == "adamw_torch":
            state = 2 * n * param_bytes  # torch keeps the moments in the parameter dtype
        elif eight_bit and n >= MIN_8BIT_SIZE:
            state = 2 * n + 2 * 4 * math.ceil(n / OPTIMIZER_BLOCKSIZE)
        else:
            state = 2 * n * 4
        total += state
        if optimizer.startswith("paged") and n >= MIN_PAGED_SIZE:
            paged += 2 * n * (1 if eight_bit else 4)  # the state buffers; the absmax stay in device memory
    return total, paged


def residual_bytes(shape: RunShape) -> int:
    """Bytes per element of the residual stream and the norms' outputs: fp32 once the embeddings and norms
    are upcast, else the compute dtype."""
    return 4 if shape.upcast_unquantized else DTYPE_BYTES[shape.compute_dtype]


def layer_activation_bytes(arch: Architecture, shape: RunShape) -> int:
    """Bytes autograd saves per token in one decoder layer (Llama/Qwen2 block, peft LoRA on bitsandbytes
    Linear4bit, SDPA attention), without gradient checkpointing.

    Derivation, with c the compute-dtype bytes, f the residual bytes (fp32 after the upcast):
    - each RMSNorm saves its input (f per element) for `x * rsqrt(var)`; its output is not saved (the norm
      weight is frozen);
    - Linear4bit saves only its packed weight (no weight gradient), and returns its output in its input's
      dtype, so with fp32 norm outputs the MLP's gate and up outputs are fp32 too: SiLU saves gate, the
      product saves SiLU(gate) and up (3 x I elements of f);
    - SDPA (memory-efficient kernel, the one a padding mask selects on CUDA) saves q, k, v and the output
      in c, with k and v repeated to every query head (transformers repeats them when there is a mask);
    - LoRA A saves its input in c: under autocast the cast copy of an fp32 input, or the dropout output.
      Dropout adds its mask (1 byte per element on CUDA, the input's dtype on CPU). With no dropout and no
      cast, A saves a tensor that is already saved (o_proj's input is SDPA's output) or shared (q/k/v read
      the same norm output); LoRA B saves A's r-wide output.
    """
    c, f = DTYPE_BYTES[shape.compute_dtype], residual_bytes(shape)
    autocast = c < 4
    h, i = arch.hidden_size, arch.intermediate_size
    attn = arch.num_attention_heads * arch.head_dim
    mlp_bytes = f if shape.load_in_4bit else c  # nn.Linear under autocast returns c
    saved = 2 * f * h + 3 * mlp_bytes * i + 4 * c * attn + 4 * arch.num_attention_heads
    inputs = {  # each targeted layer's input: width, bytes per element, a group already saved elsewhere
        "q_proj": (h, f, "qkv"),
        "k_proj": (h, f, "qkv"),
        "v_proj": (h, f, "qkv"),
        "o_proj": (attn, c, "sdpa"),
        "gate_proj": (h, f, "gate_up"),
        "up_proj": (h, f, "gate_up"),
        "down_proj": (i, mlp_bytes, "down"),
    }
    shared = set()
    for name in shape.lora_targets:
        width, in_bytes, group = inputs[name]
        saved += shape.lora_r * c  # LoRA B's input
        if shape.lora_dropout > 0:
            mask = 1 if shape.device == "cuda" else in_bytes
            saved += width * (mask + (c if autocast else in_bytes))
        elif autocast and in_bytes != c:
            saved += width * c  # autocast does not cache casts of activations: one copy per layer
        elif group not in shared and group != "sdpa":
            shared.add(group)
            saved += width * in_bytes
    return saved


def shared_activation_bytes(arch: Architecture, shape: RunShape) -> int:
    """Saved once per forward and read by every layer: the 4-D attention mask SDPA gets for a padded batch
    (bool on CUDA, the compute dtype on CPU) and the rotary cos/sin tables."""
    mask = 1 if shape.device == "cuda" else DTYPE_BYTES[shape.compute_dtype]
    return shape.batch_size * shape.seq_len * (shape.seq_len * mask + 2 * 4 * arch.head_dim)


def lm_head_bytes(arch: Architecture, shape: RunShape, tokens: int) -> tuple[int, int]:
    """(saved, transient) bytes of the loss: the final norm's input and the hidden states TRL's chunked head
    keeps; its tiles of logits, the head-weight slice cast to the compute dtype and fp32 gradient buffers."""
    c, f, h = DTYPE_BYTES[shape.compute_dtype], residual_bytes(shape), arch.hidden_size
    saved = 2 * f * tokens * h + 4 * 4 * tokens  # final-norm input, hidden copy; per-token log-z etc.
    tile = min(tokens, HEAD_TOKEN_TILE) * min(arch.vocab_size, HEAD_VOCAB_TILE)
    transient = 2 * tile * c + min(arch.vocab_size, HEAD_VOCAB_TILE) * h * c + 4 * tokens * h
    return saved, transient


def backward_bytes(arch: Architecture, shape: RunShape, tokens: int) -> int:
    """Gradient buffers alive while one layer runs backward: the residual gradient twice (incoming and
    accumulated) and two MLP-wide gradients, plus the largest weight dequantized for a matmul."""
    f, c = residual_bytes(shape), DTYPE_BYTES[shape.compute_dtype]
    mlp_bytes = f if shape.load_in_4bit else c
    largest = max(a * b for a, b in arch.linear_shapes().values()) * c if shape.load_in_4bit else 0
    return 2 * f * tokens * arch.hidden_size + 2 * mlp_bytes * tokens * arch.intermediate_size + largest


@dataclass(frozen=True)
class Part:
    name: str
    bytes: int
    note: str


@dataclass(frozen=True)
class MemoryEstimate:
    arch: Architecture
    shape: RunShape
    parts: tuple[Part, ...]
    paged_bytes: int  # optimizer state in CUDA unified memory: it can spill to host memory when short
    context_bytes: int

    @property
    def total(self) -> int:
        return sum(p.bytes for p in self.parts)

    @property
    def needs_free(self) -> int:
        """What must fit in the free memory a process sees once its CUDA context exists."""
        return self.total - self.context_bytes - self.paged_bytes

    def part(self, name: str) -> int:
        return next(p.bytes for p in self.parts if p.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "architecture": asdict(self.arch),
            "run": asdict(self.shape),
            "parts": {p.name: {"bytes": p.bytes, "GiB": round(p.bytes / GiB, 3), "note": p.note} for p in self.parts},
            "total_bytes": self.total,
            "total_GiB": round(self.total / GiB, 2),
            "paged_optimizer_bytes": self.paged_bytes,
            "needs_free_bytes": self.needs_free,
            "needs_free_GiB": round(self.needs_free / GiB, 2),
        }


def estimate_memory(arch: Architecture, shape: RunShape) -> MemoryEstimate:
    """Peak memory of one training process of `shape` on a model of `arch`."""
    trainable, paged = trainable_parts(arch, shape)
    activations = activation_parts(arch, shape)
    changing = sum(p.bytes for p in activations)
    parts = [
        *weight_parts(arch, shape),
        *trainable,
        *activations,
        Part("fragmentation", round(FRAGMENTATION * changing), f"assumed {FRAGMENTATION:.0%} of the two above"),
    ]
    context = CUDA_CONTEXT_BYTES if shape.device == "cuda" else 0
    if context:
        parts.append(Part("CUDA context", context, "assumed; outside the free memory a process sees"))
    return MemoryEstimate(arch, shape, tuple(parts), paged, context)


def weight_parts(arch: Architecture, shape: RunShape) -> list[Part]:
    c = DTYPE_BYTES[shape.compute_dtype]
    if shape.load_in_4bit:
        packed, constants = quantized_weight_bytes(arch, shape.double_quant)
        quant = "double-quantized: 8-bit absmax per 64, fp32 per 256" if shape.double_quant else "fp32 absmax per 64"
        parts = [
            Part("4-bit weights", packed, f"{arch.quantized_parameters():,} parameters, NF4, 2 per byte"),
            Part("quantization constants", constants, quant),
        ]
    else:
        parts = [Part("weights", arch.quantized_parameters() * c, f"linear layers in {shape.compute_dtype}")]
    dtype = "float32" if shape.upcast_unquantized else shape.compute_dtype
    upcast = " (prepare_model_for_kbit_training upcasts)" if shape.upcast_unquantized else ""
    n = arch.unquantized_parameters()
    parts.append(Part("embeddings, head, norms", n * DTYPE_BYTES[dtype], f"{n:,} parameters in {dtype}{upcast}"))
    return parts


def trainable_parts(arch: Architecture, shape: RunShape) -> tuple[list[Part], int]:
    """LoRA parameters, their gradients and optimizer states; and how much of the state is paged."""
    tensors = trainable_tensors(arch, shape)
    dtype = trainable_dtype(shape.compute_dtype)
    n, size = sum(tensors), DTYPE_BYTES[dtype]
    optimizer, paged = optimizer_bytes(tensors, shape.optimizer, size)
    paged_note = f", {paged / GiB:.2f} GiB paged" if paged else ""
    return [
        Part("LoRA parameters", n * size, f"{n:,} trainable in {dtype}"),
        Part("gradients", n * size, dtype),
        Part("optimizer states", optimizer, f"{shape.optimizer}{paged_note}"),
    ], paged


def activation_parts(arch: Architecture, shape: RunShape) -> list[Part]:
    """What the forward keeps until the backward reaches it, and the backward's peak working set."""
    tokens = shape.batch_size * shape.seq_len
    layer = layer_activation_bytes(arch, shape) * tokens
    layers = arch.num_hidden_layers
    if shape.gradient_checkpointing:  # only every layer's input; the backward recomputes one layer at a time
        kept, recomputed = layers * residual_bytes(shape) * tokens * arch.hidden_size, layer
        kept_note = f"checkpointing: the {layers} layers' inputs"
    else:
        kept, recomputed = layers * layer, 0
        kept_note = f"{layers} layers x {layer / GiB:.2f} GiB, no checkpointing"
    kept += shared_activation_bytes(arch, shape)
    # The backward peaks either in the loss head or in the first layer it reaches (by then the head's
    # tensors are freed): that layer's recomputed activations and its gradient buffers.
    head_saved, head_transient = lm_head_bytes(arch, shape, tokens)
    head_phase = head_saved + head_transient
    layer_phase = recomputed + backward_bytes(arch, shape, tokens)
    if head_phase >= layer_phase:
        peak_note = "in the loss head: final hidden states, 4096 x 32768 logit tiles, their gradients"
    else:
        peak_note = f"in one layer: {recomputed / GiB:.2f} GiB recomputed, gradients, a dequantized weight"
    return [
        Part("activations", kept, f"{kept_note}; batch {shape.batch_size} x {shape.seq_len} tokens"),
        Part("backward peak", max(head_phase, layer_phase), peak_note),
    ]


def format_estimate(estimate: MemoryEstimate, title: str) -> str:
    rows = [f"{title}", f"  model: {estimate.arch.source}", ""]
    width = max(len(p.name) for p in estimate.parts)
    for p in estimate.parts:
        rows.append(f"  {p.name:<{width}}  {p.bytes / GiB:8.2f} GiB  {p.note}")
    rows.append(f"  {'total':<{width}}  {estimate.total / GiB:8.2f} GiB")
    if estimate.paged_bytes:
        rows.append(f"  {'without paged state':<{width}}  {(estimate.total - estimate.paged_bytes) / GiB:8.2f} GiB")
    return "\n".join(rows)


# ---------------------------------------------------------------- the pre-flight check


@dataclass(frozen=True)
class GpuMemory:
    name: str
    free: int
    total: int
    bf16: bool


def visible_gpu() -> GpuMemory | None:
    """This process's GPU and its free memory (creates the CUDA context), or None without CUDA."""
    import torch

    from shelltune.distributed import current_ranks
    from shelltune.models import cuda_supports_bf16

    if not torch.cuda.is_available():
        return None
    device = current_ranks().local_rank
    torch.cuda.set_device(device)
    free, total = torch.cuda.mem_get_info(device)
    return GpuMemory(torch.cuda.get_device_name(device), free, total, cuda_supports_bf16())


def suggest_changes(arch: Architecture, shape: RunShape, free: int) -> list[str]:
    """Single changes to the run that would fit in `free` bytes, most useful first."""
    fits = []
    if not shape.gradient_checkpointing:
        with_gc = replace(shape, gradient_checkpointing=True)
        if estimate_memory(arch, with_gc).needs_free <= free:
            fits.append("train.gradient_checkpointing: true")
    batch = shape.batch_size - 1
    while batch >= 1 and estimate_memory(arch, replace(shape, batch_size=batch)).needs_free > free:
        batch -= 1
    if batch >= 1:
        fits.append(
            f"train.batch_size: {batch} (and train.gradient_accumulation_steps x{math.ceil(shape.batch_size / batch)})"
        )
    length = shape.seq_len // 2
    while length >= 64 and estimate_memory(arch, replace(shape, seq_len=length)).needs_free > free:
        length //= 2
    if length >= 64:
        fits.append(f"train.max_length: {length} (if the data's rows are that short)")
    return fits or ["a smaller model (profiles/) or a GPU with more memory"]


def check_fits(estimate: MemoryEstimate, gpu: GpuMemory) -> str | None:
    """None when the run fits; a warning when it fits only by paging optimizer state to host memory.
    Raises the one-line refusal when it cannot fit."""
    if estimate.needs_free > gpu.free:
        change = "; or ".join(suggest_changes(estimate.arch, estimate.shape, gpu.free))
        raise ShelltuneError(
            f"this run needs about {estimate.needs_free / GiB:.1f} GiB of GPU memory (shelltune plan shows the "
            f"estimate), but {gpu.name} has {gpu.free / GiB:.1f} GiB free of {gpu.total / GiB:.1f} GiB: "
            f"set {change}"
        )
    if estimate.total - estimate.context_bytes > gpu.free:
        return (
            f"warning: the paged optimizer state ({estimate.paged_bytes / GiB:.1f} GiB) will not all fit on "
            f"{gpu.name} and will page to host memory (slower)"
        )
    return None


def preflight(params: Params, base: dict[str, Any]) -> str | None:
    """The train stage's check before it loads anything: refuse a run that cannot fit the visible GPU.
    Does nothing on CPU, and under FSDP (which shards the weights the estimate counts whole)."""
    from shelltune.distributed import uses_fsdp

    if params.train.device == "cpu" or uses_fsdp():
        return None
    gpu = visible_gpu()
    if gpu is None:
        return None
    arch = architecture_for_base(params, base)
    estimate = estimate_memory(arch, run_shape(params, "cuda", gpu.bf16))
    return check_fits(estimate, gpu)


def architecture_for_base(params: Params, base: dict[str, Any]) -> Architecture:
    """The base stage's model: its local config, the cached or known hub config, else the hub's config.json
    (a few kB; the weights download right after)."""
    local = Path(base["name_or_path"])
    if local.is_dir():
        return read_config_dir(local)
    try:
        return find_architecture(params)
    except ShelltuneError:
        from huggingface_hub import hf_hub_download

        try:
            path = hf_hub_download(base["name_or_path"], "config.json", revision=base.get("revision"))
        except Exception as exc:  # offline, gated, missing: the message, not the traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ShelltuneError(
                f"{base['name_or_path']}: cannot read config.json to check GPU memory: {first}"
            ) from None
        return read_config_dir(Path(path).parent)
