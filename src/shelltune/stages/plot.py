"""The plot stage: `dvc repro plot` (or `shelltune run plot`).

Draws the PNGs (`shelltune.reporting.plots`: train and eval loss from the dvclive files, base vs
fine-tuned task metrics, execution accuracy in the sandbox, safety findings by category) and writes
`<paths.reports>/report.md` (`shelltune.reporting.summary`), the page a reviewer reads, with the PNGs
embedded and the commands the sandbox saw reach outside their task although the scanner let them pass;
and `<paths.reports>/model_card.md`: the adapter's model card with the test and safety results added
(`shelltune.modelcard`), which `shelltune card --out DIR` publishes with the adapter; and
`<paths.reports>/headline.json`, the handful of metrics `dvc metrics show` and `dvc exp show` lead with
(`shelltune.reporting.summary.headline_metrics`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.errors import ShelltuneError
from shelltune.evaluation import EXTRA_PREDICTIONS
from shelltune.fileio import atomic_path, read_jsonl, write_json, write_text
from shelltune.modelcard import MODEL_CARD, WEIGHTS_FILE, complete_card, file_sha256, read_adapter_card
from shelltune.reporting.errors import errors_section
from shelltune.reporting.plots import draw_all
from shelltune.reporting.summary import (
    HEADLINE,
    execution_section,
    extra_sets_section,
    headline_metrics,
    report_markdown,
    spread,
)
from shelltune.safety.audit import has_effect
from shelltune.sandbox.results import read_execution, witness_index


def read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; run the earlier stages first (dvc repro)")
    return json.loads(path.read_text())


def unflagged_witness(verdicts: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fine-tuned model's test-set commands the sandbox saw reach outside their task, unflagged."""
    flagged = {(f["prompt"], f["command"]) for f in findings if f["set"] == "test" and f["model"] == "tuned"}
    return [
        {"instruction": instruction, "command": command, "witness": witness}
        for (model, instruction, command), witness in witness_index(verdicts).items()
        if model == "tuned" and has_effect(witness) and (instruction, command) not in flagged
    ]


def run(params: Params) -> Path:
    reports = Path(params.paths.reports)
    split = read_json(reports / "split.json")
    train = read_json(reports / "train" / "metrics.json")
    validate = read_json(reports / "validate.json")
    scan = read_json(reports / "scan.json")
    execute, verdicts = read_execution(reports)
    predictions = read_jsonl(reports / "predictions.jsonl")
    with atomic_path(reports / "plots") as staged:
        staged.mkdir()
        draw_all(reports, validate, execute, scan, staged)
    execution = execution_section(execute, scan, unflagged_witness(verdicts, read_jsonl(reports / "findings.jsonl")))
    extra = read_jsonl(reports / EXTRA_PREDICTIONS) if validate.get("extra") else []
    sets = {"test": predictions, **{name: [r for r in extra if r["set"] == name] for name in validate.get("extra", {})}}
    by_id = {(v.get("set", "test"), v["id"]): v for v in verdicts}
    errors = errors_section({n: (rows, {r["id"]: by_id.get((n, r["id"])) for r in rows}) for n, rows in sets.items()})
    report = report_markdown(
        split, train, validate, execution, scan, spread(predictions, 8), extra_sets_section(validate, execute), errors
    )
    write_text(reports / "report.md", report)
    adapter = Path(params.paths.adapter)
    card = complete_card(
        read_adapter_card(adapter), file_sha256(adapter / WEIGHTS_FILE), validate, scan, split, execute
    )
    write_text(reports / MODEL_CARD, card)
    write_json(reports / HEADLINE, headline_metrics(train, validate, execute, scan))
    return reports / "report.md"


STAGE = Stage(
    "plot",
    "PNG plots, report.md and the model card.",
    run,
    lambda params, path: f"wrote {path}, {Path(params.paths.reports) / MODEL_CARD} and {path.with_name(HEADLINE)}",
)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
