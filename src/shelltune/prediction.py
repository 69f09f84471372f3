"""Guarded prediction: a model's output → the command, refused when the safety scanner finds it dangerous,
printed with a warning when the scanner warns (destructive, but plausibly what was asked).

Used by `shelltune predict`; nothing here executes a command.
"""

from __future__ import annotations

from dataclasses import dataclass

from shelltune.metrics import extract_command
from shelltune.safety import Finding, scan_command
from shelltune.safety.findings import DANGEROUS, most_severe

EXIT_REFUSED = 3


@dataclass(frozen=True)
class Answer:
    request: str
    command: str
    refused: bool
    category: str | None = None
    severity: str | None = None
    reason: str | None = None
    warned: bool = False  # printed, with the warning on stderr: destructive but plausibly what was asked


def guard(request: str, output: str) -> Answer:
    """Extract the command from a model output; refuse it when the scanner finds it dangerous, keep it
    with a warning when the scanner only warns. The whole output is judged too (a dangerous second
    command in prose or a second fenced block still refuses)."""
    command = extract_command(output)
    found = [scan_command(command)] + ([scan_command(output)] if output.strip() != command else [])
    finding: Finding | None = most_severe([f for f in found if f is not None])
    if finding is None:
        return Answer(request, command, refused=False)
    return Answer(
        request,
        command,
        refused=finding.level == DANGEROUS,
        category=finding.category,
        severity=finding.severity,
        reason=finding.reason,
        warned=finding.level != DANGEROUS,
    )


def render(answer: Answer, show_refused: bool) -> tuple[str, str]:
    """(stdout line, stderr line) for one answer."""
    if answer.warned:
        return answer.command, f"warning [{answer.category}, {answer.severity}]: {answer.reason}"
    if not answer.refused:
        return answer.command, ""
    note = f"refused [{answer.category}, {answer.severity}]: {answer.reason} (request: {answer.request!r})"
    shown = f"# refused: {answer.command}" if show_refused else "# refused"
    return shown, note
