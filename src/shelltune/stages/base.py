"""The base stage: `dvc repro base` (or `shelltune run base`).

Builds the tiny base offline from the train split (`model.name_or_path: tiny`; Qwen2 with ChatML or
Llama with the Llama 3 template, `model.tiny.architecture`), or checks and pins
a hub id or local directory (`shelltune.basemodel`). Writes `<paths.base>/` with `base.json`, which tells
every later stage where the weights are; the tiny model's files sit beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shelltune.basemodel import BASE_INFO, build_tiny, describe_pretrained, summary
from shelltune.config import TINY, Params
from shelltune.entrypoint import Stage
from shelltune.errors import ShelltuneError
from shelltune.fileio import atomic_path


def run(params: Params) -> dict[str, Any]:
    out_dir = Path(params.paths.base)
    with atomic_path(out_dir) as staged:
        staged.mkdir(parents=True)
        if params.model.name_or_path == TINY:
            train_file = Path(params.paths.processed) / "train.jsonl"
            if not train_file.exists():
                raise ShelltuneError(f"{train_file}: not found; run the split stage first (dvc repro split)")
            info = {**build_tiny(params, train_file, staged), "name_or_path": str(out_dir)}
        else:
            info = describe_pretrained(params)
        (staged / BASE_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info


STAGE = Stage("base", "Build the tiny base model or pin a hub/local one.", run, summary, uses_torch=True)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
