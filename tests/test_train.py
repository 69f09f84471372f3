"""The train stage: real 4-bit QLoRA on a tiny model, label masking, logging, provenance and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from shelltune.basemodel import read_base_info
from shelltune.chat import to_prompt_completion
from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.models import load_quantized_model, load_tokenizer
from shelltune.stages.base import run as build_base
from shelltune.training.checkpoints import find_resume_checkpoint, is_complete_checkpoint
from shelltune.training.data import apply_overlong_policy
from shelltune.training.trainer import (
    build_sft_config,
    prepare_peft_model,
    resolve_train_placement,
    restore_trainable_dtype,
)

from conftest import ROOT, child_env, pairs, tiny_raw, tiny_trained


@pytest.fixture(scope="module")
def trained(tmp_path_factory, repo_params_raw):
    root = tmp_path_factory.mktemp("train")
    _, params, provenance = tiny_trained(repo_params_raw, root)
    return root, params, provenance


def read_tsv_steps(path: Path) -> list[int]:
    return [int(line.split("\t")[0]) for line in path.read_text().splitlines()[1:]]


# ---------------------------------------------------------------- pure parts


def test_runtime_auto_choices():
    params = parse_params(yaml.safe_load((ROOT / "params.yaml").read_text()))
    cpu = resolve_train_placement(params.train, params.quant, cuda_available=False)
    assert (cpu.device, cpu.compute_dtype, cpu.optimizer) == ("cpu", "float32", "adamw_torch")
    gpu = resolve_train_placement(params.train, params.quant, cuda_available=True, bf16_supported=True)
    assert (gpu.device, gpu.compute_dtype, gpu.optimizer) == ("cuda", "bfloat16", "paged_adamw_8bit")
    wants_cuda = params.train.model_copy(update={"device": "cuda"})
    with pytest.raises(ShelltuneError, match="no CUDA device"):
        resolve_train_placement(wants_cuda, params.quant, cuda_available=False)
    paged = params.train.model_copy(update={"optimizer": "paged_adamw_8bit"})
    with pytest.raises(ShelltuneError, match="needs CUDA"):
        resolve_train_placement(paged, params.quant, cuda_available=False)


def test_overlong_policies():
    examples = [{"n": i} for i in range(4)]
    lengths = [10, 70, 20, 90]
    assert apply_overlong_policy(examples, lengths, 64, "drop", "train") == ([{"n": 0}, {"n": 2}], 2)
    assert apply_overlong_policy(examples, lengths, 64, "truncate", "train") == (examples, 2)
    with pytest.raises(
        ShelltuneError, match=r"2 train example\(s\) exceed train.max_length=64 tokens \(the first is row 2, 70"
    ):
        apply_overlong_policy(examples, lengths, 64, "error", "train")


# ---------------------------------------------------------------- the model and the trainer


def build_setup(root: Path, repo_params_raw, architecture: str):
    raw = tiny_raw(repo_params_raw, root)
    raw["model"]["tiny"]["architecture"] = architecture
    params = parse_params(raw)
    build_base(params)
    base = read_base_info(params.paths.base)
    runtime = resolve_train_placement(params.train, params.quant, cuda_available=False)
    return params, base, runtime, root


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, repo_params_raw):
    return build_setup(tmp_path_factory.mktemp("setup"), repo_params_raw, "qwen2")


@pytest.fixture(scope="module")
def llama_setup(tmp_path_factory, repo_params_raw):
    """The tiny Llama: Llama 3's template, eos_token <|end_of_text|> but turns ended by <|eot_id|>."""
    return build_setup(tmp_path_factory.mktemp("llama_setup"), repo_params_raw, "llama")


def make_trainer(params, base, runtime, root, rows):
    from datasets import Dataset
    from trl import SFTTrainer

    tokenizer = load_tokenizer(base, params)
    model = prepare_peft_model(load_quantized_model(base, params, runtime, training=True), params)
    examples = [to_prompt_completion(params.prompt.system, r) for r in rows]
    args = build_sft_config(params, runtime, root / "trainer_ck", has_eval=False)
    args.save_strategy = "no"
    return SFTTrainer(model=model, processing_class=tokenizer, args=args, train_dataset=Dataset.from_list(examples))


def test_base_is_4bit_nf4(tiny_setup):
    import bitsandbytes as bnb

    params, base, runtime, _ = tiny_setup
    model = load_quantized_model(base, params, runtime, training=True)
    q_proj = model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, bnb.nn.Linear4bit)
    assert q_proj.weight.quant_type == "nf4" and q_proj.weight.quant_state.nested  # double quantization
    assert q_proj.weight.dtype == torch.uint8


# What each format writes after the answer: its end-of-turn token, and in ChatML the newline that
# separates turns (part of the template's turn, so part of the completion TRL supervises).
TURN_ENDS = {"tiny_setup": "<|im_end|>\n", "llama_setup": "<|eot_id|>"}
PROMPT_SHAPES = {
    "tiny_setup": ("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n", "<|im_start|>assistant\n"),
    "llama_setup": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
}


@pytest.mark.parametrize("setup", ["tiny_setup", "llama_setup"])
def test_label_mask_covers_exactly_the_command_and_the_end_of_turn(setup, request):
    from shelltune.chat import assistant_turn_end, end_of_turn_ids

    params, base, runtime, root = request.getfixturevalue(setup)
    trainer = make_trainer(params, base, runtime, root, pairs(8))
    batch = trainer.data_collator([trainer.train_dataset[3]])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    supervised = ids[labels != -100]
    assert torch.equal(labels[labels != -100], supervised)
    tokenizer = trainer.processing_class
    # Token for token: the command, then the template's end of turn (its first token the end-of-turn token).
    expected = tokenizer("head -n 3 notes3.txt" + TURN_ENDS[setup], add_special_tokens=False)["input_ids"]
    assert supervised.tolist() == expected
    assert assistant_turn_end(tokenizer) == TURN_ENDS[setup]
    end = len(tokenizer("head -n 3 notes3.txt", add_special_tokens=False)["input_ids"])
    assert supervised.tolist()[end : end + 1] == end_of_turn_ids(tokenizer)
    prompt = tokenizer.decode(ids[labels == -100])
    start, generation_prompt = PROMPT_SHAPES[setup]
    assert prompt.startswith(start.format(system=params.prompt.system))
    assert prompt.endswith(generation_prompt)
    assert prompt.count(tokenizer.bos_token or "<no bos>") == (1 if setup == "llama_setup" else 0)


@pytest.mark.parametrize("setup", ["tiny_setup", "llama_setup"])
def test_shared_prefix_gives_the_same_loss_and_gradients(setup, request):
    """train.share_prefix: the system prompt's tokens run once per batch, and the loss and every LoRA gradient
    are what running each row in full gives (up to the order of float additions)."""
    from shelltune.training.prefix import SharedPrefixMixin, shared_prefix_length
    from shelltune.training.sampler import trainer_class

    params, base, runtime, root = request.getfixturevalue(setup)
    trainer = make_trainer(params, base, runtime, root, pairs(12))
    restore_trainable_dtype(trainer.model, runtime.compute_dtype)  # as the train stage does before training
    trainer.model.eval()  # no LoRA dropout: both passes see the same function
    torch.manual_seed(0)
    for name, param in trainer.model.named_parameters():
        if "lora_B" in name:  # as after some training: every LoRA matrix then has a gradient
            param.data.normal_(0, 0.02)
    rows = [trainer.train_dataset[i] for i in range(12)]
    batch = trainer.data_collator(rows)
    shared = shared_prefix_length(batch)
    tokenizer = trainer.processing_class
    system_end = tokenizer.decode(batch["input_ids"][0, :shared])
    assert params.prompt.system in system_end and "notes" not in system_end  # the system prompt, no row's own text
    results = []
    for cls in (type(trainer), trainer_class(0, share_prefix=True)):
        trainer.__class__ = cls
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
        results.append((loss.detach(), grads))
    assert issubclass(trainer_class(4, share_prefix=True), SharedPrefixMixin)
    (plain, plain_grads), (cached, cached_grads) = results
    torch.testing.assert_close(cached, plain, rtol=1e-5, atol=1e-6)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_lora_weights_move_and_base_weights_do_not(tiny_setup):
    params, base, runtime, root = tiny_setup
    trainer = make_trainer(params, base, runtime, root, pairs(64))
    model = trainer.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    frozen = set(before) - trainable
    # Trainable: the LoRA matrices and the full copies of modules_to_save (embed_tokens, lm_head).
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("original_module" in n for n in frozen) and any("base_layer" in n for n in frozen)
    trainer.train()
    after = dict(model.named_parameters())
    assert all(not torch.equal(before[n], after[n]) for n in trainable if "lora_B" in n or "modules_to_save" in n)
    for name in frozen:
        assert torch.equal(before[name], after[name]), f"{name} changed"
    # The 4-bit packed weights themselves are untouched too.
    q_proj = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer
    assert q_proj.weight.dtype == torch.uint8


# ---------------------------------------------------------------- the stage end to end


def test_adapter_reloads_and_generates(trained):
    from peft import PeftModel

    root, params, provenance = trained
    adapter = root / "adapter"
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "chat_template.jinja",
        "provenance.json",
    } <= {p.name for p in adapter.iterdir()}
    base = read_base_info(params.paths.base)
    runtime = resolve_train_placement(params.train, params.quant, cuda_available=False)
    model = PeftModel.from_pretrained(load_quantized_model(base, params, runtime, training=True), str(adapter))
    tokenizer = load_tokenizer(base, params)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "list files"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_trainable_weights_stay_float32_on_cpu(tiny_setup, trained):
    """TRL casts a quantized model's trainable tensors to bfloat16; with float32 compute the train stage
    casts them back (1.8x the tokens/s on CPU), so the saved adapter is float32 throughout."""
    from safetensors import safe_open

    from shelltune.training.trainer import restore_trainable_dtype

    params, base, runtime, root = tiny_setup
    trainer = make_trainer(params, base, runtime, root, pairs(8))
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    assert {p.dtype for p in trainable} == {torch.bfloat16}  # what TRL 1.x leaves behind
    assert restore_trainable_dtype(trainer.model, "float32") == len(trainable)
    assert {p.dtype for p in trainable} == {torch.float32}
    assert restore_trainable_dtype(trainer.model, "bfloat16") == 0  # GPUs keep the QLoRA recipe

    adapter_root, _, _ = trained
    with safe_open(str(adapter_root / "adapter" / "adapter_model.safetensors"), "pt") as saved:
        dtypes = {saved.get_slice(name).get_dtype() for name in saved.keys()}  # noqa: SIM118 (safe_open is no dict)
    assert dtypes == {"F32"}


def test_length_window_feeds_the_trainer_length_sorted_windows(tiny_setup):
    from datasets import Dataset

    from shelltune.training.sampler import WindowedLengthSampler, trainer_class

    params, base, runtime, root = tiny_setup
    tokenizer = load_tokenizer(base, params)
    model = prepare_peft_model(load_quantized_model(base, params, runtime, training=True), params)
    examples = [to_prompt_completion(params.prompt.system, r) for r in pairs(64)]
    args = build_sft_config(params, runtime, root / "window_ck", has_eval=False)
    trainer = trainer_class(2)(
        model=model, processing_class=tokenizer, args=args, train_dataset=Dataset.from_list(examples)
    )
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, WindowedLengthSampler) and sampler.window == 2
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    order = list(sampler)
    span = params.train.batch_size * 2
    for start in range(0, len(order), span):
        window = [lengths[i] for i in order[start : start + span]]
        assert window == sorted(window, reverse=True)
    first_batch = next(iter(trainer.get_train_dataloader()))
    assert first_batch["input_ids"].shape[0] == params.train.batch_size


def test_provenance_records_what_made_the_adapter(trained):
    root, params, provenance = trained
    saved = json.loads((root / "adapter" / "provenance.json").read_text())
    assert saved == provenance
    assert saved["base"]["kind"] == "tiny" and len(saved["dataset"]["train_sha256"]) == 64
    assert saved["params"]["lora"]["r"] == params.lora.r and saved["params"]["seed"] == params.seed
    assert saved["libraries"]["bitsandbytes"] and saved["libraries"]["trl"]
    assert saved["results"]["global_step"] == 8 and saved["results"]["final_eval_loss"] is not None
    runtime = json.loads((root / "reports" / "runtime" / "train.json").read_text())
    assert {"git_commit", "wall_s", "peak_memory_mb"} <= set(runtime)
    assert not (root / "ck").exists(), "checkpoints are removed after success unless keep_checkpoints"


def test_dvclive_steps_follow_the_global_step(trained):
    root, params, _ = trained
    plots = root / "reports" / "train" / "plots" / "metrics"
    assert read_tsv_steps(plots / "train" / "loss.tsv") == [1, 2, 4, 6, 8]
    assert read_tsv_steps(plots / "eval" / "loss.tsv") == [0, 4, 8]  # before training, then every eval_steps
    assert read_tsv_steps(plots / "train" / "learning_rate.tsv") == [1, 2, 4, 6, 8]
    summary = json.loads((root / "reports" / "train" / "metrics.json").read_text())
    assert summary["step"] == 8 and "loss" in summary["eval"]
    assert (root / "reports" / "runtime" / "train" / "plots" / "metrics" / "train" / "tokens_per_s.tsv").exists()
    assert not (root / "reports" / "train" / "dvc.yaml").exists()


def test_partial_checkpoints_are_ignored(tmp_path):
    ck = tmp_path / "ck"
    good, partial = ck / "checkpoint-4", ck / "checkpoint-8"
    for path in (good, partial):
        path.mkdir(parents=True)
        for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt"):
            (path / name).write_bytes(b"x")
    (good / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    (partial / "trainer_state.json").write_text('{"global_st')  # killed while writing
    (ck / "run_fingerprint.json").write_text(json.dumps({"fingerprint": "abc"}))
    assert is_complete_checkpoint(good) and not is_complete_checkpoint(partial)
    assert find_resume_checkpoint(ck, "abc") == good
    assert not partial.exists()
    assert find_resume_checkpoint(ck, "other-run") is None and not ck.exists()


@pytest.mark.slow
def test_resume_after_kill_9_reproduces_the_uninterrupted_run(tmp_path, repo_params_raw):
    """kill -9 mid-training, run again: it resumes from the newest complete checkpoint and ends with the
    adapter directory and logs an uninterrupted run writes, byte for byte (so dvc.lock holds either way)."""

    base = tmp_path / "base"  # one base for both runs, so the two adapters can be compared whole

    def prepare(root: Path) -> list[str]:
        raw = tiny_raw(repo_params_raw, root, n_rows=400)
        raw["train"].update(max_steps=40, save_steps=2, eval_steps=10, logging_steps=2)
        raw["paths"]["base"] = str(base)
        params_file = root / "params.yaml"
        params_file.write_text(yaml.safe_dump(raw))
        if not base.exists():
            build_base(parse_params(raw))
        return [sys.executable, "-m", "shelltune.stages.train", "--params", str(params_file)]

    env = {**child_env(), "PYTHONUNBUFFERED": "1"}
    whole = prepare(tmp_path / "whole")
    assert subprocess.run(whole, cwd=ROOT, env=env, capture_output=True, timeout=600).returncode == 0
    tmp_path = tmp_path / "killed"
    cmd = prepare(tmp_path)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300

    # Any complete checkpoint from step 6 on (older ones are rotated away: save_total_limit keeps two).
    def resumable() -> bool:
        return any(
            int(c.name.split("-")[1]) >= 6 and is_complete_checkpoint(c) for c in (tmp_path / "ck").glob("checkpoint-*")
        )

    while time.time() < deadline and not resumable():
        time.sleep(0.02)
        assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "adapter").exists(), "no adapter from a killed run"
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming from" in result.stdout
    provenance = json.loads((tmp_path / "adapter" / "provenance.json").read_text())
    assert provenance["results"]["global_step"] == 40
    steps = read_tsv_steps(tmp_path / "reports" / "train" / "plots" / "metrics" / "train" / "loss.tsv")
    assert steps == [1, *range(2, 41, 2)], "the resumed run's curve is complete (replayed from the checkpoint)"
    eval_steps = read_tsv_steps(tmp_path / "reports" / "train" / "plots" / "metrics" / "eval" / "loss.tsv")
    assert eval_steps == [0, 10, 20, 30, 40], "no extra evaluation at the step the run resumed from"
    for tree in ("adapter", "reports/train"):
        ours, theirs = tmp_path / tree, tmp_path.parent / "whole" / tree
        files = sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
        differ = [f for f in files if (ours / f).read_bytes() != (theirs / f).read_bytes()]
        assert differ == [], f"resumed and uninterrupted runs differ in {tree}: {differ}"


def test_saved_configs_do_not_depend_on_hash_seed_or_environment(trained):
    root, _, _ = trained
    config = json.loads((root / "adapter" / "adapter_config.json").read_text())
    assert config["target_modules"] == sorted(config["target_modules"]) and len(config["target_modules"]) == 7
    assert "local_files_only" not in json.loads((root / "adapter" / "tokenizer_config.json").read_text())


def test_code_hash_covers_every_module_the_train_stage_declares():
    """The resume fingerprint and provenance hash exactly the code files dvc.yaml says training depends on."""
    from shelltune.codedeps import code_files, relative
    from shelltune.training.provenance import TRAIN_MODULE

    train_deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["deps"]
    declared = {d for d in train_deps if d.startswith("src/shelltune/")}
    assert set(relative(code_files(TRAIN_MODULE), ROOT)) == declared
