"""Chat formats: the end of a turn and the turn layout are read off the tokenizer's own template, for the
two built-in formats (ChatML, Llama 3) and for templates that do not fit."""

from __future__ import annotations

import copy

import pytest

from shelltune.basemodel import build_tiny_model, tokenizer_corpus, train_tokenizer
from shelltune.chat import BUILTIN_FORMATS, end_of_turn_ids, end_of_turn_tokens, render_builtin, turn_layout
from shelltune.config import parse_params
from shelltune.errors import ShelltuneError

from conftest import pairs, shrink


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def tokenizer(request):
    return train_tokenizer(tokenizer_corpus(pairs(50), "Be safe.", request.param), 400, request.param)


def with_template(tokenizer, template: str):
    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    return other


def test_the_built_in_template_renders_as_the_tokenizer_renders_it(tokenizer):
    architecture = "llama" if tokenizer.bos_token else "qwen2"
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    for generation in (False, True):
        assert render_builtin(BUILTIN_FORMATS[architecture], messages, generation) == tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )


def test_end_of_turn_comes_from_the_template_not_from_eos(tokenizer):
    expected = "<|eot_id|>" if tokenizer.bos_token else "<|im_end|>"
    assert end_of_turn_tokens(tokenizer) == [expected]
    assert end_of_turn_ids(tokenizer) == [tokenizer.convert_tokens_to_ids(expected)]
    if tokenizer.bos_token:  # Llama 3 as first shipped: eos_token is not where a turn ends
        assert tokenizer.eos_token == "<|end_of_text|>" != expected


def test_turn_layout_of_the_built_in_formats(tokenizer):
    layout = turn_layout(tokenizer)
    if tokenizer.bos_token:
        assert layout.bos == "<|begin_of_text|>"
        assert layout.system_open == "<|start_header_id|>system<|end_header_id|>\n\n"
        assert layout.user_open == "<|start_header_id|>user<|end_header_id|>\n\n"
        assert layout.turn_close == layout.answer_close == "<|eot_id|>"
        assert layout.assistant_open == "<|start_header_id|>assistant<|end_header_id|>\n\n"
    else:
        assert layout.bos == ""
        assert (layout.system_open, layout.user_open) == ("<|im_start|>system\n", "<|im_start|>user\n")
        assert layout.turn_close == layout.answer_close == "<|im_end|>\n"
        assert layout.assistant_open == "<|im_start|>assistant\n"
    rebuilt = (
        f"{layout.bos}{layout.system_open}S{layout.turn_close}{layout.user_open}U{layout.turn_close}"
        f"{layout.assistant_open}A{layout.answer_close}"
    )
    conversation = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "A"},
    ]
    assert rebuilt == tokenizer.apply_chat_template(conversation, tokenize=False)


def test_a_template_whose_turns_end_without_a_special_token_is_refused(tokenizer):
    plain = with_template(
        tokenizer,
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}",
    )
    with pytest.raises(
        ShelltuneError, match=r"model.name_or_path: .* no special token: a fine-tuned model would never"
    ):
        end_of_turn_tokens(plain)


def test_a_system_prompt_folded_into_the_user_turn_has_no_layout(tokenizer):
    # Mistral-style: no system turn of its own; still a valid end of turn (eos after the answer).
    folded = with_template(
        tokenizer,
        "{{ bos_token or '' }}{% set system = messages[0]['content'] %}{% for m in messages[1:] %}"
        "{% if m['role'] == 'user' %}[INST] {{ system }}\n\n{{ m['content'] }} [/INST]"
        "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}",
    )
    assert turn_layout(folded) is None
    assert end_of_turn_tokens(folded) == [tokenizer.eos_token]


def test_a_template_that_drops_a_message_is_a_clear_error(tokenizer):
    no_system = with_template(
        tokenizer, "{% for m in messages %}{% if m['role'] != 'system' %}{{ m['content'] }}{% endif %}{% endfor %}"
    )
    with pytest.raises(ShelltuneError, match="does not render each message once"):
        end_of_turn_tokens(no_system)


def test_no_template_or_a_refused_conversation_is_one_line_naming_the_model(tokenizer):
    with pytest.raises(ShelltuneError, match="model.name_or_path: the tokenizer has no chat template"):
        end_of_turn_tokens(with_template(tokenizer, None))
    gemma_like = with_template(
        tokenizer,
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
    )
    with pytest.raises(ShelltuneError, match="refuses a system, user, assistant conversation: System role not"):
        turn_layout(gemma_like)


def test_generation_stops_at_the_end_of_turn_even_when_the_model_config_names_only_eos(repo_params_raw, tokenizer):
    """The tiny Llama's generation config stops at <|end_of_text|> only (as Meta-Llama-3-8B-Instruct first
    shipped); inference adds <|eot_id|> from the template."""
    from shelltune.inference import stop_token_ids

    raw = shrink(copy.deepcopy(repo_params_raw))
    raw["model"]["tiny"]["architecture"] = "llama" if tokenizer.bos_token else "qwen2"
    model = build_tiny_model(parse_params(raw).model.tiny, tokenizer, seed=0)
    configured = model.generation_config.eos_token_id
    stops = stop_token_ids(model, tokenizer)
    if tokenizer.bos_token:
        eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
        assert configured == [tokenizer.eos_token_id] and eot not in configured
        assert stops == sorted([eot, tokenizer.eos_token_id])
    else:  # ChatML: what the default pipeline stopped at before, unchanged
        assert stops == sorted(tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"]))
