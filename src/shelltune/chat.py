"""The one chat format shared by training, validation and prediction.

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
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, "<|im_start|>", EOS_TOKEN]


def prompt_messages(system: str, instruction: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": instruction}]


def to_prompt_completion(system: str, row: dict[str, Any]) -> dict[str, Any]:
    """A split row as TRL's conversational prompt/completion example (loss on the completion only)."""
    return {"prompt": prompt_messages(system, row["instruction"]),
            "completion": [{"role": "assistant", "content": row["command"]}]}
