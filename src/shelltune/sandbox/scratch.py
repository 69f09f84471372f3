"""Where run copies live: size- and inode-capped tmpfs mounts that only this process (and its sandboxes)
can see.

A command may write as fast as it can until its wall clock ends; the file-size limit caps each file, not
their number. As root, each process that runs sandboxes moves into a mount namespace of its own, mounts a
small tmpfs over its scratch directory (the harness), and for every run a fresh tmpfs of `disk_mb` with a
fixed number of inodes: a run that fills it gets ENOSPC (or, out of inodes, ENOSPC too), nothing else on
the host notices, and the run's whole tree goes with one `umount`, however deep or large the command made
it. Every mount disappears with the process however it ends (even `kill -9`). tmpfs also makes copying the
world about twice as fast as ext4. Without root the scratch directory is a plain temporary directory and
a run's copy is deleted entry by entry (documented in docs/execution.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
MNT_DETACH = 0x2

_private_pid: int | None = None  # the process that already left the host's mount namespace


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_private_mounts() -> None:
    """Give this process its own mount namespace (once), with no propagation back to the host."""
    global _private_pid
    if _private_pid == os.getpid():
        return
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _private_pid = os.getpid()


def mount_tmpfs(path: Path, size_mb: int, inodes: int | None = None) -> None:
    """A tmpfs of size_mb (and `inodes` files and directories at most) over path, traversable by every run
    uid (0711), in this process's namespace."""
    enter_private_mounts()
    options = f"size={size_mb}m,mode=0711{f',nr_inodes={inodes}' if inodes else ''}".encode()
    _check(
        _libc().mount(b"shelltune", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV, options),
        f"mount tmpfs on {path}",
    )


def unmount(path: Path) -> None:
    """Detach the mount at path; the kernel frees its contents once nothing uses them."""
    _check(_libc().umount2(os.fsencode(path), MNT_DETACH), f"unmount {path}")
