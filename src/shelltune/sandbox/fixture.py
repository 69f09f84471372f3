"""Fixture worlds from params: the built-in seeded world, or one a user's setup script builds.

A setup script works like an InterCode-style benchmark's: it runs once inside the sandbox, as the
sandbox's user, in ~/project, with the fixture's environment variables, on a bare world (the usual top
level, /etc with a passwd and group, an empty home and project directory). What it leaves in the writable
trees (/home, /opt, /srv, /tmp, /var) becomes the pristine tree every command then starts from. It gets
the same isolation as the commands (no network: it can only use what the host has installed), with a
longer wall clock.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from shelltune.errors import ShelltuneError
from shelltune.sandbox.builtin import build_builtin
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.runner import Sandbox
from shelltune.sandbox.world import (
    ATIME_AHEAD_S,
    CWD,
    HOME,
    HOSTNAME,
    WRITABLE,
    Tree,
    World,
    base_env,
    skeleton,
)

DAY = 86400
SETUP_WALL_S = 120.0


def today(now: float | None = None) -> int:
    """Midnight UTC of the current day: the built-in world's mtimes are whole days before it."""
    return int(time.time() if now is None else now) // DAY * DAY


def build_world(kind: str, setup: str | None, env: dict[str, str], seed: int, dest: Path, anchor: int,
                limits: Limits) -> World:
    """The pristine world under dest for a fixture of `kind` ("builtin" or "script")."""
    if kind == "builtin":
        return build_builtin(seed, dest, anchor)
    if setup is None:
        raise ShelltuneError("execute.fixture.setup: a script fixture needs the setup script's path")
    return build_from_script(Path(setup), env, dest, anchor, limits)


def build_from_script(script: Path, env: dict[str, str], dest: Path, anchor: int, limits: Limits) -> World:
    try:
        text = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShelltuneError(f"execute.fixture.setup: cannot read {script}: {exc}") from None
    bare = bare_world(dest, anchor)
    setup_limits = replace(limits, wall_s=max(SETUP_WALL_S, limits.wall_s), cpu_s=max(60, limits.cpu_s))
    with Sandbox(bare, setup_limits, env) as sandbox:
        run = sandbox.run(text, slot=0, keep=lambda root: adopt(root, bare.root, WRITABLE))
    if run.status != 0:
        why = run.limit or (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise ShelltuneError(f"execute.fixture.setup: {script} failed in the sandbox (exit {run.status}): {why}")
    world = World(bare.root, bare.env, (), CWD, HOSTNAME)
    world.save()
    return world.with_manifest()


def bare_world(dest: Path, anchor: int) -> World:
    """The top level, an /etc naming the sandbox's user, an empty home and project directory."""
    tree = Tree(default_mtime=anchor)
    skeleton(tree)
    tree.file("etc/passwd", f"root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:user:{HOME}:/bin/bash\n"
                            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    tree.file("etc/group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")
    tree.file("etc/hostname", f"{HOSTNAME}\n")
    tree.file("etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n")
    tree.dir(CWD.strip("/"))
    root = dest / "tree"
    dest.mkdir(parents=True)
    tree.write(root)
    return World(root, base_env(anchor), (), CWD, HOSTNAME).with_manifest()


def adopt(run_root: Path, world_root: Path, writable: tuple[str, ...]) -> None:
    """Make a run's writable trees the world's: copied back as root's, atimes put ahead like Tree's."""
    for name in writable:
        shutil.rmtree(world_root / name)
        shutil.copytree(run_root / name, world_root / name, symlinks=True)
        for dirpath, dirnames, filenames in os.walk(world_root / name, topdown=False):
            for entry in [*filenames, *dirnames, ""]:
                path = os.path.join(dirpath, entry) if entry else dirpath
                st = os.lstat(path)
                os.lchown(path, 0, 0)
                os.utime(path, ns=(st.st_mtime_ns + ATIME_AHEAD_S * 10**9, st.st_mtime_ns), follow_symlinks=False)
