"""How fast and lean the pipeline is, measured against the usual set-ups (`shelltune bench`).

    shelltune bench                    # the full benchmark on the default model (needs `dvc repro` first)
    shelltune bench --size small       # a quick pass (CI): fewer steps, prompts and a smaller memory model

In one process and one sitting, on the same data, model and step count, it measures:

1. train: supervised (loss-bearing) tokens per second of the train stage's set-up (TRL SFTTrainer,
   completion-only loss with its fused LM head, length windows, batches padded to their longest row, the
   shared prompt prefix run once per batch) against the plain set-up many projects use (transformers
   Trainer + peft, every row padded to `train.max_length`, per-device batch 2), both on the same 4-bit
   base with the same LoRA; and peak memory of each.
2. generate: samples per second of the validate stage's generation (batched and left-padded, the shared
   prompt prefix computed once, 4-bit weights dequantized once on the CPU) against the plain loop a user
   writes (`model.generate` on one prompt at a time), and the share of identical predictions.
3. memory: weight memory of a mid-size random Qwen2 in NF4 with double quantization against bf16, and
   the adapter's size on disk.
4. pipeline (optional, `--pipeline`): what a newcomer's `make repro` costs on a fresh clone, stage by stage:
   the virtualenv and install (`make setup`), each stage (`dvc repro -s STAGE`), and a no-op `dvc repro`.

Writes `<paths.reports>/bench.json` and the markdown table `bench.md` beside it (`--out` chooses another
place). They are not DVC outputs: timings vary from run to run, so they stay out of `dvc.lock`; the
committed pair is the reference run the README quotes.
"""

from __future__ import annotations

import copy
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl
from shelltune.numerics import (
    ISA_FLAGS,
    PORTABLE_X86_ENV,
    cpu_flags,
    cpu_model,
    has_avx2,
    kernel_environment,
)

PROFILES = ("portable", "native")

SIZES = {
    "full": {
        "name": "full",
        "warmup_steps": 4,
        "steps": 60,
        "prompts": 128,
        "memory_model": {
            "hidden_size": 768,
            "intermediate_size": 2048,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "num_key_value_heads": 2,
            "vocab_size": 8192,
        },
    },
    "small": {
        "name": "small",
        "warmup_steps": 1,
        "steps": 3,
        "prompts": 16,
        "memory_model": {
            "hidden_size": 256,
            "intermediate_size": 704,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 2048,
        },
    },
}


# ---------------------------------------------------------------- measuring a training loop


class StepTimer:
    """A Trainer callback that times optimizer steps after `warmup` steps (the first steps allocate)."""

    def __init__(self, warmup: int):
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                outer.started = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step > outer.warmup:
                    outer.seconds += time.perf_counter() - outer.started

        self.warmup, self.seconds, self.started = warmup, 0.0, 0.0
        self.callback = Callback()


class TokenCounter:
    """Wraps a data collator and counts, after warmup batches, the tokens that carry loss."""

    def __init__(self, collator, warmup_batches: int):
        self.collator, self.warmup, self.batches, self.supervised, self.padded = collator, warmup_batches, 0, 0, 0

    def __call__(self, features):
        batch = self.collator(features)
        self.batches += 1
        if self.batches > self.warmup:
            self.supervised += int((batch["labels"][:, 1:] != -100).sum())  # next-token targets
            self.padded += int(batch["input_ids"].numel())
        return batch


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_peft_model(params: Params):
    import torch

    from shelltune.basemodel import read_base_info
    from shelltune.models import load_quantized_model, load_tokenizer
    from shelltune.training.trainer import prepare_peft_model, resolve_train_placement

    base = read_base_info(params.paths.base)
    runtime = resolve_train_placement(params.train, params.quant, torch.cuda.is_available())
    tokenizer = load_tokenizer(base, params)
    return prepare_peft_model(load_quantized_model(base, params, runtime, training=True), params), tokenizer, runtime


def train_ours(params: Params, examples: list[dict], warmup: int, steps: int, workdir: Path) -> dict[str, float]:
    """The train stage's own trainer (SFTTrainer, completion-only loss, length windows, per-batch padding)."""
    from datasets import Dataset
    from transformers import set_seed

    from shelltune.training.prefix import can_share
    from shelltune.training.sampler import trainer_class
    from shelltune.training.trainer import build_sft_config, restore_trainable_dtype

    set_seed(params.seed)
    model, tokenizer, runtime = fresh_peft_model(params)
    config = build_sft_config(params, runtime, workdir / "ours", has_eval=False)
    config.max_steps, config.save_strategy, config.logging_steps = warmup + steps, "no", 10_000
    config.disable_tqdm = True
    timer = StepTimer(warmup)
    share = params.train.share_prefix and can_share(params.train.gradient_checkpointing, 1)
    trainer = trainer_class(params.train.length_window, share)(
        model=model,
        processing_class=tokenizer,
        args=config,
        train_dataset=Dataset.from_list(examples),
        callbacks=[timer.callback],
    )
    restore_trainable_dtype(model, runtime.compute_dtype)
    counter = TokenCounter(trainer.data_collator, warmup * params.train.gradient_accumulation_steps)
    trainer.data_collator = counter
    trainer.train()
    return throughput(counter, timer, params.train.batch_size)


def throughput(counter: TokenCounter, timer: StepTimer, batch_size: int) -> dict[str, float]:
    """What one measured training run reports: supervised tokens/s over the timed steps, and the counts."""
    return {
        "supervised_tokens_per_s": counter.supervised / timer.seconds,
        "seconds": timer.seconds,
        "supervised_tokens": counter.supervised,
        "padded_tokens": counter.padded,
        "batch_size": batch_size,
    }


def plain_dataset(tokenizer, examples: list[dict], max_length: int):
    """Every row padded to max_length; loss on the completion only (the same objective as ours)."""
    from datasets import Dataset

    from shelltune.chat import end_of_turn_tokens

    # The answer closes with the template's end of turn, which need not be eos_token (Llama 3: <|eot_id|>).
    end_of_turn = "".join(end_of_turn_tokens(tokenizer))
    rows = []
    for example in examples:
        prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
        completion = example["completion"][0]["content"] + end_of_turn
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + tokenizer(completion, add_special_tokens=False)["input_ids"])[:max_length]
        labels = [-100] * len(prompt_ids) + ids[len(prompt_ids) :]
        pad = max_length - len(ids)
        rows.append(
            {
                "input_ids": ids + [tokenizer.pad_token_id] * pad,
                "attention_mask": [1] * len(ids) + [0] * pad,
                "labels": (labels + [-100] * pad)[:max_length],
            }
        )
    return Dataset.from_list(rows)


def train_plain(params: Params, examples: list[dict], warmup: int, steps: int, workdir: Path) -> dict[str, float]:
    """The common baseline: Trainer + peft, padding to max_length, per-device batch 2."""
    from transformers import Trainer, TrainingArguments, default_data_collator, set_seed

    set_seed(params.seed)
    model, tokenizer, runtime = fresh_peft_model(params)
    args = TrainingArguments(
        output_dir=str(workdir / "plain"),
        max_steps=warmup + steps,
        per_device_train_batch_size=2,
        learning_rate=params.train.learning_rate,
        optim=runtime.optimizer,
        save_strategy="no",
        report_to="none",
        logging_steps=10_000,
        use_cpu=runtime.device == "cpu",
        bf16=runtime.compute_dtype == "bfloat16",
        fp16=runtime.compute_dtype == "float16",
        gradient_checkpointing=params.train.gradient_checkpointing,
        disable_tqdm=True,
        seed=params.seed,
        remove_unused_columns=False,
    )
    timer = StepTimer(warmup)
    counter = TokenCounter(default_data_collator, warmup)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=plain_dataset(tokenizer, examples, params.train.max_length),
        data_collator=counter,
        callbacks=[timer.callback],
    )
    trainer.train()
    return throughput(counter, timer, 2)


def bench_train(params: Params, warmup: int, steps: int) -> dict[str, Any]:
    """Ours against the plain set-up under the params' kernel profile, and ours under both profiles."""
    from shelltune.training.data import build_examples

    examples = build_examples(read_jsonl(Path(params.paths.processed) / "train.jsonl"), params.prompt.system)
    chosen = params.runtime.cpu_kernels
    with tempfile.TemporaryDirectory() as tmp:
        plain = run_isolated(train_plain, params, examples, warmup, steps, Path(tmp), cpu_kernels=chosen)
        ours = {
            kernels: run_isolated(
                train_ours, with_kernels(params, kernels), examples, warmup, steps, Path(tmp), cpu_kernels=kernels
            )
            for kernels in PROFILES
        }
    return {
        "ours": ours[chosen],
        "plain": plain,
        "train_speedup": round(ours[chosen]["supervised_tokens_per_s"] / plain["supervised_tokens_per_s"], 2),
        "by_kernels": {
            k: {
                "supervised_tokens_per_s": round(v["supervised_tokens_per_s"], 1),
                "torch_cpu_capability": v["torch_cpu_capability"],
            }
            for k, v in ours.items()
        },
    }


def with_kernels(params: Params, cpu_kernels: str) -> Params:
    return params.model_copy(update={"runtime": params.runtime.model_copy(update={"cpu_kernels": cpu_kernels})})


def run_isolated(function, *args, cpu_kernels: str) -> dict[str, Any]:
    """Run one measurement in a fresh process under the given kernel profile.

    A fresh (spawned) interpreter, because the kernel profile only takes effect before torch loads; and
    peak memory (max RSS) is then the measurement's own, not the sum of all.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_measure, args=(child, cpu_kernels, function, args))
    with profile_environment(cpu_kernels):
        process.start()
    result = parent.recv() if parent.poll(3600) else None
    process.join()
    if result is None or process.exitcode != 0:
        raise ShelltuneError(
            f"benchmark step {function.__name__} ({cpu_kernels} kernels) failed (exit code {process.exitcode})"
        )
    return result


@contextmanager
def profile_environment(cpu_kernels: str):
    """This process's environment with only `cpu_kernels`' variables, while a child is started."""
    saved = dict(os.environ)
    for key in PORTABLE_X86_ENV:
        os.environ.pop(key, None)
    os.environ.update(kernel_environment(cpu_kernels, False, platform.machine(), has_avx2()))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _measure(conn, cpu_kernels: str, function, args) -> None:
    result = function(*args)
    result["cpu_kernels"] = cpu_kernels
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    import torch

    result["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    conn.send(result)


# ---------------------------------------------------------------- generation


def bench_generate(params: Params, prompts: int, batch1: bool) -> dict[str, Any]:
    from shelltune.inference import generate, load_model_and_tokenizer
    from shelltune.numerics import bnb_cpu_path

    rows = read_jsonl(Path(params.paths.processed) / "test.jsonl")[:prompts]
    instructions = [row["instruction"] for row in rows]
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    system, new_tokens = params.prompt.system, params.validate.max_new_tokens
    generate(model, tokenizer, system, instructions[:2], new_tokens, 2)  # warm-up
    start = time.perf_counter()
    batched = generate(model, tokenizer, system, instructions, new_tokens, params.validate.batch_size)
    batched_s = time.perf_counter() - start
    result = {
        "prompts": len(instructions),
        "batch_size": params.validate.batch_size,
        "batched_samples_per_s": round(len(instructions) / batched_s, 2),
        "bnb_cpu_path": bnb_cpu_path(model),
        "texts": [g.text for g in batched],
    }
    if batch1:
        start = time.perf_counter()
        single = plain_generate(model, tokenizer, system, instructions, new_tokens)
        single_s = time.perf_counter() - start
        same = sum(a.text == b for a, b in zip(batched, single, strict=True))
        result.update(
            batch1_samples_per_s=round(len(instructions) / single_s, 2),
            generate_speedup=round(single_s / batched_s, 2),
            generate_agreement=round(same / len(instructions), 4),
        )
    return result


def plain_generate(model, tokenizer, system: str, instructions: list[str], max_new_tokens: int) -> list[str]:
    """The loop a user writes: one prompt at a time through `model.generate`, greedy, stopping at the end of
    turn; no batching, no shared prefix, bitsandbytes' own forward."""
    import torch

    from shelltune.inference import greedy, render_prompts, stop_token_ids, until_stop

    stops, texts = stop_token_ids(model, tokenizer), []
    for prompt in render_prompts(tokenizer, system, instructions):
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, **greedy(max_new_tokens, stops, tokenizer.pad_token_id))
        texts.append(tokenizer.decode(until_stop(out[0, inputs["input_ids"].shape[1] :].tolist(), stops), True))
    return texts


def bench_generate_profiles(params: Params, prompts: int) -> dict[str, Any]:
    """The validate stage's generation under the params' profile (against batch 1), and batched under the
    other profile; `native` may also change the predictions (bitsandbytes' bf16 path), so say how many."""
    chosen = params.runtime.cpu_kernels
    runs = {
        kernels: run_isolated(
            bench_generate, with_kernels(params, kernels), prompts, kernels == chosen, cpu_kernels=kernels
        )
        for kernels in PROFILES
    }
    result = {key: value for key, value in runs[chosen].items() if key != "texts"}
    portable, native = runs["portable"]["texts"], runs["native"]["texts"]
    result["by_kernels"] = {
        k: {
            "batched_samples_per_s": v["batched_samples_per_s"],
            "bnb_cpu_path": v["bnb_cpu_path"],
            "torch_cpu_capability": v["torch_cpu_capability"],
        }
        for k, v in runs.items()
    }
    result["native_agreement_with_portable"] = round(
        sum(a == b for a, b in zip(portable, native, strict=True)) / len(portable), 4
    )
    return result


# ---------------------------------------------------------------- memory


def bench_memory(params: Params, shape: dict[str, int]) -> dict[str, Any]:
    """Weight memory of one random Qwen2 shape in bf16 and in NF4 + double quantization."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, Qwen2Config

    config = Qwen2Config(**shape, max_position_embeddings=256, tie_word_embeddings=True)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(params.seed)
        AutoModelForCausalLM.from_config(config).to(torch.bfloat16).save_pretrained(tmp)
        bf16 = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.bfloat16, device_map="cpu")
        parameters, bf16_bytes = bf16.num_parameters(), bf16.get_memory_footprint()
        embedding = bf16.get_input_embeddings().weight.numel()
        del bf16
        quant = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        nf4 = AutoModelForCausalLM.from_pretrained(
            tmp, quantization_config=quant, dtype=torch.bfloat16, device_map="cpu"
        )
        nf4_bytes = nf4.get_memory_footprint()
        del nf4
    adapter = Path(params.paths.adapter) / "adapter_model.safetensors"
    # Embeddings stay in bf16 under bitsandbytes; the linear layers alone show the 4-bit ratio itself.
    linear_ratio = (nf4_bytes - 2 * embedding) / (bf16_bytes - 2 * embedding)
    return {
        "parameters": parameters,
        "embedding_parameters": embedding,
        "bf16_mb": round(bf16_bytes / 2**20, 2),
        "nf4_mb": round(nf4_bytes / 2**20, 2),
        "nf4_memory_ratio": round(nf4_bytes / bf16_bytes, 4),
        "nf4_linear_layers_ratio": round(linear_ratio, 4),
        "adapter_mb": round(adapter.stat().st_size / 2**20, 2) if adapter.exists() else None,
    }


# ---------------------------------------------------------------- pipeline


PIPELINE_STAGES = ("check", "split", "base", "train", "validate", "execute", "scan", "plot")


def bench_pipeline(repo: Path, clone: Path) -> dict[str, Any]:
    """A newcomer's `make repro` on a fresh clone of `repo` (its committed state) at `clone`, timed part by
    part: the virtualenv and install, then each stage alone in pipeline order, then a no-op `dvc repro`;
    and whether `git status` is clean after it (every output as the committed `dvc.lock` says)."""
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    env = {key: value for key, value in os.environ.items() if key not in PORTABLE_X86_ENV}
    env["DVC_NO_ANALYTICS"] = "1"
    seconds = {"setup": timed(["make", "setup"], clone, env)}
    env["PATH"] = f"{clone / '.venv' / 'bin'}:{env['PATH']}"
    for stage in PIPELINE_STAGES:
        seconds[stage] = timed(["dvc", "repro", "-s", stage], clone, env)
    noop = timed(["dvc", "repro"], clone, env)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
    return {
        "stages_s": {name: round(value, 1) for name, value in seconds.items()},
        "repro_from_clean_s": round(sum(seconds.values()) - seconds["setup"], 1),
        "make_repro_s": round(sum(seconds.values()), 1),
        "repro_noop_s": round(noop, 2),
        "clean_after_repro": not status.strip(),
    }


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ShelltuneError(f"benchmark: `{' '.join(command)}` failed in the fresh clone: {' | '.join(tail)}")
    return time.perf_counter() - start


# ---------------------------------------------------------------- report

TARGETS = {
    "train_speedup": (">=", 3.0),
    "generate_speedup": (">=", 4.0),
    "generate_agreement": (">=", 0.99),
    "nf4_memory_ratio": ("<=", 0.30),
    "make_repro_s": ("<=", 1800.0),
}


def format_markdown(result: dict[str, Any]) -> str:
    lines = ["| measure | ours | baseline | ratio | target |", "|---|---:|---:|---:|---|"]
    train, gen, mem = result.get("train"), result.get("generate"), result.get("memory")
    if train:
        lines.append(
            f"| train: supervised tokens/s | {train['ours']['supervised_tokens_per_s']:.0f} "
            f"| {train['plain']['supervised_tokens_per_s']:.0f} (Trainer+peft, pad to max_length, batch 2) "
            f"| {train['train_speedup']:.2f}× | ≥ 3× |"
        )
        ours_mb, plain_mb = train["ours"]["peak_rss_mb"], train["plain"]["peak_rss_mb"]
        lines.append(f"| train: peak memory (MB) | {ours_mb:.0f} | {plain_mb:.0f} | | |")
    if gen:
        lines.append(
            f"| generate: samples/s | {gen['batched_samples_per_s']:.1f} (batch {gen['batch_size']}) "
            f"| {gen['batch1_samples_per_s']:.1f} (batch 1) | {gen['generate_speedup']:.2f}× | ≥ 4× |"
        )
        lines.append(f"| generate: identical predictions | {gen['generate_agreement']:.1%} | | | ≥ 99% |")
    if train and gen:
        by_train, by_gen = train["by_kernels"], gen["by_kernels"]
        native, portable = by_train["native"], by_train["portable"]
        lines.append(
            f"| kernels: train supervised tokens/s | {native['supervised_tokens_per_s']:.0f} (native, "
            f"{native['torch_cpu_capability']}) | {portable['supervised_tokens_per_s']:.0f} "
            f"(portable, {portable['torch_cpu_capability']}) | "
            f"{native['supervised_tokens_per_s'] / portable['supervised_tokens_per_s']:.2f}× | |"
        )
        lines.append(
            f"| kernels: generate samples/s | {by_gen['native']['batched_samples_per_s']:.1f} (native, "
            f"{by_gen['native']['bnb_cpu_path']}) | {by_gen['portable']['batched_samples_per_s']:.1f} (portable) | "
            f"{by_gen['native']['batched_samples_per_s'] / by_gen['portable']['batched_samples_per_s']:.2f}× | |"
        )
        lines.append(
            f"| kernels: native predictions identical to portable | {gen['native_agreement_with_portable']:.1%} | | | |"
        )
    if mem:
        lines.append(
            f"| weights, {mem['parameters'] / 1e6:.0f}M-parameter Qwen2 (MB) | {mem['nf4_mb']:.1f} (NF4+DQ) "
            f"| {mem['bf16_mb']:.1f} (bf16) | {mem['nf4_memory_ratio']:.3f} "
            f"(linear layers {mem['nf4_linear_layers_ratio']:.3f}) | ≤ 0.30 |"
        )
        if mem.get("adapter_mb") is not None:
            lines.append(f"| adapter size (MB) | {mem['adapter_mb']:.2f} | | | |")
    if result.get("pipeline"):
        p = result["pipeline"]
        lines.append(
            f"| pipeline: `make repro` on a fresh clone, install included (s) | {p['make_repro_s']:.0f} | | | ≤ 1800 |"
        )
        lines.append(f"| pipeline: no-op `dvc repro` (s) | {p['repro_noop_s']:.1f} | | | |")
        lines += [
            "",
            "Where a fresh clone's `make repro` spends its time:",
            "",
            "| part | seconds | share |",
            "|---|---:|---:|",
        ]
        for name, value in p["stages_s"].items():
            what = "`make setup` (virtualenv, install)" if name == "setup" else f"stage `{name}`"
            lines.append(f"| {what} | {value:.0f} | {value / p['make_repro_s']:.0%} |")
        lines.append(f"| total | {p['make_repro_s']:.0f} | |")
    return "\n".join(lines) + "\n"


def run_bench(
    params: Params,
    size: str,
    pipeline: bool,
    repo: Path,
    clone: Path | None = None,
    on_pipeline: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The measurements, in one sitting. With `pipeline`, a fresh clone's `make repro` is timed first and the
    rest is measured on what it built (kept at `clone` when given, e.g. to commit its `dvc.lock`);
    `on_pipeline` gets those timings as soon as they are known (a later failure does not lose 20 minutes)."""
    spec = SIZES[size]
    timings = None
    with tempfile.TemporaryDirectory() as tmp:
        where = repo
        if pipeline:
            where = clone or Path(tmp) / "clone"
            timings = bench_pipeline(repo, where)
            print(f"pipeline: make repro {timings['make_repro_s']} s on a fresh clone: {timings['stages_s']}")
            if on_pipeline is not None:
                on_pipeline({"pipeline": timings})
        with working_directory(where):
            result = bench_models(params, spec)
    if timings is not None:
        result["pipeline"] = timings
    return result


@contextmanager
def working_directory(path: Path):
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def bench_models(params: Params, spec: dict[str, Any]) -> dict[str, Any]:
    """Training, generation and memory, on the pipeline's outputs in the working directory."""
    for needed in (Path(params.paths.processed) / "train.jsonl", Path(params.paths.adapter) / "adapter_config.json"):
        if not needed.exists():
            raise ShelltuneError(f"{needed}: not found; run the pipeline first (dvc repro)")
    train = bench_train(copy.deepcopy(params), spec["warmup_steps"], spec["steps"])
    print(
        f"train: ours {train['ours']['supervised_tokens_per_s']:.0f} vs plain "
        f"{train['plain']['supervised_tokens_per_s']:.0f} supervised tokens/s ({train['train_speedup']}×)"
    )
    gen = bench_generate_profiles(params, spec["prompts"])
    print(f"generate: {gen['generate_speedup']}× faster than batch 1, {gen['generate_agreement']:.1%} identical")
    mem = run_isolated(bench_memory, params, spec["memory_model"], cpu_kernels=params.runtime.cpu_kernels)
    print(f"memory: NF4 {mem['nf4_memory_ratio']:.3f}× of bf16")
    return {
        "size": spec["name"],
        "train": train,
        "generate": gen,
        "memory": mem,
        "train_speedup": train["train_speedup"],
        "generate_speedup": gen["generate_speedup"],
        "generate_agreement": gen["generate_agreement"],
        "nf4_memory_ratio": mem["nf4_memory_ratio"],
        "machine": {
            "host": platform.node(),
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count(),
            "isa_flags": sorted(f for f in ISA_FLAGS if f in cpu_flags()),
            "python": platform.python_version(),
        },
    }
