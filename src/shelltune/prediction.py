"""Guarded prediction: a model's output → the command, refused when the safety scanner finds it dangerous.

Used by `shelltune predict`; nothing here executes a command.
"""

from __future__ import annotations

from dataclasses import dataclass

from shelltune.metrics import extract_command
from shelltune.safety import Finding, scan_command

EXIT_REFUSED = 3


@dataclass(frozen=True)
class Answer:
    request: str
    command: str
    refused: bool
    category: str | None = None
    severity: str | None = None
    reason: str | None = None


def guard(request: str, output: str) -> Answer:
    """Extract the command from a model output and refuse it when the scanner finds it dangerous."""
    command = extract_command(output)
    finding: Finding | None = scan_command(command) or (scan_command(output) if output.strip() != command else None)
    if finding is None:
        return Answer(request, command, refused=False)
    return Answer(
        request, command, refused=True, category=finding.category, severity=finding.severity, reason=finding.reason
    )


def render(answer: Answer, show_refused: bool) -> tuple[str, str]:
    """(stdout line, stderr line) for one answer."""
    if not answer.refused:
        return answer.command, ""
    note = f"refused [{answer.category}, {answer.severity}]: {answer.reason} (request: {answer.request!r})"
    shown = f"# refused: {answer.command}" if show_refused else "# refused"
    return shown, note
