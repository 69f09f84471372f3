"""The uids sandboxes run as, allocated under a host-wide lock so that no two sandboxes share one.

RLIMIT_NPROC counts per uid, and a sandbox takes a second or two to tear down: two runs with one uid
share one process budget (two stages started at once aborted each other's runs this way). Every Sandbox
(one per worker process) takes a block of `BLOCK` uids for as long as it lives: an exclusive `flock` on
the block's file in a host-wide lock directory. The kernel drops the lock when the process ends however
it ends, so a crashed stage never leaves a block taken. Within its block a sandbox takes the uids in
turn: a uid comes back only after `BLOCK` runs of that sandbox.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from shelltune.errors import ShelltuneError

UID_BASE = 3_100_000  # far above real and subordinate (subuid) ids, and above the range of per-slot uids
# (3,000,000 + slot) that code before the lock used, in case it still runs beside this on one host
BLOCK = 1024
BLOCKS = 96  # uids UID_BASE .. UID_BASE + BLOCKS * BLOCK
LOCK_DIRS = ("/run/lock", "/var/lock", "/tmp")
LOCK_SUBDIR = "shelltune-uids"


def lock_dir() -> Path:
    """A directory every process on the host sees the same way: the first of LOCK_DIRS that exists."""
    for candidate in LOCK_DIRS:
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            path = Path(candidate, LOCK_SUBDIR)
            path.mkdir(mode=0o755, exist_ok=True)
            return path
    raise ShelltuneError(f"no writable lock directory for the sandbox's uids (tried {', '.join(LOCK_DIRS)})")


@dataclass
class UidLease:
    """A block of uids held by this process until `release` (or its end)."""

    block: int
    fd: int
    turn: int = 0

    @classmethod
    def acquire(cls, directory: Path | None = None) -> UidLease:
        directory = directory or lock_dir()
        for block in range(BLOCKS):
            fd = os.open(directory / f"block-{block:03d}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return cls(block, fd)
        raise ShelltuneError(
            f"all {BLOCKS} blocks of sandbox uids are taken ({directory}): too many sandboxes run at once"
        )

    @property
    def first(self) -> int:
        return UID_BASE + self.block * BLOCK

    def next_uid(self) -> int:
        uid = self.first + self.turn % BLOCK
        self.turn += 1
        return uid

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = -1


def is_sandbox_uid(uid: int) -> bool:
    return UID_BASE <= uid < UID_BASE + BLOCKS * BLOCK
