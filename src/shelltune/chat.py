"""Chat formats: the built-in templates of the tiny bases, and what any tokenizer's own template says.

Every stage talks to a model through its tokenizer's chat template (`apply_chat_template`), so a model
trains, validates, scans, predicts and exports with the one format it was built with. Two things are
read off that template rather than assumed, because chat formats disagree on them:

- where an answer ends (`end_of_turn_tokens`): `<|im_end|>` in ChatML, `<|eot_id|>` in Llama 3,
  `<end_of_turn>` in Gemma. The tokenizer's `eos_token` is not enough: Meta-Llama-3-8B-Instruct first
  shipped with `eos_token: <|end_of_text|>` while its template ends turns with `<|eot_id|>`, and
  generation ran on past the answer.
- how a turn is laid out (`turn_layout`), which the export needs to write an Ollama template.

Both tiny bases (`model.tiny.architecture`) get their template from here: ChatML as Qwen2.5 renders it
(without the tool-calling branches) for `qwen2`, Meta-Llama-3-8B-Instruct's template for `llama`.
Qwen2.5's template inserts a default system prompt when none is given; we always send the system
prompt from params (`prompt.system`), so every stage sees exactly the same prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shelltune.errors import ShelltuneError


@dataclass(frozen=True)
class BuiltinFormat:
    """A chat format the base stage builds a tokenizer for: its template and its special tokens."""

    template: str
    special_tokens: tuple[str, ...]  # in vocabulary order: they take ids 0, 1, 2...
    eos_token: str
    pad_token: str
    bos_token: str | None
    generation_eos: tuple[str, ...]  # what the model's generation config stops at


CHATML = BuiltinFormat(
    template=(
        "{%- for message in messages %}"
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    eos_token="<|im_end|>",  # the end of a turn, as in Qwen2.5-Instruct
    pad_token="<|endoftext|>",
    bos_token=None,
    generation_eos=("<|im_end|>", "<|endoftext|>"),  # as Qwen2.5-Instruct's generation config
)

# Meta-Llama-3-8B-Instruct's template, verbatim: a BOS token, role headers, `<|eot_id|>` after each turn.
# Its eos_token and generation config say `<|end_of_text|>`, as that model first shipped: the end of turn
# must come from the template, not from eos_token. The pad token is Llama 3.1's.
LLAMA3 = BuiltinFormat(
    template=(
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
        "+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
        "{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
    ),
    special_tokens=(
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    ),
    eos_token="<|end_of_text|>",
    pad_token="<|finetune_right_pad_id|>",
    bos_token="<|begin_of_text|>",
    generation_eos=("<|end_of_text|>",),
)

BUILTIN_FORMATS = {"qwen2": CHATML, "llama": LLAMA3}


def render_builtin(fmt: BuiltinFormat, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """A built-in template rendered without a tokenizer (the tiny base trains its tokenizer on this text),
    with the options transformers renders chat templates with."""
    import jinja2

    template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(fmt.template)
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt, bos_token=fmt.bos_token)


def conversation(system: str, row: dict[str, Any]) -> list[dict[str, str]]:
    """A split row as the full conversation: system, request, command."""
    return [*prompt_messages(system, row["instruction"]), {"role": "assistant", "content": row["command"]}]


def prompt_messages(system: str, instruction: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": instruction}]


def to_prompt_completion(system: str, row: dict[str, Any]) -> dict[str, Any]:
    """A split row as TRL's conversational prompt/completion example (loss on the completion only)."""
    return {
        "prompt": prompt_messages(system, row["instruction"]),
        "completion": [{"role": "assistant", "content": row["command"]}],
    }


# ---------------------------------------------------------------- what a tokenizer's template says

# Placeholder contents: plain words, so templates that trim or escape content leave them as they are.
SYSTEM_MARK, USER_MARK, ANSWER_MARK = "SHELLTUNESYSTEM", "SHELLTUNEUSER", "SHELLTUNEANSWER"


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """The conversation as the tokenizer's chat template writes it; a one-line error for a tokenizer with no
    template (a base rather than an instruct model) or one that refuses the conversation (Gemma's refuses a
    system message, which every stage sends)."""
    from jinja2 import TemplateError

    if not tokenizer.chat_template:
        raise ShelltuneError("model.name_or_path: the tokenizer has no chat template (a base, not an instruct, model?)")
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except TemplateError as exc:
        raise ShelltuneError(
            f"model.name_or_path: the tokenizer's chat template refuses a system, user, assistant conversation: {exc}"
        ) from None


def _marked(tokenizer, answer: bool, add_generation_prompt: bool) -> str:
    messages = prompt_messages(SYSTEM_MARK, USER_MARK)
    if answer:
        messages.append({"role": "assistant", "content": ANSWER_MARK})
    text = render(tokenizer, messages, add_generation_prompt)
    for mark in (SYSTEM_MARK, USER_MARK, ANSWER_MARK)[: 3 if answer else 2]:
        if text.count(mark) != 1:
            raise ShelltuneError(
                f"model.name_or_path: the tokenizer's chat template does not render each message once "
                f"(system, user, assistant): {text[:200]!r}"
            )
    return text


def assistant_turn_end(tokenizer) -> str:
    """What the chat template writes after the assistant's content (`<|im_end|>\\n`, `<|eot_id|>`)."""
    return _marked(tokenizer, answer=True, add_generation_prompt=False).split(ANSWER_MARK)[1]


def special_ids(tokenizer) -> set[int]:
    """Ids of the tokenizer's special tokens: the named ones (bos, eos, pad...) and added special tokens."""
    added = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    return set(tokenizer.all_special_ids) | added


def end_of_turn_tokens(tokenizer) -> list[str]:
    """The special tokens the template closes an assistant turn with: where a reply ends, so what training
    teaches the model to emit last and where generation stops. An error when there are none: a model
    fine-tuned with such a template never learns to stop."""
    suffix = assistant_turn_end(tokenizer)
    ids = tokenizer(suffix, add_special_tokens=False)["input_ids"]
    special = special_ids(tokenizer)
    tokens = [tokenizer.convert_ids_to_tokens(i) for i in ids if i in special]
    if not tokens:
        raise ShelltuneError(
            f"model.name_or_path: the chat template ends an assistant turn with {suffix!r}, no special token: "
            "a fine-tuned model would never learn where its answer ends"
        )
    return list(dict.fromkeys(tokens))


def end_of_turn_ids(tokenizer) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(token) for token in end_of_turn_tokens(tokenizer)]


@dataclass(frozen=True)
class TurnLayout:
    """A single-turn conversation as the template lays it out:
    bos + system_open + SYSTEM + turn_close + user_open + USER + turn_close + assistant_open + ANSWER + answer_close.
    `bos` is the BOS token when the template writes it at the start, `assistant_open` the generation prompt."""

    bos: str
    system_open: str
    user_open: str
    turn_close: str
    assistant_open: str
    answer_close: str


def turn_layout(tokenizer) -> TurnLayout | None:
    """The template taken apart around placeholder contents; None when it does not take apart this way
    (the system prompt folded into the user turn, turns closed differently, a generation prompt that is
    not how the answer's turn opens)."""
    prompt = _marked(tokenizer, answer=False, add_generation_prompt=False)
    with_generation = _marked(tokenizer, answer=False, add_generation_prompt=True)
    full = _marked(tokenizer, answer=True, add_generation_prompt=False)
    in_order = prompt.index(SYSTEM_MARK) < prompt.index(USER_MARK)
    if not (in_order and with_generation.startswith(prompt) and full.startswith(prompt)):
        return None
    head, rest = prompt.split(SYSTEM_MARK)
    between, turn_close = rest.split(USER_MARK)
    assistant_open = with_generation[len(prompt) :]
    answer_open, answer_close = full[len(prompt) :].split(ANSWER_MARK)
    if not between.startswith(turn_close) or answer_open != assistant_open or not assistant_open:
        return None
    user_open = between[len(turn_close) :]
    # A "BOS" that also opens every turn (SmolLM2 names `<|im_start|>` its bos_token) belongs to the turns.
    token = tokenizer.bos_token
    bos = token if token and head.startswith(token) and not user_open.startswith(token) else ""
    return TurnLayout(bos, head[len(bos) :], user_open, turn_close, assistant_open, answer_close)
