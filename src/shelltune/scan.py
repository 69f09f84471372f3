"""The scan stage: `dvc repro scan` (or `python -m shelltune.scan`).

Runs the safety scanner (the same one that filtered the training targets) over both models' test-set
commands from the validate stage, and over the tuned model's answers to the red-team prompts in
`scan.redteam`, requests that ask, plainly or slyly, for destructive, exfiltrating or remote-code actions.
Nothing generated is ever executed.

Writes `<paths.reports>/findings.jsonl` (set, model, prompt, command, category, severity, reason) and
`<paths.reports>/scan.json` (dangerous rate per model and prompt set, findings per category). The stage
fails after writing them when the tuned model's dangerous rate exceeds `scan.max_dangerous_rate` on the
test set or `scan.max_redteam_dangerous_rate` on the red-team set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.errors import ShelltuneError, run_cli, stage_parser
from shelltune.fileio import iter_json_objects, read_jsonl, write_json, write_jsonl
from shelltune.inference import generate, load_model_and_tokenizer
from shelltune.metrics import extract_command
from shelltune.numerics import bnb_cpu_path, describe_numerics, load_params_for_torch
from shelltune.safety import CATEGORIES, scan_command


def scan_rows(items: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """Judge (set, model, prompt, command) tuples; one finding per dangerous command."""
    findings = []
    for prompt_set, model, prompt, command in items:
        finding = scan_command(command)
        if finding is not None:
            findings.append({"set": prompt_set, "model": model, "prompt": prompt, "command": command,
                             "category": finding.category, "severity": finding.severity, "reason": finding.reason})
    return findings


def safety_metrics(findings: list[dict[str, Any]], totals: dict[tuple[str, str], int]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for (prompt_set, model), total in sorted(totals.items()):
        hits = sum(1 for f in findings if f["set"] == prompt_set and f["model"] == model)
        metrics[f"{prompt_set}_{model}_dangerous_rate"] = round(hits / total, 4) if total else 0.0
        metrics[f"{prompt_set}_{model}_dangerous"] = hits
    metrics["findings_by_category"] = {c: sum(1 for f in findings if f["category"] == c) for c in CATEGORIES}
    return metrics


def load_redteam(path: Path) -> list[str]:
    if not path.exists():
        raise ShelltuneError(f"scan.redteam: file not found: {path}")
    prompts = []
    for where, record in iter_json_objects(path):
        if not isinstance(record.get("prompt"), str) or not record["prompt"].strip():
            raise ShelltuneError(f"{where}: expected an object with a non-empty string 'prompt'")
        prompts.append(record["prompt"])
    if not prompts:
        raise ShelltuneError(f"{path}: no red-team prompts")
    return prompts


def gate(metrics: dict[str, Any], params: Params) -> list[str]:
    problems = []
    rate = metrics.get("test_tuned_dangerous_rate", 0.0)
    if rate > params.scan.max_dangerous_rate:
        problems.append(f"the tuned model's test-set commands are dangerous {rate:.2%} of the time "
                        f"(scan.max_dangerous_rate is {params.scan.max_dangerous_rate:.2%})")
    rate = metrics.get("redteam_tuned_dangerous_rate", 0.0)
    if rate > params.scan.max_redteam_dangerous_rate:
        problems.append(f"the tuned model answers red-team prompts dangerously {rate:.2%} of the time "
                        f"(scan.max_redteam_dangerous_rate is {params.scan.max_redteam_dangerous_rate:.2%})")
    return problems


def scan(params: Params) -> dict[str, Any]:
    reports = Path(params.paths.reports)
    predictions_file = reports / "predictions.jsonl"
    if not predictions_file.exists():
        raise ShelltuneError(f"{predictions_file}: not found; run the validate stage first (dvc repro validate)")
    predictions = read_jsonl(predictions_file)
    redteam = load_redteam(Path(params.scan.redteam))
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    answers = generate(model, tokenizer, params.prompt.system, redteam, params.scan.max_new_tokens,
                       params.validate.batch_size, progress="red-team prompts")
    items = [("test", name, p["instruction"], p[f"{name}_command"]) for name in ("base", "tuned") for p in predictions]
    items += [("redteam", "tuned", prompt, extract_command(a.text)) for prompt, a in zip(redteam, answers)]
    findings = scan_rows(items)
    totals = {("test", "base"): len(predictions), ("test", "tuned"): len(predictions),
              ("redteam", "tuned"): len(redteam)}
    metrics = safety_metrics(findings, totals)
    redteam_answers = [{"prompt": p, "output": a.text, "command": extract_command(a.text)}
                       for p, a in zip(redteam, answers)]
    # A failed gate fails the stage, and a failed stage leaves the tracked reports as they were: the
    # findings that failed it go to the git-ignored runtime directory, named in the error.
    problems = gate(metrics, params)
    out = reports / "runtime" / "scan-failed" if problems else reports
    write_jsonl(out / "findings.jsonl", findings)
    write_jsonl(out / "redteam_answers.jsonl", redteam_answers)
    write_json(out / "scan.json", metrics)
    write_json(reports / "runtime" / "scan.json", {"numerics": describe_numerics(params.runtime, bnb_cpu_path(model))})
    if problems:
        raise ShelltuneError("safety gate failed: " + "; ".join(problems) + f" — see {out / 'findings.jsonl'}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("shelltune scan-stage", "Safety scan of generated commands.")
    args = parser.parse_args(argv)

    def entry() -> int:
        params = load_params_for_torch(args.params)
        metrics = scan(params)
        rates = {k: v for k, v in metrics.items() if k.endswith("_dangerous_rate")}
        print("dangerous rate: " + ", ".join(f"{k.removesuffix('_dangerous_rate')} {v:.2%}" for k, v in rates.items()))
        return 0

    return run_cli(entry, argv)


if __name__ == "__main__":
    raise SystemExit(main())
