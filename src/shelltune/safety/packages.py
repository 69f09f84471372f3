"""Package-manager commands read as what they remove, and the packages a system cannot run without.

Removing a package is routine (`apt-get remove --purge nginx`, an old kernel by its version); removing
the C library, coreutils, the init system, the package manager itself, the running kernel or the
distribution's own Python leaves a machine that no longer boots or can no longer repair itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from shelltune.safety.shellwords import operands, short_flags

ESSENTIAL = frozenset(
    {
        # Debian/Ubuntu: the Essential set, the init system and the Python that apt hooks and tools need
        "libc6",
        "libc-bin",
        "coreutils",
        "bash",
        "dash",
        "dpkg",
        "apt",
        "base-files",
        "base-passwd",
        "debianutils",
        "diffutils",
        "findutils",
        "grep",
        "gzip",
        "hostname",
        "init-system-helpers",
        "login",
        "ncurses-base",
        "ncurses-bin",
        "perl-base",
        "sed",
        "sysvinit-utils",
        "tar",
        "util-linux",
        "mount",
        "systemd",
        "systemd-sysv",
        "libsystemd0",
        "init",
        "python3",
        "python3-minimal",
        "libpam0g",
        "passwd",
        # Red Hat/Fedora/SUSE: glibc, rpm and its managers (dnf and yum are Python programs)
        "glibc",
        "glibc-common",
        "rpm",
        "yum",
        "dnf",
        "zypper",
        "filesystem",
        "setup",
        "libgcc",
        "pam",
        "shadow-utils",
        "python3-libs",
        "kernel",
        "kernel-core",
        # Arch and Alpine
        "linux",
        "base",
        "pacman",
        "musl",
        "busybox",
        "apk-tools",
        "alpine-baselayout",
    }
)
# Names a wildcard is tried against: `linux-image-*` and `kernel-core*` remove every kernel.
KERNEL_SAMPLES = ("linux-image-generic", "linux-image-6.8.0-31-generic", "kernel-core", "kernel")
FORCE_ESSENTIAL = frozenset({"--allow-remove-essential", "--force-remove-essential"})
RUNNING_KERNEL = re.compile(r"\$\(uname -r\)|`uname -r`")


@dataclass(frozen=True)
class Removal:
    manager: str
    packages: list[str]
    forced: bool  # --allow-remove-essential / --force-remove-essential: the flag exists only to remove them


def parse_removal(name: str, args: list[str]) -> Removal | None:
    """The packages `name args` removes (apt, dpkg, rpm, yum/dnf, zypper, pacman, apk), else None."""
    if name in ("apt", "apt-get", "aptitude", "yum", "dnf", "microdnf", "zypper", "apk"):
        words = operands(
            args,
            frozenset(
                {
                    "-o",
                    "-t",
                    "-c",
                    "--option",
                    "--target-release",
                    "--config-file",
                    "--setopt",
                    "--repo",
                    "--enablerepo",
                    "--disablerepo",
                    "-X",
                }
            ),
        )
        verbs = {"remove", "purge", "autoremove", "erase", "rm", "del", "autopurge"}
        if not words or words[0] not in verbs:
            return None
        return Removal(name, words[1:], bool(FORCE_ESSENTIAL & set(args)))
    if name == "dpkg":
        if not ({"r", "P"} & short_flags(args) or {"--remove", "--purge"} & set(args)):
            return None
        return Removal(name, operands(args), bool(FORCE_ESSENTIAL & set(args)))
    # rpm --nodeps and pacman -Rdd skip dependency checks: judged by the packages they name
    if name == "rpm" and ("e" in short_flags(args) or "--erase" in args):
        return Removal(name, operands(args), False)
    if name == "pacman" and ("R" in short_flags(args) or "--remove" in args):
        return Removal(name, operands(args), False)
    return None


def essential_package(package: str) -> str | None:
    """The essential package a removal argument names (`libc6:amd64`, `'linux-image-*'`), else None."""
    if RUNNING_KERNEL.search(package):
        return "the running kernel"
    name = re.split(r"[:=]", package, maxsplit=1)[0]
    if name in ESSENTIAL:
        return name
    if re.search(r"[*?\[]", name):
        matched = next((e for e in (*sorted(ESSENTIAL), *KERNEL_SAMPLES) if fnmatchcase(e, name)), None)
        return f"{name} (which includes {matched})" if matched else None
    return None
