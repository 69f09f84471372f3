"""A control group per run: the total memory and the number of processes of everything a command starts.

rlimits are per process (RLIMIT_AS) or per uid (RLIMIT_NPROC); a cgroup bounds the whole run, whatever
it forks. Where the host allows it, every run gets a fresh group below this process's own:

- cgroup v2 (unified) when this process's group offers the `memory` and `pids` controllers and may have
  children with them: the root group, or a delegated one named by $SHELLTUNE_CGROUP (e.g. made with
  `systemd-run --user -p Delegate=yes`);
- else cgroup v1, when the `memory` and `pids` hierarchies are mounted and this process's group in each is
  writable (root);
- else none: the sandbox then relies on its rlimits (per process), its seccomp filter (no memfd, no System
  V shared memory) and its capped file system, and docs/execution.md says what that leaves.

The worker process itself steps into the run's groups just long enough to start the sandbox (its child is
born inside, so nothing it starts can run outside for an instant), then steps back. Charges do not move
with a process, so the worker's own memory never counts against a run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_ENV = "SHELLTUNE_CGROUP"
V2_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
V1_ROOT = "/sys/fs/cgroup"
PREFIX = "shelltune"


@dataclass(frozen=True)
class RunGroup:
    """One run's groups: a directory per hierarchy (one for v2; memory and pids for v1)."""

    version: int
    memory: Path
    pids: Path

    def oom_killed(self) -> bool:
        """Did the kernel kill a process of this run for going over its memory limit?"""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.memory / name).read_text()
        except OSError:
            return False
        counts = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
        return int(counts.get("oom_kill", "0")) > 0


@dataclass
class Cgroups:
    """Where this process makes its runs' groups, and the groups it came from (to step back into)."""

    version: int
    memory_parent: Path
    pids_parent: Path
    memory_home: Path
    pids_home: Path
    made: int = 0

    @classmethod
    def detect(cls) -> Cgroups | None:
        """The groups this host lets this process make, or None (see the module docstring)."""
        return detect_v2() or detect_v1()

    @contextlib.contextmanager
    def run_group(self, memory_bytes: int, processes: int) -> Iterator[RunGroup]:
        """A fresh group for one run with its limits; removed afterwards (once its processes are gone)."""
        self.made += 1
        name = f"{PREFIX}-{os.getpid()}-{self.made}"
        group = RunGroup(self.version, self.memory_parent / name, self.pids_parent / name)
        for directory in {group.memory, group.pids}:
            directory.mkdir()
        try:
            if self.version == 2:
                write(group.memory / "memory.max", str(memory_bytes))
                write(group.memory / "memory.swap.max", "0", missing_ok=True)
            else:
                write(group.memory / "memory.limit_in_bytes", str(memory_bytes))
                write(group.memory / "memory.memsw.limit_in_bytes", str(memory_bytes), missing_ok=True)
            write(group.pids / "pids.max", str(processes))
            yield group
        finally:
            for directory in {group.memory, group.pids}:
                remove_group(directory)

    @contextlib.contextmanager
    def inside(self, group: RunGroup) -> Iterator[None]:
        """This process inside `group` (so that what it starts is born there), then back home."""
        me = str(os.getpid())
        write(group.memory / "cgroup.procs", me)
        if group.pids != group.memory:
            write(group.pids / "cgroup.procs", me)
        try:
            yield
        finally:
            write(self.memory_home / "cgroup.procs", me)
            if self.pids_home != self.memory_home:
                write(self.pids_home / "cgroup.procs", me)


def detect_v2() -> Cgroups | None:
    chosen = os.environ.get(CGROUP_ENV)
    if chosen:
        parent = Path(chosen)
    else:
        own = own_groups().get("")
        if own != "/":  # outside the root group a child would need our group emptied first
            return None
        parent = next((Path(r) for r in V2_ROOTS if (Path(r) / "cgroup.subtree_control").exists()), None)
        if parent is None:
            return None
    try:
        available = set((parent / "cgroup.controllers").read_text().split())
        if not {"memory", "pids"} <= available:
            return None
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not {"memory", "pids"} <= enabled:
            write(parent / "cgroup.subtree_control", "+memory +pids")
        home = mount_of(parent) / own_groups().get("", "/").lstrip("/")
        probe(parent)
    except OSError:
        return None
    return Cgroups(2, parent, parent, home, home)


def detect_v1() -> Cgroups | None:
    groups = own_groups()
    homes = {}
    for controller in ("memory", "pids"):
        relative = groups.get(controller)
        if relative is None or not Path(V1_ROOT, controller, "cgroup.procs").exists():
            return None
        homes[controller] = Path(V1_ROOT, controller) / relative.lstrip("/")
    try:
        for home in homes.values():
            probe(home)
    except OSError:
        return None
    return Cgroups(1, homes["memory"], homes["pids"], homes["memory"], homes["pids"])


def own_groups() -> dict[str, str]:
    """controller -> this process's group path ("" for the unified hierarchy), from /proc/self/cgroup."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller.removeprefix("name=")] = path
    return groups


def mount_of(path: Path) -> Path:
    for root in V2_ROOTS:
        if str(path).startswith(root) and (Path(root) / "cgroup.controllers").exists():
            return Path(root)
    return path


def probe(parent: Path) -> None:
    """Can this process make (and remove) a group here? Leftovers of a process that died are removed."""
    for stale in parent.glob(f"{PREFIX}-*"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not Path("/proc", pid).exists():
            remove_group(stale, tries=1)
    test = parent / f"{PREFIX}-{os.getpid()}-probe"
    test.mkdir(exist_ok=True)
    test.rmdir()


def write(path: Path, value: str, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except FileNotFoundError:
        if not missing_ok:
            raise


def remove_group(directory: Path, tries: int = 100) -> None:
    """rmdir a group once its processes have exited (a namespace's teardown takes a moment); give up
    quietly after `tries` (a later probe removes it)."""
    for _ in range(tries):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return
            time.sleep(0.01)
