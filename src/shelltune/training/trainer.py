"""How the trainer is set up: device, dtype and optimizer; LoRA through peft; TRL's SFTConfig."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.config import Params, QuantParams, TrainParams
from shelltune.distributed import resolve_backend, uses_fsdp
from shelltune.errors import ShelltuneError
from shelltune.models import Placement, resolve_placement
from shelltune.training.tracking import run_name


@dataclass(frozen=True)
class TrainPlacement(Placement):
    optimizer: str


def choose_optimizer(requested: str, device: str) -> str:
    """train.optimizer for the device: `auto` is paged 8-bit AdamW on CUDA (bitsandbytes pages its state to
    host memory under pressure), plain AdamW on CPU."""
    if requested == "auto":
        return "paged_adamw_8bit" if device == "cuda" else "adamw_torch"
    if device == "cpu" and ("8bit" in requested or requested.startswith("paged")):
        raise ShelltuneError(f"train.optimizer: {requested} needs CUDA; use adamw_torch (or auto) on CPU")
    return requested


def resolve_train_placement(
    train: TrainParams, quant: QuantParams, cuda_available: bool, bf16_supported: bool | None = None
) -> TrainPlacement:
    """Device and dtype (shared with inference), plus the optimizer for this device."""
    placement = resolve_placement(train.device, quant, cuda_available, bf16_supported)
    optimizer = choose_optimizer(train.optimizer, placement.device)
    return TrainPlacement(placement.device, placement.compute_dtype, optimizer)


def build_lora_config(params: Params):
    from peft import LoraConfig

    lora = params.lora
    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        modules_to_save=list(lora.modules_to_save) or None,
        bias=lora.bias,
        task_type="CAUSAL_LM",
    )


def prepare_peft_model(model, params: Params):
    from peft import get_peft_model, prepare_model_for_kbit_training

    if params.quant.load_in_4bit and uses_fsdp():
        # FSDP flattens each wrapped block into one tensor of one dtype: the norms stay in the storage dtype
        # (bf16) instead of being upcast; checkpointing is set on the trainer (peft's FSDP-QLoRA recipe).
        pass
    elif params.quant.load_in_4bit:
        # Upcasts the non-quantized weights (norms, embeddings, head) to fp32 for stable training:
        # 4.06 GiB at 7B instead of 2.03 (shelltune plan).
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=params.train.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return get_peft_model(model, build_lora_config(params))


def build_sft_config(params: Params, runtime: TrainPlacement, output_dir: Path, has_eval: bool, resuming: bool = False):
    from trl import SFTConfig

    t = params.train
    early = t.early_stopping_patience > 0
    distributed = {}
    if t.num_processes > 1:
        # Every LoRA matrix gets a gradient each step: no search for unused parameters.
        distributed = {
            "ddp_backend": resolve_backend(t.ddp_backend, runtime.device),
            "ddp_find_unused_parameters": False,
        }
    return SFTConfig(
        **distributed,
        output_dir=str(output_dir),
        seed=params.seed,
        data_seed=params.seed,
        max_steps=t.max_steps,
        num_train_epochs=t.epochs,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        optim=runtime.optimizer,
        # SFTConfig turns on bf16 and gradient checkpointing by default: set both per device.
        bf16=runtime.compute_dtype == "bfloat16",
        fp16=runtime.compute_dtype == "float16",
        gradient_checkpointing=t.gradient_checkpointing,
        use_cpu=runtime.device == "cpu",
        max_length=t.max_length,
        completion_only_loss=True,
        # Batches of similar length pad little: the collator pads to the longest row of each batch.
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        logging_steps=t.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=t.eval_steps,
        # The untrained model's eval loss is the honest starting point; a resumed run has it in the
        # restored log history already (another evaluation at the resume step would add a point to the curve).
        eval_on_start=has_eval and not resuming,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        include_num_input_tokens_seen="non_padding",
        # dvclive logs through our own callback (steps aligned, no dvc.yaml rewrite); others through transformers
        report_to=list(t.report_to) or "none",
        run_name=run_name(),
        disable_tqdm=False,
        dataloader_num_workers=0,
        remove_unused_columns=True,
    )


def trainable_dtype(compute_dtype: str) -> str:
    """The dtype LoRA weights (and modules_to_save) are kept in while training computes in `compute_dtype`.

    bfloat16: the QLoRA recipe (TRL casts them so for quantized models). float16 (GPUs without bf16): float32
    master weights under fp16 autocast, the mixed-precision recipe the GradScaler expects (it refuses to
    unscale fp16 gradients, and bf16 would be emulated on those GPUs). float32 (CPU): float32.
    """
    return "bfloat16" if compute_dtype == "bfloat16" else "float32"


def restore_trainable_dtype(model, compute_dtype: str) -> int:
    """Undo TRL's bfloat16 cast of trainable parameters unless training computes in bfloat16.

    For quantized models SFTTrainer casts every trainable tensor (LoRA A/B and modules_to_save) to
    bfloat16, as the QLoRA paper does on GPUs. On a CPU with float32 compute that cast makes each
    LoRA matmul convert dtypes and run in slow CPU bfloat16, and it rounds the fully trained
    embeddings and head: measured here, 1.8x fewer tokens/s. On an fp16 GPU the master weights must be
    float32 (`trainable_dtype`). Returns how many tensors were recast.
    Call after SFTTrainer() and before train(), i.e. before the optimizer exists.
    """
    import torch

    if trainable_dtype(compute_dtype) == "bfloat16":
        return 0  # the QLoRA recipe, as TRL left it
    recast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.to(torch.float32)
            recast += 1
    return recast


def final_evaluation(trainer) -> dict[str, float]:
    """Eval metrics at the last step; evaluates only if the last step was not an eval step already."""
    step = trainer.state.global_step
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry and entry.get("step") == step:
            return entry
    return trainer.evaluate()  # logged through on_log like every other evaluation


def planned_steps(train: TrainParams, n_examples: int, world_size: int = 1) -> int:
    if train.max_steps > 0:
        return train.max_steps
    per_epoch = math.ceil(n_examples / (train.batch_size * train.gradient_accumulation_steps * world_size))
    return math.ceil(per_epoch * train.epochs)


def describe_run(
    model, tokenizer, examples, lengths, params: Params, runtime: TrainPlacement, total_steps: int, world_size: int = 1
) -> str:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    effective = params.train.batch_size * params.train.gradient_accumulation_steps * world_size
    processes = f" in {world_size} processes" if world_size > 1 else ""
    mean_len = sum(lengths) / max(len(lengths), 1)
    memory = model.get_memory_footprint() / 2**20
    weights = f"4-bit {params.quant.quant_type}" if params.quant.load_in_4bit else "full precision"
    return "\n".join(
        [
            f"device {runtime.device}{processes}, compute dtype {runtime.compute_dtype}, optimizer {runtime.optimizer}",
            f"trainable parameters {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)",
            f"base model in memory {memory:.1f} MiB ({weights})",
            f"train examples {len(examples):,}, mean {mean_len:.1f} tokens; effective batch {effective} "
            f"(≈{effective * mean_len:.0f} tokens per step); total steps {total_steps:,}",
        ]
    )


def mean_train_loss(log_history: list[dict[str, Any]]) -> float | None:
    """The mean training loss over the whole run, from the logged intervals (each weighted by its steps).

    transformers' own `training_loss` averages what the current process computed, so after a resume it
    covers only the resumed part; the log history is restored with the checkpoint, so this is the same
    for a run that was interrupted and resumed as for one that was not.
    """
    total, steps, previous = 0.0, 0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            total += entry["loss"] * (entry["step"] - previous)
            steps += entry["step"] - previous
            previous = entry["step"]
    return round(total / steps, 6) if steps else None
