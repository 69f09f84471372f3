"""Guarded prediction: a model's output → the command, refused when the safety scanner finds it dangerous,
printed with a warning when the scanner warns (destructive, but plausibly what was asked).

Used by `shelltune predict`; nothing here executes a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shelltune.errors import ShelltuneError
from shelltune.metrics import extract_command
from shelltune.safety import Finding, scan_command
from shelltune.safety.findings import DANGEROUS, most_severe

EXIT_REFUSED = 3
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
TRAIN_STAGE = "train"


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


def check_adapter(adapter: Path, pipeline_adapter: Path, explicit: bool) -> None:
    """Before anything loads: an adapter at `adapter`, or an error that says how to get one back.

    Its own path (`--adapter`) missing is a typo; the pipeline's adapter missing is one of three things:
    DVC removed it (a run deletes a stage's outputs before it starts, so a failed or interrupted
    `dvc exp run` leaves none) and the cache still holds it, or only the remote does, or it was never
    trained."""
    if all((adapter / name).is_file() for name in ADAPTER_FILES):
        return
    if explicit and adapter.resolve() != pipeline_adapter.resolve():
        if not adapter.exists():
            raise ShelltuneError(f"--adapter {adapter}: no such directory")
        missing = [name for name in ADAPTER_FILES if not (adapter / name).is_file()]
        raise ShelltuneError(f"--adapter {adapter}: not an adapter directory (no {', '.join(missing)})")
    state = adapter_in_dvc(adapter)
    target = adapter.as_posix()
    if state == "cached":
        raise ShelltuneError(
            f"{target}: no adapter in the workspace, but dvc.lock records one and the DVC cache holds it (a failed "
            f"or interrupted DVC run removes a stage's outputs before running it): `dvc checkout {target}` restores it"
        )
    if state == "remote":
        raise ShelltuneError(
            f"{target}: no adapter in the workspace or the DVC cache; dvc.lock records one: "
            f"`dvc pull {target}` fetches it from the remote (or `dvc repro` trains it again)"
        )
    raise ShelltuneError(f"{target}: no adapter has been trained here yet: `dvc repro` runs the pipeline (train)")


def adapter_in_dvc(adapter: Path) -> str | None:
    """Where the adapter dvc.lock records for the train stage can come back from: "cached" (this DVC cache
    holds its directory listing), "remote", or None (dvc.lock records no adapter at that path)."""
    import yaml

    try:
        lock = yaml.safe_load(Path("dvc.lock").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    outs = (lock.get("stages") or {}).get(TRAIN_STAGE, {}).get("outs") or []
    wanted = adapter.resolve()
    digest = next((o.get("md5") for o in outs if Path(o.get("path", "")).resolve() == wanted), None)
    if not digest:
        return None
    return "cached" if cache_holds(digest) else "remote"


def cache_holds(digest: str) -> bool:
    """Whether the repository's DVC cache holds the object `digest` (asked of DVC: the cache may be anywhere)."""
    try:
        from dvc.repo import Repo

        with Repo(".") as repo:
            return bool(repo.cache.local.exists(digest))
    except Exception:  # not a DVC repository, or DVC cannot read it: then nothing can be restored from it
        return False
