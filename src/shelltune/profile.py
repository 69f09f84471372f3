"""`shelltune profile NAME`: print a params profile as `-S key=value` arguments for `dvc exp run`.

    dvc exp run -n qwen7b $(shelltune profile qwen7b-gpu)

A profile (`profiles/NAME.yaml`) maps dotted params keys to values. The merged params are validated
first, so a typo in a profile is reported here instead of an hour into a GPU run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from shelltune.config import params_path, parse_params
from shelltune.errors import ShelltuneError, run_cli, stage_parser

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
        text = json.dumps(value) if isinstance(value, (list, dict)) else yaml.safe_dump(value).strip().removesuffix("...").strip()
        if any(ch.isspace() for ch in text):
            raise ShelltuneError(f"{key}: values with spaces cannot pass through $(...); set it in params.yaml")
        args += ["-S", f"{key}={text}"]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("shelltune profile", __doc__.splitlines()[0])
    parser.add_argument("name", help="profile name (profiles/NAME.yaml) or a path")
    args = parser.parse_args(argv)

    def entry() -> int:
        overrides = load_profile(args.name)
        path = params_path(args.params)
        merged = apply_overrides(yaml.safe_load(path.read_text()), overrides, args.name)
        parse_params(merged, source=f"{path} + {args.name}")
        print(" ".join(set_arguments(overrides)))
        return 0

    return run_cli(entry, argv)


if __name__ == "__main__":
    raise SystemExit(main())
