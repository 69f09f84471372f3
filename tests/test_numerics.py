"""The CPU kernel profile and bitsandbytes' CPU path: chosen by params, applied in every stage process,
never training on repacked weights, and recorded with each run."""

from __future__ import annotations

import contextlib
import json
import platform

import pytest
import torch

from shelltune.basemodel import read_base_info
from shelltune.config import RuntimeParams, parse_params
from shelltune.models import load_quantized_model
from shelltune.numerics import (
    CUDA_DETERMINISM_ENV,
    PORTABLE_X86_ENV,
    bnb_cpu_path,
    has_avx2,
    kernel_environment,
    linear4bit_layers,
)
from shelltune.stages.base import run as build_base
from shelltune.training.trainer import prepare_peft_model, resolve_train_placement

from conftest import ROOT, run_module, tiny_raw, write_params

X86_WITH_AVX2 = platform.machine() in ("x86_64", "AMD64") and has_avx2()


# ---------------------------------------------------------------- the profile (pure)


def test_portable_pins_the_avx2_kernels_on_x86_only():
    assert kernel_environment("portable", False, "x86_64", avx2=True) == PORTABLE_X86_ENV
    assert kernel_environment("portable", False, "aarch64", avx2=False) == {}, "one kernel family per ARM build"
    assert kernel_environment("portable", False, "x86_64", avx2=False) == {}, "ATen would run AVX2 code anyway"
    assert kernel_environment("native", False, "x86_64", avx2=True) == {}
    assert kernel_environment("native", True, "x86_64", avx2=True) == CUDA_DETERMINISM_ENV


# ---------------------------------------------------------------- bitsandbytes' CPU inference layout


@pytest.fixture
def tiny_base(tmp_path, repo_params_raw):
    params = parse_params(tiny_raw(repo_params_raw, tmp_path))
    build_base(params)
    return params, read_base_info(params.paths.base), resolve_train_placement(params.train, params.quant, False)


@pytest.fixture
def cpu_with_avx512bf16(monkeypatch):
    """bitsandbytes as it behaves on an AMD Zen 4+ / Intel Sapphire Rapids+ CPU, whatever this one is:
    every Linear4bit created from here on is allowed to repack itself for CPU inference."""
    import bitsandbytes.nn.modules as bnb_modules

    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: True)


def eval_then_train_step(model, batch) -> None:
    model.eval()
    with torch.no_grad():
        model(**batch)
    model.train()
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()


def test_a_model_that_trains_never_takes_the_packed_layout(tiny_base, cpu_with_avx512bf16):
    """eval → train step → eval → train step on the real 4-bit tiny model (the order the train stage
    runs: evaluation before step 0, then every eval_steps)."""
    params, base, runtime = tiny_base
    model = prepare_peft_model(load_quantized_model(base, params, runtime, training=True), params)
    layers = linear4bit_layers(model)
    assert layers and not any(layer.support_avx512bf16_for_cpu for layer in layers)
    batch = {"input_ids": torch.tensor([[5, 6, 7, 8, 9, 10]]), "attention_mask": torch.ones(1, 6, dtype=torch.long)}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(2):
        eval_then_train_step(model, batch)
        optimizer.step()
        optimizer.zero_grad()
    assert not any(getattr(layer.weight.quant_state, "packing_format_for_cpu", False) for layer in layers)
    assert bnb_cpu_path(model) == "dequantize + fp32 matmul"


def test_left_to_bitsandbytes_the_same_model_repacks_on_its_first_eval(tiny_base, cpu_with_avx512bf16):
    """The control for the test above: without the train stage's choice, one no-grad eval forward
    converts the weights for good, which is what made training fail on AVX512-BF16 CPUs."""
    params, base, runtime = tiny_base
    inference_params = params.model_copy(update={"runtime": RuntimeParams(cpu_kernels="native", deterministic=True)})
    model = load_quantized_model(base, inference_params, runtime, training=False)
    assert bnb_cpu_path(model).startswith("packed")
    model.eval()
    # Without an AVX512-BF16 kernel the packed matmul itself may fail; the repacking happened first.
    with torch.no_grad(), contextlib.suppress(RuntimeError):
        model(input_ids=torch.tensor([[5, 6, 7]]))
    assert all(layer.weight.quant_state.packing_format_for_cpu for layer in linear4bit_layers(model))


def test_portable_inference_keeps_the_dequantize_path(tiny_base, cpu_with_avx512bf16):
    params, base, runtime = tiny_base
    model = load_quantized_model(base, params, runtime, training=False)
    assert params.runtime.cpu_kernels == "portable" and bnb_cpu_path(model) == "dequantize + fp32 matmul"


# ---------------------------------------------------------------- the profile reaches the stage process


@pytest.mark.slow
@pytest.mark.parametrize("cpu_kernels", ["portable", "native"])
def test_the_train_stage_applies_the_profile_and_records_what_ran(tmp_path, repo_params_raw, cpu_kernels):
    """`python -m shelltune.train` started without any kernel variable (as DVC or a queue worker would on a
    fresh shell) sets them itself before torch loads, and records the CPU, its ISA and the kernels used."""
    raw = tiny_raw(repo_params_raw, tmp_path)
    raw["runtime"]["cpu_kernels"] = cpu_kernels
    raw["train"].update(max_steps=2, eval_steps=1, save_steps=2)
    build_base(parse_params(raw))
    result = run_module(
        "shelltune.stages.train", "--params", str(write_params(tmp_path / "params.yaml", raw)), cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    numerics = json.loads((tmp_path / "reports" / "runtime" / "train.json").read_text())["numerics"]
    assert numerics["cpu_kernels"] == cpu_kernels and numerics["cpu_model"] and numerics["machine"]
    assert numerics["bnb_cpu_path"] == "dequantize + fp32 matmul", "training never packs, in either profile"
    if cpu_kernels == "portable" and X86_WITH_AVX2:
        assert numerics["torch_cpu_capability"] == "AVX2"
        assert numerics["kernel_env"] == {**PORTABLE_X86_ENV, **CUDA_DETERMINISM_ENV}
    if cpu_kernels == "native":
        assert all(numerics["kernel_env"][key] is None for key in PORTABLE_X86_ENV)
    provenance = json.loads((tmp_path / "adapter" / "provenance.json").read_text())
    assert provenance["params"]["runtime"]["cpu_kernels"] == cpu_kernels
    assert "cpu_model" not in json.dumps(provenance), "machine facts stay out of the hashed adapter"
