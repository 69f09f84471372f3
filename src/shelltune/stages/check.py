"""The check stage: `dvc repro check` (or `shelltune run check`).

Validates the whole of params.yaml (the shared entry point reads it into the typed config: unknown keys,
wrong types and values out of range, every problem at once) before any other stage runs. DVC deletes a
stage's outputs just before running it, so without this stage `dvc exp run -S lora.r=abc` would delete
`models/adapter` and only then fail in train. Every stage depends on this one's output, and this one on
every param, so DVC runs it first whenever a param changes; a bad value stops the run with the workspace
untouched. It takes about a second.

Writes `<paths.reports>/check.json`, always the same bytes, so that a passing check never makes a later
stage run again.
"""

from __future__ import annotations

from pathlib import Path

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.fileio import write_json

CHECKED = {"params": "valid"}


def run(params: Params) -> Path:
    path = Path(params.paths.reports) / "check.json"
    write_json(path, CHECKED)
    return path


STAGE = Stage(
    "check", "Validate params.yaml before any stage's outputs are removed.", run, lambda params, path: "params valid"
)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
