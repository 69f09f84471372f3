"""Profiles: every GPU profile validates against params.yaml, pins its model to a cited hub commit, and becomes
`dvc exp run -S` arguments."""

from __future__ import annotations

import re

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
    # auto: bfloat16 where the GPU has it, float16 with loss scaling on a T4 or V100 (test_planning.py)
    assert (params.quant.compute_dtype, params.train.optimizer, params.train.max_length) == (
        "auto",
        "paged_adamw_8bit",
        1024,
    )
    assert params.train.batch_size * params.train.gradient_accumulation_steps == 8
    assert params.train.lr_scheduler == "cosine" and params.train.warmup_ratio == 0.1
    assert params.runtime.deterministic, "deterministic cuBLAS/cuDNN on the GPU"


# The small, medium and reference models, and a second family; each pinned to a commit public code pins.
GPU_PROFILES = {
    "qwen0.5b-gpu": ("Qwen/Qwen2.5-Coder-0.5B-Instruct", "bbf27711794f58ebd1796058f4280b53c32e19fc"),
    "qwen1.5b-gpu": ("Qwen/Qwen2.5-Coder-1.5B-Instruct", "2e1fd397ee46e1388853d2af2c993145b0f1098a"),
    "qwen7b-gpu": ("Qwen/Qwen2.5-Coder-7B-Instruct", "c03e6d358207e414f1eca0bb1891e29f1db0e242"),
    "llama1b-gpu": ("meta-llama/Llama-3.2-1B-Instruct", "9213176726f574b556790deb65791e0c5aa438b6"),
}


@pytest.mark.parametrize("name", sorted(GPU_PROFILES))
def test_each_gpu_profile_validates_and_is_pinned_with_its_source(name, repo_params_raw, monkeypatch):
    monkeypatch.chdir(ROOT)
    overrides = load_profile(name)
    params = parse_params(apply_overrides(repo_params_raw, overrides, name), source=name)
    assert (params.model.name_or_path, params.model.revision) == GPU_PROFILES[name]
    assert re.fullmatch(r"[0-9a-f]{40}", params.model.revision)
    text = (ROOT / "profiles" / f"{name}.yaml").read_text()
    # where the revision was taken from: a public repository, a file in it and the commit of that file
    assert re.search(r"^#   [\w.-]+/[\w.-]+, [\w./-]+ \(commit [0-9a-f]{8}\)", text, re.M), "no cited source"
    assert params.train.device == "cuda" and params.quant.compute_dtype == "auto"
    assert params.quant.load_in_4bit and params.quant.double_quant and params.lora.modules_to_save == []


def test_the_profiles_differ_only_in_the_model(monkeypatch):
    """One recipe for every size, so their runs compare models, not settings."""
    monkeypatch.chdir(ROOT)
    recipes = [{k: v for k, v in load_profile(n).items() if not k.startswith("model.")} for n in GPU_PROFILES]
    assert all(r == recipes[0] for r in recipes)
    assert sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")) == sorted([*GPU_PROFILES, "smoke"])


def test_the_gpu_profiles_mix_in_a_pinned_human_written_dataset(repo_params_raw, monkeypatch):
    """A strong model trained on the embedded templates alone learns the templates: every GPU profile mixes
    in NL2SH-ALFA (MIT), pinned to a commit, its fields mapped, and credits it on the model card; the
    default's training-only supplement stays (its refusals matter on any base)."""
    monkeypatch.chdir(ROOT)
    default = parse_params(repo_params_raw).data.mix
    for name in GPU_PROFILES:
        params = parse_params(apply_overrides(repo_params_raw, load_profile(name), name), source=name)
        supplement, source = params.data.mix
        assert [supplement] == list(default) and supplement.train_only and not source.train_only
        assert (source.path, source.format, source.hf.config, source.hf.split) == (
            "westenfelder/NL2SH-ALFA",
            "hf",
            "train",
            "train",
        )
        assert re.fullmatch(r"[0-9a-f]{40}", source.hf.revision)
        assert (source.fields.instruction, source.fields.command) == ("nl", "bash")
        assert params.card.datasets == ["westenfelder/NL2SH-ALFA"] and "mit" in params.card.data_license


def test_the_smoke_profile_is_the_tiny_model():
    smoke = load_profile(str(ROOT / "profiles" / "smoke.yaml"))
    assert smoke["model.name_or_path"] == "tiny" and smoke["lora.modules_to_save"] == ["embed_tokens", "lm_head"]


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
