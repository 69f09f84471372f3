"""Fixture worlds from params: the built-in seeded world, or one a user's setup script builds.

A setup script works like an InterCode-style benchmark's: it runs once inside the sandbox, as the
sandbox's user, in ~/project, with the fixture's environment variables, on a bare world (the usual top
level, /etc with a passwd and group, an empty home and project directory). It may write the writable trees
(/home, /opt, /srv, /tmp, /var), files under /etc, and new top-level directories (/testbed, /workspace):
what it leaves there becomes the pristine tree every command then starts from, each new top-level directory
one more tree every run gets a copy of. The host's /usr, /bin, /lib... stay read-only. It gets the same
isolation as the commands (no network: it can only use what the host has installed, so the tools it needs
are declared in `execute.fixture.needs` and checked before it runs), with a longer wall clock, and a fake
clock an hour before the commands' (`SETUP_LEAD_S`). Files it writes get the kernel's real time as their
mtime, and archives it makes copy those times inside: both are set to the setup's fake start afterwards
(archives.py), so the world is the same whatever day it is built.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from shelltune.errors import ShelltuneError
from shelltune.sandbox.archives import Clock
from shelltune.sandbox.archives import normalize as normalize_archive
from shelltune.sandbox.builtin import build_builtin
from shelltune.sandbox.clock import anchor_of
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.runner import Execution, Sandbox, first_line
from shelltune.sandbox.world import (
    CWD,
    HOME,
    HOSTNAME,
    SKELETON,
    WRITABLE,
    Tree,
    World,
    atime_for,
    base_env,
    set_times,
    skeleton,
)

SETUP_WALL_S = 120.0
SETUP_LEAD_S = 3600  # the setup script's clock starts this long before the commands'


def build_world(
    kind: str,
    setup: str | None,
    env: dict[str, str],
    seed: int,
    dest: Path,
    clock: int,
    limits: Limits,
    needs: tuple[str, ...] = (),
) -> World:
    """The pristine world under dest for a fixture of `kind` ("builtin" or "script"); every run in it starts
    its fake clock at `clock` (epoch seconds). `needs`: tools that must be installed (checked first)."""
    if kind == "builtin":
        check_needs(needs)
        return build_builtin(seed, dest, clock)
    if setup is None:
        raise ShelltuneError("execute.fixture.setup: a script fixture needs the setup script's path")
    return build_from_script(Path(setup), env, dest, clock, limits, needs)


def build_from_script(
    script: Path, env: dict[str, str], dest: Path, clock: int, limits: Limits, needs: tuple[str, ...] = ()
) -> World:
    try:
        text = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShelltuneError(f"execute.fixture.setup: cannot read {script}: {exc}") from None
    check_needs(needs)
    bare = bare_world(dest, clock - SETUP_LEAD_S)
    setup_limits = replace(limits, wall_s=max(SETUP_WALL_S, limits.wall_s), cpu_s=max(60, limits.cpu_s))
    adopted: list[tuple[str, ...]] = []
    with Sandbox(bare, setup_limits, env, setup=True) as sandbox:
        run = sandbox.run(
            text,
            slot=0,
            keep=lambda root, window: adopted.append(adopt(root, bare.root, window, bare.clock, atime_for(clock))),
        )
    if run.status != 0 or run.error is not None:
        raise ShelltuneError(f"execute.fixture.setup: {script} failed in the sandbox ({setup_failure(run)}); {WHERE}")
    writable = adopted[0] if adopted else WRITABLE
    world = World(bare.root, base_env(anchor_of(clock)), clock, (), CWD, HOSTNAME, writable)
    world.save()
    return world.with_manifest()


WHERE = (
    "a setup script may write /home, /opt, /srv, /tmp, /var, files under /etc and new top-level directories; "
    "the host's /usr, /bin, /sbin and /lib are read-only, and there is no network"
)


def setup_failure(run: Execution) -> str:
    """Why a setup run failed, in one line: its exit status, the limit or harness error, and the first
    line of its stderr (the first error is the one that explains the rest)."""
    parts = [f"exit {run.status}"]
    if run.limit:
        parts.append(f"limit {run.limit}")
    if run.error:
        parts.append(run.error)
    first = first_line(run.stderr)
    return ": ".join([", ".join(parts), first] if first else [", ".join(parts)])


# Tools a benchmark's setup scripts use that a minimal host may lack, and the Debian/Ubuntu package
# providing each (execute.fixture.needs also takes `tool=package` for any other).
PACKAGES = {
    "tree": "tree",
    "cal": "ncal",
    "ncal": "ncal",
    "cpio": "cpio",
    "crontab": "cron",
    "zip": "zip",
    "unzip": "unzip",
    "rsync": "rsync",
    "jq": "jq",
    "sqlite3": "sqlite3",
    "xxd": "xxd",
    "bc": "bc",
    "file": "file",
    "git": "git",
    "column": "bsdextrautils",
    "hexdump": "bsdextrautils",
    "bzip2": "bzip2",
    "xz": "xz-utils",
    "7z": "p7zip-full",
    "lsof": "lsof",
    "ss": "iproute2",
    "ip": "iproute2",
    "ps": "procps",
    "pgrep": "procps",
    "python3": "python3",
    "perl": "perl",
    "make": "make",
    "gcc": "gcc",
}


def check_needs(needs: tuple[str, ...]) -> None:
    """Every tool the setup (and the benchmark's commands) need is on the sandbox's PATH, which searches
    the host's /usr and /bin: else one error naming each missing tool and the package to install."""
    path = base_env(0)["PATH"]
    missing = []
    for need in needs:
        tool, _, package = need.partition("=")
        if shutil.which(tool, path=path) is None:
            missing.append(f"`{tool}` (apt install {package or PACKAGES.get(tool, tool)})")
    if missing:
        raise ShelltuneError(
            f"execute.fixture.needs: not installed on this host: {', '.join(missing)}; "
            "the sandbox runs the host's own /usr, so install them there"
        )


def bare_world(dest: Path, clock: int) -> World:
    """The top level, an /etc naming the sandbox's user, an empty home and project directory."""
    anchor = anchor_of(clock)
    tree = Tree(default_mtime=anchor, atime=atime_for(clock))
    skeleton(tree)
    tree.file(
        "etc/passwd",
        f"root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:user:{HOME}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    )
    tree.file("etc/group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")
    tree.file("etc/hostname", f"{HOSTNAME}\n")
    tree.file("etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n")
    tree.dir(CWD.strip("/"))
    root = dest / "tree"
    dest.mkdir(parents=True)
    tree.write(root)
    set_times(root, anchor, atime_for(clock))
    return World(root, base_env(anchor), clock, (), CWD, HOSTNAME).with_manifest()


def adopt(
    run_root: Path, world_root: Path, window: tuple[float, float], written_at: int, atime: int
) -> tuple[str, ...]:
    """Make a setup run's trees the world's: the writable ones, /etc, and every new top-level directory,
    copied back as root's, every mtime the kernel stamped during the run (inside its real `window`) and
    every such time inside an archive set to `written_at`, atimes set to the world's. Returns the trees
    each later run gets a copy of: the usual ones and the new top-level directories."""
    low, high = int((window[0] - 1) * 1e9), int((window[1] + 1) * 1e9)
    clock = Clock(window[0], window[1], written_at)
    root_mtime = os.lstat(world_root).st_mtime_ns  # replacing its subtrees below moves it: put it back after
    new = tuple(
        sorted(
            name
            for name in os.listdir(run_root)
            if name not in SKELETON and (run_root / name).is_dir() and not (run_root / name).is_symlink()
        )
    )
    for name in (*WRITABLE, "etc", *new):
        if (world_root / name).exists():
            shutil.rmtree(world_root / name)
        shutil.copytree(run_root / name, world_root / name, symlinks=True)
        if name == "etc":
            for placed in ("ld.so.preload", "faketimerc"):  # each sandbox puts its own (runner.preload_clock)
                (world_root / "etc" / placed).unlink(missing_ok=True)
        for dirpath, dirnames, filenames in os.walk(world_root / name, topdown=False):
            for entry in [*filenames, *dirnames, ""]:
                path = os.path.join(dirpath, entry) if entry else dirpath
                if entry in filenames and not os.path.islink(path):
                    normalize_archive(Path(path), clock)
                mtime = os.lstat(path).st_mtime_ns
                os.lchown(path, 0, 0)
                mtime = written_at * 10**9 if low <= mtime <= high else mtime
                os.utime(path, ns=(atime * 10**9, mtime), follow_symlinks=False)
    os.utime(world_root, ns=(atime * 10**9, root_mtime))
    return (*WRITABLE, *new)
