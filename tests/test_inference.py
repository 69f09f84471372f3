"""Generation shortcuts that must not change a single output: the shared prompt prefix computed once, and
4-bit weights dequantized once on the CPU."""

from __future__ import annotations

import pytest
import torch

from shelltune.inference import (
    MIN_SHARED_PREFIX,
    dequantized_once,
    generate,
    greedy,
    load_model_and_tokenizer,
    pack,
    render_prompts,
    shared_prefix,
    stop_token_ids,
    until_stop,
)
from shelltune.numerics import linear4bit_layers

from conftest import pairs, tiny_trained


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, repo_params_raw):
    _, params, _ = tiny_trained(repo_params_raw, tmp_path_factory.mktemp("inference"))
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    return params, model, tokenizer


def test_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    common = list(range(20))
    assert shared_prefix([common + [7, 8], common + [7, 9, 9]]) == common + [7]
    assert shared_prefix([common + [1], common + [2]]) == common
    assert shared_prefix([common, common]) == common[:-1]  # the last token's logits start the answer
    assert shared_prefix([common[: MIN_SHARED_PREFIX - 1] + [1], common[: MIN_SHARED_PREFIX - 1] + [2]]) == []
    assert shared_prefix([]) == []


def test_pack_pads_between_the_prefix_and_each_row():
    ids, mask = pack([1, 2], [[5], [6, 7, 8]], pad=0, device="cpu")
    assert ids.tolist() == [[1, 2, 0, 0, 5], [1, 2, 6, 7, 8]]
    assert mask.tolist() == [[1, 1, 0, 0, 1], [1, 1, 1, 1, 1]]
    assert (mask.cumsum(-1) - 1)[0, -1].item() == 2  # the first row's own token sits at position 2, after the prefix


def test_weights_dequantized_once_give_the_same_bits(tuned):
    params, model, tokenizer = tuned
    layers = linear4bit_layers(model)
    assert layers and not any(layer.support_avx512bf16_for_cpu for layer in layers)  # portable: unpacked
    prompts = render_prompts(tokenizer, params.prompt.system, [p["instruction"] for p in pairs(6)])
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        plain = model(**batch).logits
        with dequantized_once(model):
            assert all("forward" in layer.__dict__ for layer in layers)
            cached = model(**batch).logits
    assert not any("forward" in layer.__dict__ for layer in layers)  # bitsandbytes' own forward is back
    assert torch.equal(plain, cached)


def test_batched_generation_with_the_shared_prefix_answers_as_one_row_at_a_time(tuned):
    params, model, tokenizer = tuned
    instructions = [p["instruction"] for p in pairs(24, start=3)] + ["list files", "x" * 40]
    batched = generate(model, tokenizer, params.prompt.system, instructions, 16, batch_size=8)
    stops = stop_token_ids(model, tokenizer)
    single = []
    for prompt in render_prompts(tokenizer, params.prompt.system, instructions):  # no prefix cache, no padding
        enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, **greedy(16, stops, tokenizer.pad_token_id))
        single.append(tokenizer.decode(until_stop(out[0, enc["input_ids"].shape[1] :].tolist(), stops), True))
    assert [g.text for g in batched] == single
    assert any(g.text.startswith("head -n") for g in batched)  # the tuned model answers, not noise
