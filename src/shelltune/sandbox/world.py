"""The shape of a fixture world: the directory tree every sandbox starts from, and how it is mounted.

A world is a directory on the host laid out like a root file system. It is never mounted itself: every
run gets a copy of its writable trees (`WRITABLE`), the rest of its top level as empty mount points, and
its /etc read-only. Host directories (`SYSTEM_DIRS`) and a few host /etc files (`HOST_ETC`: the dynamic
linker's cache, `alternatives`, nsswitch...) are bound read-only on top, so programs run as on the host
while the files a command sees (and its mtimes, down to `ls -la`'s `..`) are the world's own.

Every world has a `clock`: the fixed instant each run's fake clock starts at (clock.py). `Tree` writes
worlds deterministically: contents, modes and mtimes come from the caller, and every atime is the same
instant far ahead of the clock (`ATIME_AHEAD_S`), so that `relatime` never rewrites one when a command reads
a file (zip stores atimes: the same archive would differ from run to run otherwise). relatime also rewrites
an atime more than a day older than the kernel's real time, so this holds until the real date passes
clock + 10 years.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from shelltune.sandbox.clock import anchor_of
from shelltune.sandbox.snapshot import Manifest, scan_tree

SANDBOX_UID = 1000
SANDBOX_GID = 1000
USER = "user"
HOME = "/home/user"
CWD = "/home/user/project"
HOSTNAME = "shelltune"

SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
WRITABLE = ("home", "opt", "srv", "tmp", "var")
MOUNT_POINTS = SYSTEM_DIRS + ("dev", "proc", "run", "sys")
SKELETON = MOUNT_POINTS + ("boot", "etc", "media", "mnt", "root") + WRITABLE
# Host /etc entries programs need (kind must match, or the bind is left out); the world holds empty
# placeholders for them, so the same list gives the same tree on every machine.
HOST_ETC = (
    ("alternatives", "dir"),
    ("ld.so.cache", "file"),
    ("ld.so.conf", "file"),
    ("ld.so.conf.d", "dir"),
    ("nsswitch.conf", "file"),
    ("magic", "file"),
    ("magic.mime", "file"),
    ("mime.types", "file"),
    ("ssl", "dir"),
    ("ca-certificates", "dir"),
    ("terminfo", "dir"),
    ("protocols", "file"),
    ("services", "file"),
    ("inputrc", "file"),
    ("os-release", "file"),
    ("debian_version", "file"),
    ("login.defs", "file"),
    ("gai.conf", "file"),
    ("host.conf", "file"),
    ("perl", "dir"),
    ("python3", "dir"),
    ("python3.11", "dir"),
    ("bash_completion.d", "dir"),
)
ATIME_AHEAD_S = 10 * 365 * 86400
WORLD_JSON = "world.json"  # beside the tree: how to run it (cwd, environment, processes)


@dataclass(frozen=True)
class World:
    """A built fixture: the pristine tree at `root` (a directory named `tree`) and how to run commands in it."""

    root: Path
    env: dict[str, str]
    clock: int  # epoch seconds every run's fake clock starts at
    daemons: tuple[tuple[str, str], ...] = ()  # (process name, argv[0]) of each background process
    cwd: str = CWD
    hostname: str = HOSTNAME
    writable: tuple[str, ...] = WRITABLE  # top-level trees each run gets a copy of (a setup script may add)
    # (argv[0], ports) of the background processes that listen on TCP ports (1024 and up: the sandbox's user
    # has no capability to bind lower ones), on every address of the run's own network namespace
    listening: tuple[tuple[str, tuple[int, ...]], ...] = ()
    manifest: Manifest = field(default_factory=dict, compare=False, repr=False)

    def with_manifest(self) -> World:
        return replace(self, manifest=scan_tree(self.root, self.writable))

    def save(self) -> None:
        meta = {
            "env": self.env,
            "clock": self.clock,
            "daemons": [list(d) for d in self.daemons],
            "listening": [[argv0, list(ports)] for argv0, ports in self.listening],
            "cwd": self.cwd,
            "hostname": self.hostname,
            "writable": list(self.writable),
        }
        (self.root.parent / WORLD_JSON).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, root: Path) -> World:
        meta = json.loads((root.parent / WORLD_JSON).read_text())
        daemons = tuple((name, argv0) for name, argv0 in meta["daemons"])
        writable = tuple(meta.get("writable", WRITABLE))
        listening = tuple((argv0, tuple(ports)) for argv0, ports in meta.get("listening", []))
        world = cls(root, meta["env"], meta["clock"], daemons, meta["cwd"], meta["hostname"], writable, listening)
        return world.with_manifest()


def base_env(anchor: int) -> dict[str, str]:
    """The environment of every command. Git's dates are pinned so commits are the same in every run."""
    return {
        "HOME": HOME,
        "USER": USER,
        "LOGNAME": USER,
        "SHELL": "/bin/bash",
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "TERM": "dumb",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "GIT_AUTHOR_DATE": f"@{anchor} +0000",
        "GIT_COMMITTER_DATE": f"@{anchor} +0000",
    }


class Tree:
    """Files, directories and links to write, each with its mode and mtime; written in one go, every atime
    set to `atime`."""

    def __init__(self, default_mtime: int, atime: int):
        self.default_mtime, self.atime = default_mtime, atime
        self.dirs: dict[str, tuple[int, int]] = {}
        self.files: dict[str, tuple[bytes, int, int, int]] = {}  # content, mode, mtime, sparse size
        self.links: dict[str, tuple[str, int]] = {}

    def dir(self, path: str, mode: int = 0o755, mtime: int | None = None) -> None:
        path = path.strip("/")
        parent = os.path.dirname(path)
        if parent and parent not in self.dirs:
            self.dir(parent)
        self.dirs[path] = (mode, self.default_mtime if mtime is None else mtime)

    def file(
        self, path: str, content: str | bytes, mode: int = 0o644, mtime: int | None = None, sparse_size: int = 0
    ) -> None:
        path = path.strip("/")
        if os.path.dirname(path) not in self.dirs:
            self.dir(os.path.dirname(path))
        data = content.encode() if isinstance(content, str) else content
        self.files[path] = (data, mode, self.default_mtime if mtime is None else mtime, sparse_size)

    def link(self, path: str, target: str, mtime: int | None = None) -> None:
        path = path.strip("/")
        if os.path.dirname(path) not in self.dirs:
            self.dir(os.path.dirname(path))
        self.links[path] = (target, self.default_mtime if mtime is None else mtime)

    def write(self, root: Path) -> None:
        for path in sorted(self.dirs):
            (root / path).mkdir(parents=True, exist_ok=True)
        for path, (data, mode, mtime, sparse) in sorted(self.files.items()):
            with open(root / path, "wb") as handle:
                handle.write(data)
                if sparse:
                    handle.truncate(sparse)  # a hole: the size find/ls/du see, no blocks on disk
            os.chmod(root / path, mode)
            set_times(root / path, mtime, self.atime)
        for path, (target, mtime) in sorted(self.links.items()):
            os.symlink(target, root / path)
            set_times(root / path, mtime, self.atime)
        # Deepest directories first: writing their entries moved their mtimes.
        for path, (mode, mtime) in sorted(self.dirs.items(), key=lambda item: -item[0].count("/")):
            os.chmod(root / path, mode)
            set_times(root / path, mtime, self.atime)


def atime_for(clock: int) -> int:
    """Every atime of a world: one instant far after its clock and any mtime in it, at midnight like the
    anchor (at the clock's time of day, `stat`'s Access line would show the commands' "now")."""
    return anchor_of(clock) + ATIME_AHEAD_S


def set_times(path: Path, mtime: int, atime: int) -> None:
    os.utime(path, (atime, mtime), follow_symlinks=False)


def normalize_times(top: Path, mtime: int, atime: int) -> None:
    """Give everything under `top` (written by a tool, e.g. git) one fixed mtime and the world's atime."""
    paths = [top, *top.rglob("*")]
    for path in sorted(paths, key=lambda p: -len(p.parts)):
        if not path.is_symlink():
            os.chmod(path, stat.S_IMODE(path.lstat().st_mode))
        set_times(path, mtime, atime)


def skeleton(tree: Tree) -> None:
    """The top-level directories every world has (mount points stay empty)."""
    for name in SKELETON:
        tree.dir(name, 0o700 if name == "root" else 0o755)
    tree.dir("tmp", 0o1777)
    for name, kind in HOST_ETC:
        if kind == "dir":
            tree.dir(f"etc/{name}")
        else:
            tree.file(f"etc/{name}", b"")
