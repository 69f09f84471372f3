"""Resumable checkpoints: which run they belong to, which are complete, and room for them on disk."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.errors import ShelltuneError
from shelltune.training.provenance import recorded_params

CHECKPOINT_FILES = ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json")
FINGERPRINT_FILE = "run_fingerprint.json"


def is_complete_checkpoint(path: Path) -> bool:
    """All files present and the trainer state (written last) parses with the step in the name."""
    if not all((path / name).is_file() for name in CHECKPOINT_FILES):
        return False
    try:
        state = json.loads((path / "trainer_state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return f"checkpoint-{state.get('global_step')}" == path.name


def find_resume_checkpoint(checkpoints: Path, fingerprint: str) -> Path | None:
    """Newest complete checkpoint of this exact run; stale or partial ones are removed."""
    if not checkpoints.is_dir():
        return None
    stamp = checkpoints / FINGERPRINT_FILE
    if not stamp.exists() or json.loads(stamp.read_text()).get("fingerprint") != fingerprint:
        if any(checkpoints.iterdir()):
            print(f"removing checkpoints in {checkpoints}: they belong to a run with other params or data")
        shutil.rmtree(checkpoints)
        return None
    found = sorted(
        (p for p in checkpoints.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    complete = [p for p in found if is_complete_checkpoint(p)]
    for partial in set(found) - set(complete):
        print(f"ignoring incomplete checkpoint {partial} (the run stopped while writing it)")
        shutil.rmtree(partial)
    return complete[-1] if complete else None


def run_fingerprint(params: Params, data_sha256: dict[str, str], base: dict[str, Any], code: str) -> str:
    chosen = recorded_params(params)
    blob = json.dumps({"params": chosen, "data": data_sha256, "base": base, "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def check_free_disk(checkpoints: Path, trainable: int, save_total_limit: int) -> None:
    """Adapter weights plus two AdamW moments, fp32, per kept checkpoint, with a 2x margin."""
    need = trainable * 4 * 3 * (save_total_limit + 1) * 2
    checkpoints.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(checkpoints).free
    if free < need:
        raise ShelltuneError(
            f"{checkpoints}: about {need / 2**20:.0f} MiB of free disk is needed for checkpoints, "
            f"{free / 2**20:.0f} MiB is available; free space or lower train.save_total_limit"
        )
