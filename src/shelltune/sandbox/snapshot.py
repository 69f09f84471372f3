"""Copies of the fixture world and what a command changed in them.

A run copies the pristine tree's writable parts (sparse files stay sparse), then records each copied
entry's inode and ctime. Afterwards only entries whose ctime moved are read again: no process can set
ctime, so an entry with the same inode and ctime is byte for byte what was copied. The result is a map
from sandbox path to the entry's new state (type, permission bits, content digest, and whether an
existing file's mtime changed), or None for a deleted path. Owners are not compared: every file in a
sandbox belongs to its one user.

Git's index caches stat data (inode, ctime) that differs in every copy; it is compared by its entries
(path, mode, object id, stage) instead, so `git status` refreshing it is not an effect. Reflogs are
compared by the moves they record, not by their free-text messages.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "link", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


@dataclass(frozen=True)
class Entry:
    kind: str
    mode: int  # permission bits, setuid/setgid/sticky included
    digest: str  # sha256 of a file's content, a link's target; "" for the rest
    mtime_ns: int


@dataclass(frozen=True)
class Change:
    """An entry's state after a command. `touched`, for a file that existed before: "" when its mtime did
    not change, "now" when it moved into the run's time window on either clock (the kernel's real one
    stamps `touch f` and any write; `touch -d now f` asks the fake one), else the new mtime in whole seconds
    (`touch -d 2020-01-01 f`, `touch -r other f`, `touch -d yesterday f`: the fake clock makes that one the
    same every day). New files' mtimes are not compared: `cp` and `mv` of the same file differ only there."""

    kind: str
    mode: int
    digest: str
    touched: str = ""

    def as_list(self) -> list[object]:
        return [self.kind, f"{self.mode:04o}", self.digest[:16], self.touched]


Manifest = dict[str, Entry]
Copied = dict[str, tuple[int, int]]  # path -> (inode, ctime_ns) right after copying


def scan_tree(root: Path, subtrees: tuple[str, ...]) -> Manifest:
    """Every entry under root/<subtree>, keyed by its path inside the sandbox."""
    return {"/" + rel: entry_of(full, st) for rel, full, st in walk(str(root), subtrees)}


def walk(root: str, subtrees: tuple[str, ...]) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, full path, lstat) of each entry, parents first; never follows links.
    Relative paths are built by concatenation: os.path.relpath was a third of a run's time."""
    for top in subtrees:
        start = os.path.join(root, top)
        try:
            st = os.lstat(start)
        except FileNotFoundError:
            continue
        yield top, start, st
        stack = [(top, start)] if stat.S_ISDIR(st.st_mode) else []
        while stack:
            rel_dir, full_dir = stack.pop()
            with os.scandir(full_dir) as listing:
                entries = sorted(listing, key=lambda e: e.name)
            for item in entries:
                rel = f"{rel_dir}/{item.name}"
                st = item.stat(follow_symlinks=False)
                yield rel, item.path, st
                if stat.S_ISDIR(st.st_mode):
                    stack.append((rel, item.path))


def entry_of(full: str, st: os.stat_result) -> Entry:
    kind = KINDS.get(stat.S_IFMT(st.st_mode), "other")
    digest = ""
    if kind == "file":
        digest = file_digest(full)
    elif kind == "link":
        digest = hashlib.sha256(os.fsencode(os.readlink(full))).hexdigest()
    return Entry(kind, stat.S_IMODE(st.st_mode), digest, st.st_mtime_ns)


def file_digest(full: str) -> str:
    # O_NOFOLLOW | O_NONBLOCK: never follow a link or hang on something that turned into a FIFO.
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    if full.endswith("/.git/index"):
        entries = git_index_entries(data)
        if entries is not None:
            return hashlib.sha256(b"git-index\0" + entries).hexdigest()
    if "/.git/logs/" in full:
        return hashlib.sha256(b"git-reflog\0" + reflog_moves(data)).hexdigest()
    return hashlib.sha256(data).hexdigest()


def reflog_moves(data: bytes) -> bytes:
    """A reflog's old and new object ids per line. The message after them says how the ref moved
    ("branch: Created from HEAD" or "...from main") and differs between equivalent commands."""
    return b"\n".join(b" ".join(line.split(b" ", 2)[:2]) for line in data.splitlines())


def git_index_entries(data: bytes) -> bytes | None:
    """Path, mode, object id and stage of each entry of a version 2 or 3 git index, stat data left out;
    None for anything else (the raw bytes are compared then)."""
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3):
        return None
    pos, parts = 12, []
    try:
        for _ in range(count):
            mode = data[pos + 24 : pos + 28]
            oid = data[pos + 40 : pos + 60]
            flags = struct.unpack(">H", data[pos + 60 : pos + 62])[0]
            header = 62 + (2 if version == 3 and flags & 0x4000 else 0)
            end = data.index(b"\0", pos + header)
            parts.append(mode + oid + bytes([(flags >> 12) & 3]) + data[pos + header : end] + b"\0")
            pos += (end - pos + 8) // 8 * 8  # entries are NUL-padded to a multiple of 8 bytes
    except (ValueError, struct.error):
        return None
    return b"".join(parts)


def copy_world(src: Path, dst: Path, uid: int | None, writable: tuple[str, ...]) -> Copied:
    """Copy src into dst: the writable subtrees in full, every other top-level directory as an empty
    mount point. Modes and times are kept; with `uid` everything is handed to that uid."""
    os.mkdir(dst)
    copied: Copied = {}
    dirs: list[tuple[str, os.stat_result]] = []
    for name in sorted(os.listdir(src)):
        st = os.lstat(os.path.join(src, name))
        if name not in writable and stat.S_ISDIR(st.st_mode):
            os.mkdir(os.path.join(dst, name))
            dirs.append((name, st))
    for rel, full, st in walk(str(src), writable):
        target = os.path.join(dst, rel)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFDIR:
            os.mkdir(target)
            dirs.append((rel, st))
        elif kind == stat.S_IFREG:
            copied["/" + rel] = copy_file(full, target, st, uid)
        elif kind in (stat.S_IFLNK, stat.S_IFIFO):
            if kind == stat.S_IFLNK:
                os.symlink(os.readlink(full), target)
            else:
                os.mkfifo(target)
            copied["/" + rel] = finish(target, st, uid)
        # sockets and devices are not part of a fixture
    # Directories last, deepest first: creating their entries moved their mtimes.
    for rel, st in reversed(dirs):
        ident = finish(os.path.join(dst, rel), st, uid)
        if rel.split("/")[0] in writable:
            copied["/" + rel] = ident
    finish(str(dst), os.lstat(src), uid)
    return copied


def copy_file(full: str, target: str, st: os.stat_result, uid: int | None) -> tuple[int, int]:
    """Copy a regular file with its mode, owner and times, all through its descriptor; sparse files
    keep their holes. Returns (inode, ctime) after the last change."""
    source = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if st.st_blocks * 512 < st.st_size:
            copy_sparse(source, out, st.st_size)
        else:
            while chunk := os.read(source, 1 << 20):
                os.write(out, chunk)
        if uid is not None:
            os.fchown(out, uid, uid)
        os.fchmod(out, stat.S_IMODE(st.st_mode))
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        after = os.fstat(out)
    finally:
        os.close(source)
        os.close(out)
    return after.st_ino, after.st_ctime_ns


def copy_sparse(source: int, out: int, size: int) -> None:
    """Copy only the data regions, so a large sparse file costs nothing to copy."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(source, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole remains
                break
            raise
        end = os.lseek(source, start, os.SEEK_HOLE)
        os.lseek(source, start, os.SEEK_SET)
        os.lseek(out, start, os.SEEK_SET)
        remaining = end - start
        while remaining > 0:
            chunk = os.read(source, min(remaining, 1 << 20))
            os.write(out, chunk)
            remaining -= len(chunk)
        pos = end
    os.ftruncate(out, size)


def finish(target: str, st: os.stat_result, uid: int | None) -> tuple[int, int]:
    """Owner, mode and times of a copied entry; returns its (inode, ctime) once nothing else will touch it."""
    link = stat.S_ISLNK(st.st_mode)
    if uid is not None:
        os.lchown(target, uid, uid)
    if not link:
        os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    after = os.lstat(target)
    return after.st_ino, after.st_ctime_ns


Window = tuple[float, float]


def diff_tree(
    manifest: Manifest, root: Path, copied: Copied, windows: tuple[Window, ...] = ()
) -> dict[str, Change | None]:
    """What differs between the pristine manifest and the copy at root after a command ran in it;
    `windows` are the run's spans in epoch seconds on the kernel's clock and the fake one (Change.touched)."""
    subtrees = tuple(sorted({path.split("/")[1] for path in manifest}))
    changes: dict[str, Change | None] = {}
    seen = set()
    for rel, full, st in walk(str(root), subtrees):
        path = "/" + rel
        seen.add(path)
        if copied.get(path) == (st.st_ino, st.st_ctime_ns):
            continue
        now, before = entry_of(full, st), manifest.get(path)
        same = before is not None and (now.kind, now.mode, now.digest) == (before.kind, before.mode, before.digest)
        # git rewrites its index whenever it refreshes stat data: its entries (the digest) are what counts
        # ...and freshens (touches) an object's pack when it is asked to store that object again
        moved = (
            before is not None
            and now.kind == "file"
            and now.mtime_ns != before.mtime_ns
            and not path.endswith("/.git/index")
            and "/.git/objects/" not in path
        )
        touched = mtime_class(now.mtime_ns, windows) if moved else ""
        if not same or touched:
            changes[path] = Change(now.kind, now.mode, now.digest, touched)
    for path in manifest.keys() - seen:
        changes[path] = None
    return changes


def mtime_class(mtime_ns: int, windows: tuple[Window, ...]) -> str:
    seconds = mtime_ns / 1e9
    return "now" if any(start - 1 <= seconds <= end + 1 for start, end in windows) else str(int(seconds))


def remove_tree(path: Path) -> None:
    """Delete a run's copy whatever the command left in it (directories without permissions included)."""

    def unlock(func, name, _exc):  # only matters without root: give ourselves access back, retry once
        parent = os.path.dirname(name)
        os.chmod(parent, 0o700)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, 0o700)
        func(name)

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=unlock)
