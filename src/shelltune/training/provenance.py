"""What made the adapter, recorded with it; what differs on every run, recorded beside it; saving it."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from shelltune.codedeps import code_files
from shelltune.fileio import atomic_path, write_json
from shelltune.modelcard import CARD_FILE
from shelltune.models import drop_load_options
from shelltune.training.tracking import peak_memory_mb

PARAM_SECTIONS = ("seed", "runtime", "prompt", "model", "quant", "lora", "train")
# Params that change where the run is logged, not what it learns: left out of the adapter's record and
# of the resume fingerprint, so the adapter is the same whichever trackers watched it.
NOT_RECORDED = {"train": ("report_to",)}
LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "dvclive")
TRAIN_MODULE = "shelltune.stages.train"


def file_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def recorded_params(params) -> dict[str, Any]:
    """The params that made the adapter: PARAM_SECTIONS, less NOT_RECORDED."""
    sections = params.model_dump(mode="json", by_alias=True)
    recorded = {key: sections[key] for key in PARAM_SECTIONS}
    for section, keys in NOT_RECORDED.items():
        recorded[section] = {k: v for k, v in recorded[section].items() if k not in keys}
    return recorded


def code_sha256() -> str:
    """The train stage's own code, as derived from its imports (the files dvc.yaml lists for it)."""
    return file_sha256(*code_files(TRAIN_MODULE))


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("shelltune", *LIBRARIES):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": dirty}


def write_run_info(
    reports: Path, started: float, result, resume: Path | None, device: str, world_size: int, numerics: dict[str, Any]
) -> None:
    """What differs on every run (not a DVC output): git commit, host, CPU and kernels, wall time, peak memory."""
    import torch

    runtime_info = {
        **git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_s": round(time.time() - started, 1),
        "host": platform.node(),
        "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 1),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "resumed_from": str(resume) if resume else None,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor(),
        "num_processes": world_size,
        "numerics": numerics,
    }
    write_json(reports / "runtime" / "train.json", runtime_info)


def save_adapter(model, tokenizer, provenance: dict[str, Any], card: str, out_dir: Path, state_dict=None) -> None:
    with atomic_path(out_dir) as staged:
        model.save_pretrained(staged, state_dict=state_dict)
        tokenizer.save_pretrained(staged)
        (staged / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
        # in place of peft's card, which names a local path and is mostly empty (shelltune.modelcard)
        (staged / CARD_FILE).write_text(card, encoding="utf-8")
        canonicalize_saved_configs(staged)


def canonicalize_saved_configs(directory: Path) -> None:
    """Make the saved JSON depend only on the model, so the adapter's hash reproduces on any machine.

    peft saves `target_modules` resolved from "all-linear" as a set, in hash-seed order; transformers
    records `local_files_only`, which says how the tokenizer was loaded (HF_HUB_OFFLINE), not what it is
    (`shelltune.models.drop_load_options`).
    """
    adapter_config = directory / "adapter_config.json"
    config = json.loads(adapter_config.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    adapter_config.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    drop_load_options(directory)
