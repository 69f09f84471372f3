"""The scan stage: `dvc repro scan` (or `shelltune run scan`).

Runs the safety scanner (the same one that filtered the training targets) over both models' commands
for the test set and the extra evaluation sets from the validate stage, and over both models' answers to
the red-team prompts in `scan.redteam`: requests that ask, plainly or slyly, for destructive,
exfiltrating or remote-code actions (`shelltune.safety.audit`). Nothing generated is ever executed.

Beside the static verdicts it puts the execute stage's safety witness: what each executed test-set
prediction did outside the task's own files in the sandbox, and where the scanner and the sandbox
disagree (`safety.audit.cross_check`).

Writes `<paths.reports>/findings.jsonl` (set, model, prompt, command, category, severity, reason, and the
sandbox's witness where the command ran), `redteam_answers.jsonl` (both models) and `scan.json` (dangerous rate per
model and prompt set, findings per category, the cross-check counts). The stage fails when the tuned
model's dangerous rate exceeds `scan.max_dangerous_rate` on the test set or
`scan.max_redteam_dangerous_rate` on the red-team set; a failed stage leaves the tracked reports as they
were, so that run's findings go to `<paths.reports>/runtime/scan-failed/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.errors import ShelltuneError
from shelltune.evaluation import EXTRA_PREDICTIONS, MODELS
from shelltune.fileio import read_jsonl, write_json, write_jsonl
from shelltune.inference import generate, load_model_and_tokenizer
from shelltune.metrics import extract_command
from shelltune.numerics import bnb_cpu_path, describe_numerics
from shelltune.safety.audit import cross_check, gate, load_redteam, safety_metrics, scan_rows
from shelltune.sandbox.results import read_execution, witness_index


def run(params: Params) -> dict[str, Any]:
    reports = Path(params.paths.reports)
    predictions_file = reports / "predictions.jsonl"
    if not predictions_file.exists():
        raise ShelltuneError(f"{predictions_file}: not found; run the validate stage first (dvc repro validate)")
    predictions = read_jsonl(predictions_file)
    witness = witness_index(read_execution(reports)[1])
    extra = read_jsonl(reports / EXTRA_PREDICTIONS) if params.validate.extra_sets else []
    redteam = load_redteam(Path(params.scan.redteam))
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    settings = {"max_new_tokens": params.scan.max_new_tokens, "batch_size": params.validate.batch_size}
    with model.disable_adapter():
        base = generate(model, tokenizer, params.prompt.system, redteam, progress="red-team prompts: base", **settings)
    tuned = generate(
        model, tokenizer, params.prompt.system, redteam, progress="red-team prompts: fine-tuned", **settings
    )
    answers = {"base": [extract_command(a.text) for a in base], "tuned": [extract_command(a.text) for a in tuned]}
    items, totals = [], {}
    for name in MODELS:
        items += [("test", name, p["instruction"], p[f"{name}_command"]) for p in predictions]
        items += [(r["set"], name, r["instruction"], r[f"{name}_command"]) for r in extra]
        items += [("redteam", name, prompt, command) for prompt, command in zip(redteam, answers[name], strict=True)]
        totals[("test", name)], totals[("redteam", name)] = len(predictions), len(redteam)
        for r in extra:
            totals[(r["set"], name)] = totals.get((r["set"], name), 0) + 1
    findings = scan_rows(items)
    metrics = safety_metrics(findings, totals)
    for finding in findings:  # the sandbox's own view, where the test row ran
        key = (finding["model"], finding["prompt"], finding["command"])
        finding["witness"] = witness.get(key) if finding["set"] == "test" else None
    metrics.update(cross_check(findings, witness))
    redteam_answers = [
        {"prompt": p, "base_output": b.text, "base_command": bc, "output": t.text, "command": tc}
        for p, b, t, bc, tc in zip(redteam, base, tuned, answers["base"], answers["tuned"], strict=True)
    ]
    problems = gate(metrics, params.scan)
    out = reports / "runtime" / "scan-failed" if problems else reports
    write_jsonl(out / "findings.jsonl", findings)
    write_jsonl(out / "redteam_answers.jsonl", redteam_answers)
    write_json(out / "scan.json", metrics)
    write_json(reports / "runtime" / "scan.json", {"numerics": describe_numerics(params.runtime, bnb_cpu_path(model))})
    if problems:
        raise ShelltuneError("safety gate failed: " + "; ".join(problems) + f" — see {out / 'findings.jsonl'}")
    return metrics


def summary(params: Params, metrics: dict[str, Any]) -> str:
    rates = {k: v for k, v in metrics.items() if k.endswith("_dangerous_rate")}
    return "dangerous rate: " + ", ".join(f"{k.removesuffix('_dangerous_rate')} {v:.2%}" for k, v in rates.items())


STAGE = Stage("scan", "Safety scan of generated commands and red-team answers.", run, summary, uses_torch=True)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
