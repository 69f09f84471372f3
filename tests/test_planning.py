"""GPU planning: the compute dtype a GPU gets, and the memory estimate checked part by part against the real
components on CPU (bitsandbytes' 4-bit layers and optimizers, the tensors autograd saves) and as a whole
against the QLoRA paper's published set-ups. No GPU here: the CUDA queries themselves are not exercised."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
import yaml

from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.models import build_quant_config
from shelltune.planning import (
    KNOWN_ARCHITECTURES,
    LINEAR_LAYERS,
    Architecture,
    GiB,
    GpuMemory,
    RunShape,
    architecture_from_config,
    check_fits,
    estimate_memory,
    layer_activation_bytes,
    optimizer_bytes,
    preflight,
    quantized_weight_bytes,
    residual_bytes,
    run_shape,
    shared_activation_bytes,
)
from shelltune.profiles import apply_overrides, load_profile
from shelltune.training.trainer import restore_trainable_dtype

from conftest import ROOT, TINY_QWEN, run_module, save_random_model, tiny_raw


def profile_params(repo_params_raw, name):
    return parse_params(apply_overrides(repo_params_raw, load_profile(str(ROOT / "profiles" / f"{name}.yaml")), name))


# ---------------------------------------------------------------- the weights, against bitsandbytes


def quant_state_bytes(model) -> int:
    """Bytes of every tensor in the Linear4bit quantization states (absmax, codes, nested state, offset)."""
    tensors = {}
    for module in model.modules():
        stack = [getattr(getattr(module, "weight", None), "quant_state", None)]
        while stack:
            state = stack.pop()
            if state is None:
                continue
            for t in (state.absmax, state.code, getattr(state, "offset", None)):
                if isinstance(t, torch.Tensor):
                    tensors[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            stack.append(getattr(state, "state2", None))
    return sum(tensors.values())


def weight_measurements(config: dict, directory: Path) -> dict[str, int]:
    """A random model of `config` saved in bf16 and loaded in NF4 + double quantization on CPU, as
    `get_memory_footprint` (parameters and buffers) and the quantization states report it."""
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from shelltune.config import QuantParams

    quant = QuantParams(
        load_in_4bit=True, quant_type="nf4", double_quant=True, compute_dtype="bfloat16", quant_storage="uint8"
    )
    model = AutoModelForCausalLM.from_pretrained(
        save_random_model(config, directory, torch.bfloat16),
        dtype=torch.bfloat16,
        quantization_config=build_quant_config(quant, "bfloat16"),
        device_map="cpu",
    )
    buffers = sum(b.nelement() * b.element_size() for b in model.buffers())  # rotary tables, not weights
    loaded = model.get_memory_footprint() - buffers
    constants = quant_state_bytes(model)
    prepared = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return {"loaded": loaded, "constants": constants, "prepared": prepared.get_memory_footprint() - buffers}


# Agreement required between the estimate and bitsandbytes: 0.5% (measured: exact to the byte).
WEIGHT_TOLERANCE = 0.005


def assert_weights_agree(config: dict, directory: Path) -> None:
    arch = architecture_from_config(config, "test")
    measured = weight_measurements(config, directory)
    packed, constants = quantized_weight_bytes(arch, double_quant=True)
    estimated = {
        "loaded": packed + 2 * arch.unquantized_parameters(),  # loaded in bf16
        "constants": constants,
        "prepared": packed + 4 * arch.unquantized_parameters(),  # upcast to fp32 by peft
    }
    for key, value in estimated.items():
        assert value == pytest.approx(measured[key], rel=WEIGHT_TOLERANCE), (key, value, measured[key])


def test_weight_estimate_matches_bitsandbytes_on_the_tiny_model(repo_params_raw, tmp_path):
    tiny = parse_params(repo_params_raw).model.tiny
    assert_weights_agree(
        {
            "model_type": "qwen2",
            "vocab_size": tiny.vocab_size,
            "hidden_size": tiny.hidden_size,
            "intermediate_size": tiny.intermediate_size,
            "num_hidden_layers": tiny.num_hidden_layers,
            "num_attention_heads": tiny.num_attention_heads,
            "num_key_value_heads": tiny.num_key_value_heads,
            "tie_word_embeddings": tiny.tie_word_embeddings,
        },
        tmp_path,
    )


@pytest.mark.slow
def test_weight_estimate_matches_bitsandbytes_on_a_246m_parameter_model(tmp_path):
    """A random Qwen2 of 246M parameters (16 layers, hidden 1024, GQA 16/4, vocabulary 32000): ~30 s."""
    config = {
        "model_type": "qwen2",
        "vocab_size": 32000,
        "hidden_size": 1024,
        "intermediate_size": 2816,
        "num_hidden_layers": 16,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "tie_word_embeddings": False,
    }
    assert architecture_from_config(config, "test").parameters() == 245_949_440
    assert_weights_agree(config, tmp_path)


# ---------------------------------------------------------------- optimizer states and activations


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("paged_adamw_8bit", torch.bfloat16), ("paged_adamw_32bit", torch.bfloat16), ("adamw_torch", torch.float32)],
)
def test_optimizer_state_estimate_matches_the_optimizers(name, dtype):
    """LoRA-shaped tensors (r=16 on a 896-wide layer, and sizes around bitsandbytes' 8-bit threshold) after one
    step: the state bytes the optimizer allocated. bitsandbytes runs its 8-bit optimizers on CPU (unpaged)."""
    import bitsandbytes as bnb

    sizes = [16 * 896, 896 * 16, 16 * 4864, 4864 * 16, 100, 3000, 5000, 200_000]
    params = [torch.nn.Parameter(torch.randn(n, dtype=dtype)) for n in sizes]
    classes = {
        "paged_adamw_8bit": bnb.optim.PagedAdamW8bit,
        "paged_adamw_32bit": bnb.optim.PagedAdamW32bit,
        "adamw_torch": torch.optim.AdamW,
    }
    optimizer = classes[name](params, lr=1e-3)
    for p in params:
        p.grad = torch.randn_like(p)
    # bitsandbytes warns that paging falls back to plain buffers on CPU
    with pytest.warns(UserWarning, match="Paged optimizers") if name.startswith("paged") else nullcontext():
        optimizer.step()
    state = sum(
        v.nelement() * v.element_size()
        for s in optimizer.state.values()
        for k, v in s.items()
        if isinstance(v, torch.Tensor) and k.startswith(("state", "absmax", "exp_avg"))
    )
    assert optimizer_bytes(sizes, name, dtype.itemsize)[0] == state


def saved_activation_bytes(config: dict, shape: RunShape, directory: Path) -> int:
    """Bytes of the tensors autograd saves in a forward of the 4-bit LoRA model's decoder (all layers and the
    final norm), deduplicated by storage, parameters excluded."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    from shelltune.config import QuantParams

    dtype = getattr(torch, shape.compute_dtype)
    quant = QuantParams(
        load_in_4bit=True, quant_type="nf4", double_quant=True, compute_dtype=shape.compute_dtype, quant_storage="uint8"
    )
    model = AutoModelForCausalLM.from_pretrained(
        save_random_model(config, directory),
        dtype=dtype,
        quantization_config=build_quant_config(quant, shape.compute_dtype),
    )
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    lora = LoraConfig(
        r=shape.lora_r, lora_alpha=16, lora_dropout=shape.lora_dropout, target_modules=list(shape.lora_targets)
    )
    model = get_peft_model(model, lora)
    restore_trainable_dtype(model, shape.compute_dtype)
    if shape.compute_dtype == "bfloat16":  # TRL's cast, kept under bf16 compute
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.to(torch.bfloat16)
    model.train()
    model.enable_input_require_grads()  # as gradient checkpointing does: every layer then saves alike
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    ids = torch.randint(0, config["vocab_size"], (shape.batch_size, shape.seq_len))
    mask = torch.ones_like(ids)
    mask[1, :7] = 0  # a padded row, as in the length-windowed batches
    autocast = torch.autocast("cpu", dtype=dtype, enabled=shape.compute_dtype != "float32")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        model.base_model.model.model(input_ids=ids, attention_mask=mask)
    return sum(saved.values())


@pytest.mark.parametrize(
    ("model_type", "dtype", "dropout", "targets"),
    [
        ("qwen2", "float32", 0.05, LINEAR_LAYERS),  # the CPU run's shape
        ("llama", "bfloat16", 0.0, LINEAR_LAYERS),  # the GPU recipe's autocast path
        ("qwen2", "bfloat16", 0.0, ("q_proj", "k_proj", "v_proj", "o_proj")),
        ("llama", "float32", 0.05, ("q_proj", "v_proj")),
    ],
)
def test_activation_estimate_matches_what_autograd_saves(model_type, dtype, dropout, targets, tmp_path):
    """The per-layer derivation in `layer_activation_bytes`, against the tensors the real forward (transformers
    + peft + bitsandbytes on CPU) hands to autograd: within 1%. (On CUDA the dropout mask is 1 byte per
    element instead of the input's dtype: the GPU rows use dropout 0 to follow the same path here.)"""
    config = {**TINY_QWEN, "model_type": model_type, "hidden_size": 256, "intermediate_size": 768}
    config |= {"num_hidden_layers": 3, "num_attention_heads": 8, "num_key_value_heads": 2}
    shape = RunShape("cpu", dtype, "adamw_torch", 2, 48, False, 8, targets, dropout, (), True, True, True)
    arch = architecture_from_config(config, "test")
    tokens = shape.batch_size * shape.seq_len
    final_norm = residual_bytes(shape) * tokens * arch.hidden_size
    estimated = arch.num_hidden_layers * layer_activation_bytes(arch, shape) * tokens + final_norm
    estimated += shared_activation_bytes(arch, shape)
    assert estimated == pytest.approx(saved_activation_bytes(config, shape, tmp_path), rel=0.01)


# ---------------------------------------------------------------- the models and published figures


@pytest.mark.parametrize(
    ("name", "published"),
    [
        # exact counts as public reports give them; the Qwen card says 0.49B and 7.61B
        ("Qwen/Qwen2.5-Coder-0.5B-Instruct", 494_032_768),
        ("Qwen/Qwen2.5-Coder-7B-Instruct", 7_615_616_512),
        # the model cards' rounded figures: 1.54B (1.31B non-embedding), 1.23B
        ("Qwen/Qwen2.5-Coder-1.5B-Instruct", 1.54e9),
        ("meta-llama/Llama-3.2-1B-Instruct", 1.23e9),
    ],
)
def test_the_built_in_shapes_give_the_published_parameter_counts(name, published):
    count = KNOWN_ARCHITECTURES[name].parameters()
    assert count == published if isinstance(published, int) else count == pytest.approx(published, rel=0.01)


def llama1(h: int, intermediate: int, layers: int, heads: int) -> Architecture:
    return Architecture("llama", 32000, h, intermediate, layers, heads, heads, h // heads, False, False, False)


def guanaco_recipe(arch: Architecture) -> RunShape:
    """artidoro/qlora scripts/finetune_guanaco_{33,65}b.sh: batch 4, 16 + 512 tokens, LoRA r=64 on all linear
    layers, dropout 0.05, gradient checkpointing, bf16, paged 32-bit AdamW (qlora.py's default); qlora.py keeps
    the embeddings and head in bf16 rather than fp32."""
    return RunShape(
        "cuda", "bfloat16", "paged_adamw_32bit", 4, 528, True, 64, LINEAR_LAYERS, 0.05, (), True, True, False
    )


@pytest.mark.parametrize(
    ("arch", "gpu_gib"),
    [
        (llama1(8192, 22016, 80, 64), 48),  # "finetune a 65B parameter model on a single 48GB GPU" (abstract)
        (llama1(6656, 17920, 60, 52), 24),  # Guanaco 33B on "a single 24 GB consumer GPU"
    ],
)
def test_the_qlora_papers_set_ups_fit_their_gpus(arch, gpu_gib):
    """QLoRA (Dettmers et al., 2023, arXiv:2305.14314) fine-tuned these set-ups on these GPUs: the estimate
    must say they fit (with paged optimizer state allowed to spill, as the paper's paged optimizers do), and
    must not be far below the GPU either (within 10%), or the paper would not have needed such a GPU."""
    estimate = estimate_memory(arch, guanaco_recipe(arch))
    assert estimate.needs_free <= gpu_gib * GiB
    assert estimate.total > 0.9 * gpu_gib * GiB


# ---------------------------------------------------------------- the pre-flight check


def test_a_run_that_cannot_fit_is_refused_with_the_estimate_free_memory_and_what_to_change(repo_params_raw):
    params = profile_params(repo_params_raw, "qwen7b-gpu")
    estimate = estimate_memory(KNOWN_ARCHITECTURES["Qwen/Qwen2.5-Coder-7B-Instruct"], run_shape(params))
    t4 = GpuMemory("Tesla T4", int(9 * GiB), int(15 * GiB), False)
    with pytest.raises(ShelltuneError) as refused:
        check_fits(estimate, t4)
    message = str(refused.value)
    assert "\n" not in message
    assert f"needs about {estimate.needs_free / GiB:.1f} GiB" in message
    assert "Tesla T4 has 9.0 GiB free of 15.0 GiB" in message
    assert "train.batch_size: 2" in message or "train.batch_size: 1" in message
    assert check_fits(estimate, GpuMemory("A100", int(40 * GiB), int(40 * GiB), True)) is None


def test_paged_optimizer_state_may_spill_with_a_warning():
    arch = llama1(8192, 22016, 80, 64)
    estimate = estimate_memory(arch, guanaco_recipe(arch))
    free = estimate.needs_free + int(0.5 * GiB)
    warning = check_fits(estimate, GpuMemory("RTX A6000", free, free, True))
    assert warning and "page to host memory" in warning


def test_suggested_changes_do_fit(repo_params_raw):
    from dataclasses import replace

    from shelltune.planning import suggest_changes

    params = profile_params(repo_params_raw, "qwen7b-gpu")
    arch = KNOWN_ARCHITECTURES["Qwen/Qwen2.5-Coder-7B-Instruct"]
    shape = run_shape(params)  # batch 4 x 1024 tokens, checkpointing on
    assert suggest_changes(arch, replace(shape, gradient_checkpointing=False), int(13 * GiB))[0] == (
        "train.gradient_checkpointing: true"
    )
    two, three = (estimate_memory(arch, replace(shape, batch_size=b)).needs_free for b in (2, 3))
    suggestions = suggest_changes(arch, shape, (two + three) // 2)
    assert suggestions[0] == "train.batch_size: 2 (and train.gradient_accumulation_steps x2)"
    assert suggestions[1].startswith("train.max_length: 512")
    assert estimate_memory(arch, replace(shape, seq_len=512)).needs_free <= (two + three) // 2


def test_preflight_does_nothing_on_cpu(repo_params_raw):
    params = profile_params(repo_params_raw, "qwen7b-gpu")
    assert preflight(params, {"name_or_path": "Qwen/Qwen2.5-Coder-7B-Instruct"}) is None  # no CUDA here


def test_the_train_stage_refuses_before_loading_anything(repo_params_raw, tmp_path, monkeypatch):
    """With a GPU too small for the run, the stage stops at the check: the base directory holds only its
    config (no tokenizer, no weights), so anything loaded first would fail differently. There is no GPU
    here, so the GPU query alone is replaced by the figures of a small one."""
    import shelltune.planning as planning
    from shelltune.stages.train import run as train

    params = parse_params(tiny_raw(repo_params_raw, tmp_path))
    base = Path(params.paths.base)
    base.mkdir(parents=True)
    (base / "base.json").write_text(json.dumps({"kind": "tiny", "name_or_path": str(base), "revision": None}))
    (base / "config.json").write_text(json.dumps(TINY_QWEN))
    monkeypatch.setattr(planning, "visible_gpu", lambda: GpuMemory("a 1 MiB GPU", 2**20, 2**20, True))
    with pytest.raises(ShelltuneError, match=r"needs about .* GiB of GPU memory .* a 1 MiB GPU has 0.0 GiB free"):
        train(params)
    assert not Path(params.paths.checkpoints).exists()


# ---------------------------------------------------------------- shelltune plan


def test_plan_prints_every_part_for_a_profile_offline():
    result = run_module("shelltune", "plan", "qwen7b-gpu", "--json", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    parts = plan["parts"]
    assert list(parts)[:3] == ["4-bit weights", "quantization constants", "embeddings, head, norms"]
    assert sum(p["bytes"] for p in parts.values()) == plan["total_bytes"]
    assert plan["run"]["compute_dtype"] == "bfloat16" and plan["run"]["optimizer"] == "paged_adamw_8bit"
    assert plan["architecture"]["source"].startswith("built-in table")
    assert 8 < plan["total_GiB"] < 24


def test_plan_on_a_t4_computes_in_fp16_and_says_whether_it_fits():
    result = run_module("shelltune", "plan", "qwen7b-gpu", "--gpu-memory", "6", "--gpu-capability", "7.5")
    assert result.returncode == 1, result.stderr  # does not fit: a script can test the exit status
    assert "float16" in result.stdout and "trainable in float32" in result.stdout
    assert "does not fit" in result.stdout and "a GPU with 6 GiB has 6.0 GiB free" in result.stdout
    fits = run_module("shelltune", "plan", "qwen0.5b-gpu", "--gpu-memory", "15", "--gpu-capability", "7.5")
    assert fits.returncode == 0 and "fits a GPU with 15 GiB" in fits.stdout


def test_plan_for_the_default_params_and_a_clear_error_for_an_unknown_model(tmp_path):
    assert run_module("shelltune", "plan").returncode == 0
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["model"].update(name_or_path="someone/unknown-7b", revision="0" * 40)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    result = run_module("shelltune", "plan", "--params", str(tmp_path / "p.yaml"), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: someone/unknown-7b: no config.json in the Hugging Face cache")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_docs_give_each_profile_the_memory_figure_plan_prints(repo_params_raw):
    """docs/gpu.md's profile table holds one memory figure per profile, and it is `shelltune plan PROFILE`'s."""
    import re

    table = {
        name: float(gib)
        for name, gib in re.findall(
            r"^\| `([\w.-]+-gpu)` \|.*\| ([\d.]+) GiB \|$", (ROOT / "docs" / "gpu.md").read_text(), re.M
        )
    }
    assert sorted(table) == sorted(p.stem for p in (ROOT / "profiles").glob("*-gpu.yaml"))
    for name, gib in table.items():
        params = profile_params(repo_params_raw, name)
        estimate = estimate_memory(KNOWN_ARCHITECTURES[params.model.name_or_path], run_shape(params))
        assert round(estimate.total / GiB, 2) == gib, name


def test_the_refusal_the_docs_show_is_the_one_the_check_gives(repo_params_raw):
    params = profile_params(repo_params_raw, "qwen7b-gpu")
    estimate = estimate_memory(KNOWN_ARCHITECTURES[params.model.name_or_path], run_shape(params, "cuda", False))
    with pytest.raises(ShelltuneError) as refused:
        check_fits(estimate, GpuMemory("Tesla T4", int(9 * GiB), int(15 * GiB), False))
    assert f"error: {refused.value}\n" in (ROOT / "docs" / "gpu.md").read_text()
