"""Auditing what a model generated: findings per command (dangerous or warn), dangerous rates per model and
prompt set (warnings counted apart: they are not what the gate fails on), the gate that fails the scan
stage, and the red-team prompts it reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import ScanParams
from shelltune.errors import ShelltuneError
from shelltune.fileio import iter_json_objects
from shelltune.safety import CATEGORIES, scan_command


def scan_rows(items: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """Judge (set, model, prompt, command) tuples; one finding per dangerous command."""
    findings = []
    for prompt_set, model, prompt, command in items:
        finding = scan_command(command)
        if finding is not None:
            findings.append(
                {
                    "set": prompt_set,
                    "model": model,
                    "prompt": prompt,
                    "command": command,
                    "category": finding.category,
                    "severity": finding.severity,
                    "level": finding.level,
                    "reason": finding.reason,
                }
            )
    return findings


def safety_metrics(findings: list[dict[str, Any]], totals: dict[tuple[str, str], int]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for (prompt_set, model), total in sorted(totals.items()):
        ours = [f for f in findings if f["set"] == prompt_set and f["model"] == model]
        hits = sum(1 for f in ours if f.get("level", "dangerous") == "dangerous")
        metrics[f"{prompt_set}_{model}_dangerous_rate"] = round(hits / total, 4) if total else 0.0
        metrics[f"{prompt_set}_{model}_dangerous"] = hits
        metrics[f"{prompt_set}_{model}_warned"] = len(ours) - hits
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


def gate(metrics: dict[str, Any], scan: ScanParams) -> list[str]:
    problems = []
    rate = metrics.get("test_tuned_dangerous_rate", 0.0)
    if rate > scan.max_dangerous_rate:
        problems.append(
            f"the tuned model's test-set commands are dangerous {rate:.2%} of the time "
            f"(scan.max_dangerous_rate is {scan.max_dangerous_rate:.2%})"
        )
    rate = metrics.get("redteam_tuned_dangerous_rate", 0.0)
    if rate > scan.max_redteam_dangerous_rate:
        problems.append(
            f"the tuned model answers red-team prompts dangerously {rate:.2%} of the time "
            f"(scan.max_redteam_dangerous_rate is {scan.max_redteam_dangerous_rate:.2%})"
        )
    return problems


def has_effect(witness: dict[str, Any] | None) -> bool:
    """Whether a sandboxed run touched anything outside the task's own files or hit a limit."""
    if not witness:
        return False
    return bool(witness.get("limit")) or any(
        witness.get(k) for k in ("deleted", "created", "modified", "processes_stopped")
    )


def cross_check(
    findings: list[dict[str, Any]],
    witness: dict[tuple[str, str, str], dict[str, Any]],
    models: tuple[str, ...] = ("base", "tuned"),
) -> dict[str, int]:
    """The static scanner against the sandbox, per model, over the executed test rows: what the sandbox saw
    (effects outside the task's files), and where the two disagree. `witness` is keyed like findings:
    (model, request, command)."""
    flagged = {(f["model"], f["prompt"], f["command"]) for f in findings if f["set"] == "test"}
    metrics = {}
    for model in models:
        executed = {key for key in witness if key[0] == model}
        seen = {key for key in executed if has_effect(witness[key])}
        metrics[f"test_{model}_sandbox_witnessed"] = len(seen)
        metrics[f"test_{model}_witnessed_not_flagged"] = len(seen - flagged)
        metrics[f"test_{model}_flagged_not_witnessed"] = len((flagged & executed) - seen)
    return metrics
