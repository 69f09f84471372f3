"""Fixture worlds from params: the built-in seeded world, or one a user's setup script builds.

A setup script works like an InterCode-style benchmark's: it runs once inside the sandbox, as the
sandbox's user, in ~/project, with the fixture's environment variables, on a bare world (the usual top
level, /etc with a passwd and group, an empty home and project directory). What it leaves in the writable
trees (/home, /opt, /srv, /tmp, /var) becomes the pristine tree every command then starts from. It gets
the same isolation as the commands (no network: it can only use what the host has installed), with a
longer wall clock, and a fake clock an hour before the commands' (`SETUP_LEAD_S`). Files it writes get
the kernel's real time as their mtime; those are set to the setup's fake start afterwards, so the world
is the same whatever day it is built.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from shelltune.errors import ShelltuneError
from shelltune.sandbox.builtin import build_builtin
from shelltune.sandbox.clock import anchor_of
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.runner import Sandbox
from shelltune.sandbox.world import (
    CWD,
    HOME,
    HOSTNAME,
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
    kind: str, setup: str | None, env: dict[str, str], seed: int, dest: Path, clock: int, limits: Limits
) -> World:
    """The pristine world under dest for a fixture of `kind` ("builtin" or "script"); every run in it starts
    its fake clock at `clock` (epoch seconds)."""
    if kind == "builtin":
        return build_builtin(seed, dest, clock)
    if setup is None:
        raise ShelltuneError("execute.fixture.setup: a script fixture needs the setup script's path")
    return build_from_script(Path(setup), env, dest, clock, limits)


def build_from_script(script: Path, env: dict[str, str], dest: Path, clock: int, limits: Limits) -> World:
    try:
        text = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShelltuneError(f"execute.fixture.setup: cannot read {script}: {exc}") from None
    bare = bare_world(dest, clock - SETUP_LEAD_S)
    setup_limits = replace(limits, wall_s=max(SETUP_WALL_S, limits.wall_s), cpu_s=max(60, limits.cpu_s))
    with Sandbox(bare, setup_limits, env) as sandbox:
        run = sandbox.run(
            text,
            slot=0,
            keep=lambda root, window: adopt(root, bare.root, WRITABLE, window, bare.clock, atime_for(clock)),
        )
    if run.status != 0:
        why = run.limit or (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise ShelltuneError(f"execute.fixture.setup: {script} failed in the sandbox (exit {run.status}): {why}")
    world = World(bare.root, base_env(anchor_of(clock)), clock, (), CWD, HOSTNAME)
    world.save()
    return world.with_manifest()


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
    run_root: Path,
    world_root: Path,
    writable: tuple[str, ...],
    window: tuple[float, float],
    written_at: int,
    atime: int,
) -> None:
    """Make a run's writable trees the world's: copied back as root's, every mtime the kernel stamped
    during the run (inside its real `window`) set to `written_at`, atimes set to the world's."""
    low, high = int((window[0] - 1) * 1e9), int((window[1] + 1) * 1e9)
    root_mtime = os.lstat(world_root).st_mtime_ns  # replacing its subtrees below moves it: put it back after
    for name in writable:
        shutil.rmtree(world_root / name)
        shutil.copytree(run_root / name, world_root / name, symlinks=True)
        for dirpath, dirnames, filenames in os.walk(world_root / name, topdown=False):
            for entry in [*filenames, *dirnames, ""]:
                path = os.path.join(dirpath, entry) if entry else dirpath
                mtime = os.lstat(path).st_mtime_ns
                os.lchown(path, 0, 0)
                mtime = written_at * 10**9 if low <= mtime <= high else mtime
                os.utime(path, ns=(atime * 10**9, mtime), follow_symlinks=False)
    os.utime(world_root, ns=(atime * 10**9, root_mtime))
