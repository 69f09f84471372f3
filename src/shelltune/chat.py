"""The one chat format shared by the tiny base's tokenizer, training, validation, prediction and export.

Qwen2.5's template inserts a default system prompt when none is given; we always send the system
prompt from params (`prompt.system`), so every stage sees exactly the same prefix.
"""

from __future__ import annotations

from typing import Any

# ChatML exactly as Qwen2.5 renders it (without the tool-calling branches).
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
PAD_TOKEN = "<|endoftext|>"
START_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"  # the end of a turn: where generation stops
SPECIAL_TOKENS = [PAD_TOKEN, START_TOKEN, EOS_TOKEN]


def render_chatml(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """CHATML_TEMPLATE rendered without a tokenizer (the tiny base trains its tokenizer on this text),
    with the options transformers renders chat templates with."""
    import jinja2

    template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(CHATML_TEMPLATE)
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt)


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
