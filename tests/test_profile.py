"""Profiles: the documented 7B switch validates and becomes `dvc exp run -S` arguments."""

from __future__ import annotations

import pytest

from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.profiles import apply_overrides, load_profile, set_arguments

from conftest import ROOT, run_module


def test_gpu_profile_is_valid_and_pinned(repo_params_raw, monkeypatch):
    monkeypatch.chdir(ROOT)
    overrides = load_profile("qwen7b-gpu")
    params = parse_params(apply_overrides(repo_params_raw, overrides, "qwen7b-gpu"))
    assert params.model.name_or_path == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert params.model.revision and len(params.model.revision) == 40
    assert (params.lora.r, params.lora.alpha, params.lora.target_modules) == (16, 32, "all-linear")
    assert params.quant.quant_type == "nf4" and params.quant.double_quant
    assert (params.quant.compute_dtype, params.train.optimizer, params.train.max_length) == (
        "bfloat16",
        "paged_adamw_8bit",
        1024,
    )
    assert params.train.batch_size * params.train.gradient_accumulation_steps == 8
    assert params.train.lr_scheduler == "cosine" and params.train.warmup_ratio == 0.1
    assert params.runtime.deterministic, "deterministic cuBLAS/cuDNN on the GPU"


def test_profile_cli_prints_set_arguments():
    result = run_module("shelltune", "profile", "qwen7b-gpu")
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[:2] == ["-S", "model.name_or_path=Qwen/Qwen2.5-Coder-7B-Instruct"]
    assert "lora.modules_to_save=[]" in words and "train.learning_rate=0.0002" in words


def test_profile_typos_are_caught(repo_params_raw):
    with pytest.raises(ShelltuneError, match="lora.rank: unknown params key"):
        apply_overrides(repo_params_raw, {"lora.rank": 16}, "p")
    with pytest.raises(ShelltuneError, match="no such params section 'lorra'"):
        apply_overrides(repo_params_raw, {"lorra.r": 16}, "p")


def test_values_are_yaml_for_dvc():
    assert set_arguments({"x.y": True, "x.z": [], "x.w": 0.0002}) == [
        "-S",
        "x.y=true",
        "-S",
        "x.z=[]",
        "-S",
        "x.w=0.0002",
    ]
    with pytest.raises(ShelltuneError, match="values with spaces"):
        set_arguments({"prompt.system": "two words"})
