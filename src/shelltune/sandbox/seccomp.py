"""The seccomp filter every sandboxed process runs under: a short deny list, as a classic BPF program
bubblewrap loads (`--seccomp FD`). No libseccomp: the program is a dozen instructions written here.

What it denies, and why (rlimits alone let these through):
- `memfd_create`, `memfd_secret`: anonymous files live in memory without counting against RLIMIT_AS;
  with `fallocate` a command held 3 GiB past a 1 GiB address-space cap. ENOSYS, so programs that can do
  without (glib, systemd tools) fall back.
- `shmget`: System V segments stay allocated after they are detached, counted nowhere; a loop of
  shmget/shmat/shmdt holds any amount (the sandbox's IPC namespace frees them only at its end).
- `pidfd_getfd`, `process_vm_readv`, `process_vm_writev`: another process's descriptors and memory. PID 1
  is not dumpable, so the kernel refuses these for it anyway (`runner.py`); denied outright as well.
- `io_uring_*`, `userfaultfd`, `bpf`, `perf_event_open`: kernel attack surface no shell command needs.
- Every system call of another ABI (i386 through `int 0x80`, x32): their numbers differ, so a filter on
  the native numbers would not see them.

On an architecture other than x86-64 and aarch64 there is no filter (`program()` returns None) and the
docs say so; the rest of the sandbox does not depend on it.
"""

from __future__ import annotations

import errno
import platform
import struct

# classic BPF
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
X32_BIT = 0x40000000
# offsets in struct seccomp_data
NR, ARCH = 0, 4

ARCHES = {
    "x86_64": (
        0xC000003E,
        {
            "memfd_create": 319,
            "memfd_secret": 447,
            "shmget": 29,
            "pidfd_getfd": 438,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "userfaultfd": 323,
            "bpf": 321,
            "perf_event_open": 298,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "memfd_create": 279,
            "memfd_secret": 447,
            "shmget": 194,
            "pidfd_getfd": 438,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "userfaultfd": 282,
            "bpf": 280,
            "perf_event_open": 241,
        },
    ),
}
DENIED = {
    "memfd_create": errno.ENOSYS,
    "memfd_secret": errno.ENOSYS,
    "shmget": errno.ENOSYS,
    "pidfd_getfd": errno.EPERM,
    "process_vm_readv": errno.EPERM,
    "process_vm_writev": errno.EPERM,
    "io_uring_setup": errno.ENOSYS,
    "io_uring_enter": errno.ENOSYS,
    "io_uring_register": errno.ENOSYS,
    "userfaultfd": errno.ENOSYS,
    "bpf": errno.ENOSYS,
    "perf_event_open": errno.ENOSYS,
}


def instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)  # struct sock_filter, little-endian on both arches


def program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture, or None where there is none."""
    machine = machine or platform.machine()
    if machine not in ARCHES:
        return None
    audit_arch, numbers = ARCHES[machine]
    code = [
        instruction(LD_W_ABS, ARCH),
        instruction(JEQ_K, audit_arch, 1, 0),
        instruction(RET_K, RET_ERRNO | errno.ENOSYS),  # another ABI: nothing of it runs
        instruction(LD_W_ABS, NR),
    ]
    if machine == "x86_64":
        code += [instruction(JGE_K, X32_BIT, 0, 1), instruction(RET_K, RET_ERRNO | errno.ENOSYS)]
    for name, err in DENIED.items():
        code += [instruction(JEQ_K, numbers[name], 0, 1), instruction(RET_K, RET_ERRNO | err)]
    code.append(instruction(RET_K, RET_ALLOW))
    return b"".join(code)
