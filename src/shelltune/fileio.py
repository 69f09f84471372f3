"""Atomic file output and JSON/JSONL helpers shared by every stage.

Outputs are written to a temporary file beside the target and moved into place with `os.replace`,
so a stage that fails or is killed never leaves a half-written output behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shelltune.errors import ShelltuneError


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` atomically.

    Works for files and directories: whatever the caller creates at the yielded path is moved.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a run that was killed (kill -9, OOM)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        publish(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(staged: Path, target: Path) -> None:
    """Move a finished file or directory over `target` (same file system: a rename)."""
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(staged, target)


def fresh_dir(path: Path) -> Path:
    """An empty directory at `path` (whatever a killed run left there is removed)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def dumps_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> None:
    write_text(path, dumps_jsonl(rows))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def iter_json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`file:line`, object) for each non-blank line of a user's JSONL file; a line that is not a
    JSON object stops with a ShelltuneError naming the file and line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ShelltuneError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise ShelltuneError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield f"{path}:{number}", record


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file this project wrote (trusted format); user data goes through `formats`."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
