"""Params profiles: named sets of overrides, validated against params.yaml, as `dvc exp run -S` arguments.

A profile (`profiles/NAME.yaml`) maps dotted params keys to values. The merged params are validated
first, so a typo in a profile is reported here instead of an hour into a GPU run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from shelltune.config import Params, params_path, parse_params
from shelltune.errors import ShelltuneError

PROFILES = Path("profiles")


def load_profile(name: str) -> dict[str, Any]:
    path = Path(name) if name.endswith((".yaml", ".yml")) else PROFILES / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml"))) or "none"
        raise ShelltuneError(f"{path}: no such profile (profiles: {known})")
    overrides = yaml.safe_load(path.read_text()) or {}
    if not isinstance(overrides, dict):
        raise ShelltuneError(f"{path}: expected a mapping of dotted params keys to values")
    return overrides


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    merged = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        node = merged
        *parents, last = str(dotted).split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ShelltuneError(f"{source}: {dotted}: no such params section '{part}'")
            node = node[part]
        if last not in node:
            raise ShelltuneError(f"{source}: {dotted}: unknown params key")
        node[last] = value
    return merged


def set_arguments(overrides: dict[str, Any]) -> list[str]:
    """`-S key=value` pairs, values in YAML flow style as DVC parses them."""
    args = []
    for key, value in overrides.items():
        text = (
            json.dumps(value, separators=(",", ":"))  # no spaces: the arguments pass through $(...)
            if isinstance(value, (list, dict))
            else yaml.safe_dump(value).strip().removesuffix("...").strip()
        )
        if any(ch.isspace() for ch in text):
            raise ShelltuneError(f"{key}: values with spaces cannot pass through $(...); set it in params.yaml")
        args += ["-S", f"{key}={text}"]
    return args


def params_with_profile(name: str | None, params_file: str | None = None) -> tuple[Params, dict[str, Any]]:
    """params.yaml (or `params_file`) with profile `name` applied, validated; and the profile's overrides."""
    path = params_path(params_file)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShelltuneError(f"{path}: params file not found (run from the repository root)") from None
    if name is None:
        return parse_params(raw, source=str(path)), {}
    overrides = load_profile(name)
    return parse_params(apply_overrides(raw, overrides, name), source=f"{path} + {name}"), overrides
