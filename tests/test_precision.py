"""GPUs without bfloat16 (T4, V100): `quant.compute_dtype: auto` picks float16 there, and the trainer runs fp16
autocast with loss scaling over float32 LoRA weights, paged 8-bit AdamW and bitsandbytes computing in float16.
The decision is a pure function of the device's capability; there is no GPU here to query."""

from __future__ import annotations

import pytest
import torch

from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.models import Placement, build_quant_config, choose_compute_dtype, cuda_supports_bf16
from shelltune.training.trainer import build_sft_config, resolve_train_placement, restore_trainable_dtype

from conftest import TINY_QWEN, save_random_model


@pytest.mark.parametrize(
    ("requested", "device", "bf16", "chosen"),
    [
        ("auto", "cpu", False, "float32"),
        ("auto", "cuda", True, "bfloat16"),  # compute capability 8.0+: A100, L4, H100
        ("auto", "cuda", False, "float16"),  # T4 (7.5), V100 (7.0): fp16 with loss scaling
        ("float16", "cuda", True, "float16"),
        ("float32", "cuda", False, "float32"),
    ],
)
def test_auto_compute_dtype_follows_the_gpu(requested, device, bf16, chosen):
    assert choose_compute_dtype(requested, device, bf16) == chosen


def test_impossible_compute_dtypes_are_refused():
    with pytest.raises(ShelltuneError, match="bfloat16 needs a GPU of compute capability 8.0"):
        choose_compute_dtype("bfloat16", "cuda", False)
    with pytest.raises(ShelltuneError, match="float16 needs a GPU"):
        choose_compute_dtype("float16", "cpu", False)


def test_no_bf16_without_cuda():
    assert not torch.cuda.is_available()
    assert cuda_supports_bf16() is False  # the real query: no emulated "yes"


def test_an_fp16_gpu_trains_with_loss_scaling_paged_8bit_adamw_and_fp16_bitsandbytes(repo_params_raw, tmp_path):
    params = parse_params(repo_params_raw)
    t4 = resolve_train_placement(params.train, params.quant, cuda_available=True, bf16_supported=False)
    a100 = resolve_train_placement(params.train, params.quant, cuda_available=True, bf16_supported=True)
    assert (t4.device, t4.compute_dtype, t4.optimizer) == ("cuda", "float16", "paged_adamw_8bit")
    assert (a100.compute_dtype, a100.optimizer) == ("bfloat16", "paged_adamw_8bit")
    config = build_sft_config(params, t4, tmp_path, has_eval=False)
    assert (config.fp16, config.bf16, config.optim) == (True, False, "paged_adamw_8bit")  # AMP + GradScaler
    assert build_quant_config(params.quant, t4.compute_dtype).bnb_4bit_compute_dtype == torch.float16


def test_fp16_mixed_precision_step_with_a_grad_scaler_moves_the_adapter(repo_params_raw, tmp_path):
    """One real fp16 autocast step with loss scaling on the 4-bit model (CPU autocast and GradScaler, the same
    recipe the trainer runs on a T4): the fp32 master copy of LoRA trains, the 4-bit base does not move."""
    from shelltune.models import load_quantized_model
    from shelltune.training.trainer import prepare_peft_model

    params = parse_params(repo_params_raw)
    base = {"name_or_path": str(save_random_model(TINY_QWEN, tmp_path))}
    model = prepare_peft_model(load_quantized_model(base, params, Placement("cpu", "float16"), training=True), params)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    for p in trainable.values():
        p.data = p.data.to(torch.bfloat16)  # what SFTTrainer does to a quantized model's trainable tensors
    assert restore_trainable_dtype(model, "float16") == len(trainable)
    assert {p.dtype for p in trainable.values()} == {torch.float32}
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    before = {n: p.detach().clone() for n, p in trainable.items()}
    optimizer = torch.optim.AdamW(trainable.values(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    ids = torch.randint(0, 512, (2, 16))
    with torch.autocast("cpu", dtype=torch.float16):
        loss = model(input_ids=ids, labels=ids).loss
    scaler.scale(loss).backward()  # fp32 master weights: GradScaler refuses to unscale fp16 gradients
    scaler.step(optimizer)
    scaler.update()
    assert torch.isfinite(loss) and scaler.get_scale() > 0
    moved = [n for n, p in trainable.items() if not torch.equal(p, before[n])]
    assert moved and all(torch.isfinite(p).all() for p in trainable.values())
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not p.requires_grad)
