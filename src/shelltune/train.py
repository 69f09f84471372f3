"""The train stage: `dvc repro train` (or `python -m shelltune.train`).

QLoRA: the base model is loaded in 4-bit (NF4, double quantization) through bitsandbytes, prepared for
k-bit training, wrapped with LoRA adapters by peft, and trained by TRL's SFTTrainer on conversational
prompt/completion examples, so the loss covers the command tokens only. Everything comes from
params.yaml (`seed`, `prompt`, `model`, `quant`, `lora`, `train`).

Outputs
- `<paths.adapter>/`: adapter_config.json, adapter_model.safetensors, tokenizer and chat template, and
  provenance.json (base and revision, dataset fingerprint, params, library versions, code hash,
  losses). `PeftModel.from_pretrained(base, path)` loads it as is. A DVC output.
- `<paths.reports>/train/`: dvclive metrics and loss curves, steps aligned with the trainer's global
  step. Deterministic, so a re-run reproduces dvc.lock.
- `<paths.reports>/runtime/train/`: what differs on every run (tokens/s, peak memory, wall time, git
  commit, host). Not a DVC output, ignored by git.
- `<paths.checkpoints>/`: resumable checkpoints every `save_steps`. If the stage dies (even by
  `kill -9`), running it again resumes from the newest complete checkpoint of the same run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.base import read_base_info
from shelltune.chat import to_prompt_completion
from shelltune.config import Params, TrainParams
from shelltune.distributed import (
    Ranks,
    barrier,
    current_ranks,
    free_port,
    is_launched,
    launch_command,
    resolve_backend,
    shutdown,
    uses_fsdp,
)
from shelltune.errors import ShelltuneError, run_cli, stage_parser
from shelltune.fileio import atomic_path, fresh_dir, publish, read_jsonl, write_json
from shelltune.models import Placement, load_quantized_model, load_tokenizer, resolve_placement
from shelltune.numerics import bnb_cpu_path, describe_numerics, load_params_for_torch

PARAM_SECTIONS = ("seed", "runtime", "prompt", "model", "quant", "lora", "train")
CODE_FILES = ("train.py", "models.py", "numerics.py", "chat.py", "config.py", "base.py",
              "distributed.py")  # what shapes the adapter
FINGERPRINT_FILE = "run_fingerprint.json"
LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "dvclive")


@dataclass(frozen=True)
class Runtime(Placement):
    optimizer: str


def resolve_runtime(train: TrainParams, quant, cuda_available: bool) -> Runtime:
    """Device and dtype (shared with inference), plus the optimizer for this device."""
    placement = resolve_placement(train.device, quant, cuda_available)
    optimizer = train.optimizer
    if optimizer == "auto":
        # Paged optimizers page state to host memory under pressure: CUDA only.
        optimizer = "paged_adamw_8bit" if placement.device == "cuda" else "adamw_torch"
    elif placement.device == "cpu" and ("8bit" in optimizer or optimizer.startswith("paged")):
        raise ShelltuneError(f"train.optimizer: {optimizer} needs CUDA; use adamw_torch (or auto) on CPU")
    return Runtime(placement.device, placement.compute_dtype, optimizer)


# ---------------------------------------------------------------- data

def build_examples(rows: list[dict[str, Any]], system: str) -> list[dict[str, Any]]:
    return [to_prompt_completion(system, row) for row in rows]


def example_lengths(tokenizer, examples: list[dict[str, Any]]) -> list[int]:
    """Tokens per example as the trainer will see it: chat template over prompt and completion."""
    texts = [tokenizer.apply_chat_template(e["prompt"] + e["completion"], tokenize=False) for e in examples]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def apply_overlong_policy(examples: list[dict[str, Any]], lengths: list[int], max_length: int,
                          policy: str, split: str) -> tuple[list[dict[str, Any]], int]:
    """Return the examples to train on and how many exceeded max_length."""
    overlong = [i for i, n in enumerate(lengths) if n > max_length]
    if overlong and policy == "error":
        first = overlong[0]
        raise ShelltuneError(
            f"{len(overlong)} {split} example(s) exceed train.max_length={max_length} tokens (the first is row "
            f"{first + 1}, {lengths[first]} tokens); raise train.max_length or set train.overlong to drop or truncate")
    if policy == "drop":
        keep = set(range(len(examples))) - set(overlong)
        return [e for i, e in enumerate(examples) if i in keep], len(overlong)
    return examples, len(overlong)  # truncate: the trainer cuts at max_length


def file_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_sha256() -> str:
    here = Path(__file__).parent
    return file_sha256(*(here / name for name in CODE_FILES))


# ---------------------------------------------------------------- model

def build_lora_config(params: Params):
    from peft import LoraConfig

    lora = params.lora
    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      modules_to_save=list(lora.modules_to_save) or None, bias=lora.bias, task_type="CAUSAL_LM")


def prepare_peft_model(model, params: Params):
    from peft import get_peft_model, prepare_model_for_kbit_training

    if params.quant.load_in_4bit and uses_fsdp():
        # FSDP flattens each wrapped block into one tensor of one dtype: the norms stay in the storage dtype
        # (bf16) instead of being upcast; checkpointing is set on the trainer (peft's FSDP-QLoRA recipe).
        pass
    elif params.quant.load_in_4bit:
        # Upcasts the non-quantized weights (norms, embeddings) to fp32 for stable training;
        # ~4 GiB more at 7B.
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=params.train.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
    return get_peft_model(model, build_lora_config(params))


# ---------------------------------------------------------------- trainer

class WindowedLengthSampler:
    """Rows in a seeded random order, then sorted by length within each window of `window` batches.

    Each batch then holds rows of similar length and pads little, while which rows meet in a batch and
    the order of the windows stay random. transformers' group_by_length is the same idea with windows of
    50 batches, which on a small dataset sorts nearly all of it at once: batches become runs of one kind
    of command. `set_epoch` (called by accelerate) reshuffles per epoch, reproducibly, so resumed runs
    see the same order.
    """

    def __init__(self, lengths: list[int], batch_size: int, window: int, seed: int):
        self.lengths, self.batch_size, self.window, self.seed, self.epoch = lengths, batch_size, window, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        return iter(windowed_length_order(self.lengths, self.batch_size, self.window, self.seed + self.epoch))


def windowed_length_order(lengths: list[int], batch_size: int, window: int, seed: int) -> list[int]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    span = batch_size * window
    return [index for start in range(0, len(order), span)
            for index in sorted(order[start:start + span], key=lambda i: -lengths[i])]


def trainer_class(window: int):
    """SFTTrainer, with the windowed length sampler when train.length_window > 0."""
    from trl import SFTTrainer

    if not window:
        return SFTTrainer

    class WindowedSFTTrainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            lengths = [len(ids) for ids in dataset["input_ids"]]
            return WindowedLengthSampler(lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                         window, self.args.data_seed if self.args.data_seed is not None else self.args.seed)

    return WindowedSFTTrainer


def build_sft_config(params: Params, runtime: Runtime, output_dir: Path, has_eval: bool):
    from trl import SFTConfig

    t = params.train
    early = t.early_stopping_patience > 0
    distributed = {}
    if t.num_processes > 1:
        # Every LoRA matrix gets a gradient each step: no search for unused parameters.
        distributed = {"ddp_backend": resolve_backend(t.ddp_backend, runtime.device),
                       "ddp_find_unused_parameters": False}
    return SFTConfig(
        **distributed,
        output_dir=str(output_dir), seed=params.seed, data_seed=params.seed,
        max_steps=t.max_steps, num_train_epochs=t.epochs,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler, warmup_steps=t.warmup_ratio,
        weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm, optim=runtime.optimizer,
        # SFTConfig turns on bf16 and gradient checkpointing by default: set both per device.
        bf16=runtime.compute_dtype == "bfloat16", fp16=runtime.compute_dtype == "float16",
        gradient_checkpointing=t.gradient_checkpointing, use_cpu=runtime.device == "cpu",
        max_length=t.max_length, completion_only_loss=True,
        # Batches of similar length pad little: the collator pads to the longest row of each batch.
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        logging_steps=t.logging_steps, logging_first_step=True,
        eval_strategy="steps" if has_eval else "no", eval_steps=t.eval_steps,
        eval_on_start=has_eval,  # the untrained model's eval loss is the honest starting point
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        load_best_model_at_end=early, metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        include_num_input_tokens_seen="non_padding", report_to="none", disable_tqdm=False,
        dataloader_num_workers=0, remove_unused_columns=True,
    )


class DvcLiveCallback:
    """Logs to two dvclive directories with the trainer's global step as the dvclive step.

    `live` gets what is the same on every run (losses, learning rate, grad norm): a DVC output.
    `perf` gets throughput and memory, which vary from run to run: kept out of dvc.lock.
    """

    KEYS = {"loss": "train/loss", "eval_loss": "eval/loss", "learning_rate": "train/learning_rate",
            "grad_norm": "train/grad_norm", "mean_token_accuracy": "train/token_accuracy",
            "eval_mean_token_accuracy": "eval/token_accuracy"}

    def __init__(self, live, perf, device: str):
        self.live, self.perf, self.device = live, perf, device
        self._last_time = time.perf_counter()
        self._last_tokens = 0
        self.first_eval_loss: float | None = None

    def replay(self, log_history: list[dict[str, Any]]) -> None:
        """Re-log the history kept in a checkpoint, so a resumed run has complete curves."""
        for entry in log_history:
            self.log_entry(int(entry.get("step", 0)), entry)

    def log_entry(self, step: int, logs: dict[str, Any]) -> None:
        self.live.step = step
        for key, name in self.KEYS.items():
            if key in logs and isinstance(logs[key], (int, float)):
                self.live.log_metric(name, round(float(logs[key]), 6))
        if "eval_loss" in logs and self.first_eval_loss is None:
            self.first_eval_loss = float(logs["eval_loss"])
        self.live.make_summary()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self.log_entry(state.global_step, logs)
        now = time.perf_counter()
        tokens = state.num_input_tokens_seen
        if "loss" in logs and now > self._last_time and tokens > self._last_tokens:
            self.perf.step = state.global_step
            self.perf.log_metric("train/tokens_per_s", round((tokens - self._last_tokens) / (now - self._last_time), 1))
            self.perf.log_metric("train/peak_memory_mb", round(peak_memory_mb(self.device), 1))
            self.perf.make_summary()
        self._last_time, self._last_tokens = now, tokens


def make_trainer_callback(callback: DvcLiveCallback):
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            callback.on_log(args, state, control, logs=logs, **kwargs)

    return _Callback()


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ---------------------------------------------------------------- checkpoints

CHECKPOINT_FILES = ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json")


def is_complete_checkpoint(path: Path) -> bool:
    """All files present and the trainer state (written last) parses with the step in the name."""
    if not all((path / name).is_file() for name in CHECKPOINT_FILES):
        return False
    try:
        state = json.loads((path / "trainer_state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return f"checkpoint-{state.get('global_step')}" == path.name


def find_resume_checkpoint(checkpoints: Path, fingerprint: str) -> Path | None:
    """Newest complete checkpoint of this exact run; stale or partial ones are removed."""
    if not checkpoints.is_dir():
        return None
    stamp = checkpoints / FINGERPRINT_FILE
    if not stamp.exists() or json.loads(stamp.read_text()).get("fingerprint") != fingerprint:
        if any(checkpoints.iterdir()):
            print(f"removing checkpoints in {checkpoints}: they belong to a run with other params or data")
        shutil.rmtree(checkpoints)
        return None
    found = sorted((p for p in checkpoints.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]))
    complete = [p for p in found if is_complete_checkpoint(p)]
    for partial in set(found) - set(complete):
        print(f"ignoring incomplete checkpoint {partial} (the run stopped while writing it)")
        shutil.rmtree(partial)
    return complete[-1] if complete else None


def run_fingerprint(params: Params, data_sha256: dict[str, str], base: dict[str, Any]) -> str:
    sections = params.model_dump(mode="json", by_alias=True)
    chosen = {key: sections[key] for key in PARAM_SECTIONS}
    blob = json.dumps({"params": chosen, "data": data_sha256, "base": base, "code": code_sha256()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def check_free_disk(checkpoints: Path, trainable: int, save_total_limit: int) -> None:
    """Adapter weights plus two AdamW moments, fp32, per kept checkpoint, with a 2x margin."""
    need = trainable * 4 * 3 * (save_total_limit + 1) * 2
    checkpoints.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(checkpoints).free
    if free < need:
        raise ShelltuneError(f"{checkpoints}: about {need / 2**20:.0f} MiB of free disk is needed for checkpoints, "
                             f"{free / 2**20:.0f} MiB is available; free space or lower train.save_total_limit")


# ---------------------------------------------------------------- the stage

def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("shelltune", *LIBRARIES):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": dirty}


def describe_run(model, tokenizer, examples, lengths, params: Params, runtime: Runtime, total_steps: int,
                 world_size: int = 1) -> str:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    effective = params.train.batch_size * params.train.gradient_accumulation_steps * world_size
    processes = f" in {world_size} processes" if world_size > 1 else ""
    mean_len = sum(lengths) / max(len(lengths), 1)
    memory = model.get_memory_footprint() / 2**20
    return "\n".join([
        f"device {runtime.device}{processes}, compute dtype {runtime.compute_dtype}, optimizer {runtime.optimizer}",
        f"trainable parameters {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)",
        f"base model in memory {memory:.1f} MiB ({'4-bit ' + params.quant.quant_type if params.quant.load_in_4bit else 'full precision'})",
        f"train examples {len(examples):,}, mean {mean_len:.1f} tokens; effective batch {effective} "
        f"(≈{effective * mean_len:.0f} tokens per step); total steps {total_steps:,}",
    ])


def planned_steps(train: TrainParams, n_examples: int, world_size: int = 1) -> int:
    if train.max_steps > 0:
        return train.max_steps
    per_epoch = math.ceil(n_examples / (train.batch_size * train.gradient_accumulation_steps * world_size))
    return math.ceil(per_epoch * train.epochs)


def train(params: Params) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from dvclive import Live
    from transformers import EarlyStoppingCallback, set_seed

    from accelerate import PartialState

    started = time.time()
    set_seed(params.seed)
    ranks = current_ranks()
    say = print if ranks.is_main else (lambda *args, **kwargs: None)
    processed = Path(params.paths.processed)
    train_file, val_file = processed / "train.jsonl", processed / "val.jsonl"
    for path in (train_file, val_file):
        if not path.exists():
            raise ShelltuneError(f"{path}: not found; run the split stage first (dvc repro split)")
    base = read_base_info(params.paths.base)
    runtime = resolve_runtime(params.train, params.quant, torch.cuda.is_available())
    # Joins the process group when launched (the trainer reuses it); a no-op in one process.
    state = PartialState(cpu=runtime.device == "cpu",
                         backend=resolve_backend(params.train.ddp_backend, runtime.device) if ranks.world_size > 1 else None)
    tokenizer = load_tokenizer(base, params)
    system = params.prompt.system
    splits, overlong, lengths = {}, {}, {}
    for name, path in (("train", train_file), ("val", val_file)):
        examples = build_examples(read_jsonl(path), system)
        lengths[name] = example_lengths(tokenizer, examples)
        splits[name], overlong[name] = apply_overlong_policy(examples, lengths[name], params.train.max_length,
                                                             params.train.overlong, name)
    for name, count in overlong.items():
        if count:
            say(f"{count} {name} example(s) longer than {params.train.max_length} tokens: {params.train.overlong}")

    data_sha256 = {"train_sha256": file_sha256(train_file), "val_sha256": file_sha256(val_file)}
    fingerprint = run_fingerprint(params, data_sha256, base)
    checkpoints = Path(params.paths.checkpoints)
    model = prepare_peft_model(load_quantized_model(base, params, runtime, training=True), params)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    with state.main_process_first():  # rank 0 clears stale checkpoints and stamps the run; then the others look
        resume = find_resume_checkpoint(checkpoints, fingerprint)
        if ranks.is_main:
            check_free_disk(checkpoints, trainable, params.train.save_total_limit)
            checkpoints.mkdir(parents=True, exist_ok=True)
            (checkpoints / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
    total_steps = planned_steps(params.train, len(splits["train"]), ranks.world_size)
    say(describe_run(model, tokenizer, splits["train"], lengths["train"], params, runtime, total_steps,
                     ranks.world_size))

    reports = Path(params.paths.reports)
    callbacks, logger = [], None
    # dvclive writes in place: it logs into a staging directory (git-ignored), which replaces the tracked
    # reports/train only when the stage succeeds, so a failed or killed run leaves it as it was.
    live_staging = reports / "runtime" / "train.staging"
    if ranks.is_main:  # one writer for the logs and the adapter
        live = Live(str(fresh_dir(live_staging)), dvcyaml=False, save_dvc_exp=False, report=None)
        perf = Live(str(reports / "runtime" / "train"), dvcyaml=False, save_dvc_exp=False, report=None)
        logger = DvcLiveCallback(live, perf, runtime.device)
        callbacks.append(make_trainer_callback(logger))
    if params.train.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=params.train.early_stopping_patience))

    trainer = trainer_class(params.train.length_window)(
        model=model, processing_class=tokenizer,
        args=build_sft_config(params, runtime, checkpoints, has_eval=bool(splits["val"])),
        train_dataset=Dataset.from_list(splits["train"]),
        eval_dataset=Dataset.from_list(splits["val"]) if splits["val"] else None,
        callbacks=callbacks,
    )
    recast = keep_trainable_in_compute_dtype(model, runtime.compute_dtype)
    if recast:
        say(f"trainable parameters kept in {runtime.compute_dtype} ({recast:,} tensors TRL had cast to bfloat16)")
    if resume is not None:
        say(f"resuming from {resume}")
        if logger is not None:
            logger.replay(json.loads((resume / "trainer_state.json").read_text())["log_history"])
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    final_eval = final_evaluation(trainer) if splits["val"] else {}
    state_dict = None
    if uses_fsdp():  # gather the sharded weights; every process takes part
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
        state_dict = trainer.accelerator.get_state_dict(trainer.model)

    provenance = {
        "base": base,
        "dataset": {**data_sha256, "train_examples": len(splits["train"]), "val_examples": len(splits["val"]),
                    "overlong_train": overlong["train"], "overlong_val": overlong["val"],
                    "overlong_policy": params.train.overlong},
        "params": {k: v for k, v in params.model_dump(mode="json", by_alias=True).items() if k in PARAM_SECTIONS},
        "runtime": {"device": runtime.device, "compute_dtype": runtime.compute_dtype, "optimizer": runtime.optimizer,
                    "num_processes": ranks.world_size,
                    "distributed_type": str(trainer.accelerator.distributed_type.value)},
        "libraries": library_versions(),
        "code_sha256": code_sha256(),
        "results": {"global_step": trainer.state.global_step, "epoch": round(trainer.state.epoch, 6),
                    "train_loss": round(result.training_loss, 6),
                    "first_eval_loss": logger.first_eval_loss if logger else None,
                    "final_eval_loss": final_eval.get("eval_loss"),
                    "trainable_parameters": trainable},
    }
    if ranks.is_main:
        logger.live.end()
        save_adapter(model, tokenizer, provenance, Path(params.paths.adapter), state_dict)
        publish(live_staging, reports / "train")
        write_run_info(reports, started, result, resume, runtime, ranks,
                       describe_numerics(params.runtime, bnb_cpu_path(model)))
        logger.perf.end()
    barrier()  # the adapter is complete before any process reports success
    if ranks.is_main and not params.train.keep_checkpoints:
        shutil.rmtree(checkpoints, ignore_errors=True)
    shutdown()
    return provenance


def write_run_info(reports: Path, started: float, result, resume: Path | None, runtime: Runtime, ranks: Ranks,
                   numerics: dict[str, Any]) -> None:
    """What differs on every run (not a DVC output): git commit, host, CPU and kernels, wall time, peak memory."""
    import torch

    runtime_info = {**git_commit(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "wall_s": round(time.time() - started, 1), "host": platform.node(),
                    "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 1),
                    "peak_memory_mb": round(peak_memory_mb(runtime.device), 1), "resumed_from": str(resume) if resume else None,
                    "device_name": torch.cuda.get_device_name(0) if runtime.device == "cuda" else platform.processor(),
                    "num_processes": ranks.world_size, "numerics": numerics}
    write_json(reports / "runtime" / "train.json", runtime_info)


def keep_trainable_in_compute_dtype(model, compute_dtype: str) -> int:
    """Undo TRL's bfloat16 cast of trainable parameters when training computes in float32.

    For quantized models SFTTrainer casts every trainable tensor (LoRA A/B and modules_to_save) to
    bfloat16, as the QLoRA paper does on GPUs. On a CPU with float32 compute that cast makes each
    LoRA matmul convert dtypes and run in slow CPU bfloat16, and it rounds the fully trained
    embeddings and head: measured here, 1.8x fewer tokens/s. Returns how many tensors were recast.
    Call after SFTTrainer() and before train(), i.e. before the optimizer exists.
    """
    import torch

    if compute_dtype != "float32":
        return 0
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


def save_adapter(model, tokenizer, provenance: dict[str, Any], out_dir: Path, state_dict=None) -> None:
    with atomic_path(out_dir) as staged:
        model.save_pretrained(staged, state_dict=state_dict)
        tokenizer.save_pretrained(staged)
        (staged / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
        # peft writes a model card with a local path; keep the directory free of run-specific text.
        (staged / "README.md").unlink(missing_ok=True)
        canonicalize_saved_configs(staged)


def canonicalize_saved_configs(directory: Path) -> None:
    """Make the saved JSON depend only on the model, so the adapter's hash reproduces on any machine.

    peft saves `target_modules` resolved from "all-linear" as a set, in hash-seed order; transformers
    records `local_files_only`, which says how the tokenizer was loaded (HF_HUB_OFFLINE), not what it is.
    """
    adapter_config = directory / "adapter_config.json"
    config = json.loads(adapter_config.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    adapter_config.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    tokenizer_config = directory / "tokenizer_config.json"
    if tokenizer_config.exists():
        config = json.loads(tokenizer_config.read_text())
        config.pop("local_files_only", None)
        tokenizer_config.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("shelltune train", "QLoRA fine-tuning (the train stage).")
    args = parser.parse_args(argv)

    def entry() -> int:
        params = load_params_for_torch(args.params)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if params.train.num_processes > 1 and not is_launched():
            command = launch_command(params.train, list(argv if argv is not None else sys.argv[1:]), free_port())
            print(f"training in {params.train.num_processes} processes: accelerate launch "
                  f"--num_processes {params.train.num_processes} ... -m shelltune.train", flush=True)
            return subprocess.run(command, check=False).returncode
        provenance = train(params)
        if not current_ranks().is_main:
            return 0
        results = provenance["results"]
        print(f"adapter → {params.paths.adapter}: {results['global_step']} steps, train loss "
              f"{results['train_loss']:.4f}, eval loss {results['first_eval_loss']} → {results['final_eval_loss']}")
        return 0

    return run_cli(entry, argv)


if __name__ == "__main__":
    raise SystemExit(main())
