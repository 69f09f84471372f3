"""Resource limits of one sandboxed command, and how to tell which one stopped it."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from shelltune.sandbox.snapshot import TreeCaps

MIB = 1024 * 1024

# Exit statuses a shell reports for a child killed by a signal: 128 + signal number.
KILLED = 128 + signal.SIGKILL
CPU_EXCEEDED = 128 + signal.SIGXCPU
FILE_TOO_BIG = 128 + signal.SIGXFSZ

# What programs print when an rlimit refuses them; the exit status alone does not say which limit it was.
STDERR_SIGNS = (
    (
        "memory",
        (
            "Cannot allocate memory",
            "cannot allocate memory",
            "MemoryError",
            "memory exhausted",
            "xmalloc",
            "Out of memory",
            "out of memory",
            "std::bad_alloc",
        ),
    ),
    ("processes", ("fork: retry", "fork: Resource temporarily unavailable", "Resource temporarily unavailable")),
    ("open_files", ("Too many open files",)),
    ("file_size", ("File too large", "File size limit exceeded")),
)


@dataclass(frozen=True)
class Limits:
    """Per-command limits. `processes` counts every process of the run's uid (rlimit semantics), so it also
    covers the fixture's background daemons and the init script; the memory, CPU and file limits are per
    process (setrlimit), the wall clock covers the whole run. Where the host allows a cgroup per run
    (cgroups.py), `memory_mb` + `disk_mb` also bound the run's total memory and `processes` its total
    count. `tree_entries` caps the files and directories the run's tree may hold: the copy's file system
    has that many inodes (plus the world's own), and the host stops reading a tree beyond it."""

    wall_s: float = 5.0
    cpu_s: int = 3
    memory_mb: int = 1024
    processes: int = 64
    file_size_mb: int = 64
    open_files: int = 256
    output_kb: int = 1024
    disk_mb: int = 512  # the tmpfs each run's copy lives in (root only; see scratch.py)
    tree_entries: int = 50_000

    def prlimit_args(self) -> list[str]:
        memory = self.memory_mb * MIB
        size = self.file_size_mb * MIB
        # Soft CPU limit first (SIGXCPU: a status we can name), the hard one a second later (SIGKILL).
        return [
            "prlimit",
            f"--cpu={self.cpu_s}:{self.cpu_s + 1}",
            f"--as={memory}:{memory}",
            f"--nproc={self.processes}:{self.processes}",
            f"--fsize={size}:{size}",
            f"--nofile={self.open_files}:{self.open_files}",
            "--core=0:0",
        ]


def run_inodes(limits: Limits, world_entries: int) -> int:
    """Files and directories a run's tmpfs holds at most: the world's own plus `tree_entries`."""
    return limits.tree_entries + world_entries + 64


def tree_caps(limits: Limits, world_entries: int) -> TreeCaps:
    """What the host reads of a run's tree: every entry its tmpfs can hold (without root, where there is
    no tmpfs, the cap itself), and at most what the tmpfs holds in bytes, plus the git bookkeeping parsed
    in memory."""
    return TreeCaps(entries=run_inodes(limits, world_entries), bytes=(limits.disk_mb + 64) * MIB)


def limit_hit(status: int | None, elapsed_s: float, stderr: str, limits: Limits, output_cut: bool) -> str | None:
    """The limit that most likely stopped a command, or None. Signals are exact; the rest reads stderr."""
    if output_cut:
        return "output"
    if status == KILLED and elapsed_s >= limits.wall_s - 0.05:
        return "wall_clock"
    if status == CPU_EXCEEDED:
        return "cpu"
    if status == FILE_TOO_BIG:
        return "file_size"
    if status not in (None, 0):
        for name, signs in STDERR_SIGNS:
            if any(sign in stderr for sign in signs):
                return name
    if status == KILLED:
        return "killed"
    return None
