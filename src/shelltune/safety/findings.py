"""What the scanner reports: a category with its severity, a level, why, and the part of the command that matched.

The level says what a caller does with it: `dangerous` is refused (and dropped from training data), `warn`
is destructive but plausibly what was asked (`terraform destroy` when asked to destroy): shown with its
reason, not refused.
"""

from __future__ import annotations

from dataclasses import dataclass

CRITICAL, HIGH, MEDIUM = "critical", "high", "medium"
SEVERITY_RANK = {CRITICAL: 0, HIGH: 1, MEDIUM: 2}
DANGEROUS, WARN = "dangerous", "warn"
LEVELS = (DANGEROUS, WARN)

CATEGORIES = {
    "recursive_delete": CRITICAL,  # rm -r / find -delete / rsync --delete on system dirs or home
    "disk_wipe": CRITICAL,  # writing to, formatting or erasing a block device
    "remote_code_execution": CRITICAL,  # a download run by an interpreter
    "reverse_shell": CRITICAL,  # a shell wired to a network socket
    "credential_exfiltration": CRITICAL,  # keys, cloud credentials or the environment sent to the network
    "auth_tampering": CRITICAL,  # passwd/shadow/sudoers edits, uid-0 accounts, planted SSH keys
    "system_package_removal": CRITICAL,  # removing libc, coreutils, systemd, the kernel, the system python
    "fork_bomb": HIGH,  # self-replicating processes, killing every process
    "system_permissions": HIGH,  # recursive chmod/chown of system paths, setuid shells
    "secret_destruction": HIGH,  # deleting or overwriting SSH/GPG keys and credentials in a home
    "empty_variable_delete": HIGH,  # rm -rf "$DIR"/ that deletes / or home when DIR is unset or empty
    "container_escape": HIGH,  # a container given the host: its root mounted writable, --privileged
    # with host namespaces, the docker socket handed to a shell
    "firewall_disable": HIGH,  # flushing the firewall, SELinux/AppArmor off
    "persistence": HIGH,  # planting commands in cron, shell rc files, ld.so.preload
    "obfuscated_execution": HIGH,  # decoded data run by a shell when the data cannot be read
    "shutdown": MEDIUM,  # halting or rebooting the machine
    "history_log_wipe": MEDIUM,  # clearing shell history or system logs
    "crontab_wipe": MEDIUM,  # crontab -r and friends: every scheduled job of a user, gone
    # issue 23: what other programs' own verbs destroy, and ways to break or take a system
    "database_destruction": CRITICAL,  # dropping databases, tables or every row through a database client
    "infrastructure_destruction": CRITICAL,  # cloud, cluster and IaC resources deleted or destroyed
    "vcs_destruction": HIGH,  # force-pushed or deleted shared branches, rewritten or expired history
    "container_destruction": HIGH,  # every container, volume or image of an engine removed
    "resource_exhaustion": HIGH,  # filling the disk or memory without bound
    "remote_lockout": HIGH,  # cutting off the network, sshd or the login you are using
    "privilege_escalation": CRITICAL,  # file capabilities, ACLs or roles that hand out root
    "system_breakage": CRITICAL,  # the dynamic loader, package database, boot files or core binaries broken
}


@dataclass(frozen=True)
class Finding:
    category: str
    severity: str
    reason: str
    matched: str
    level: str = DANGEROUS


def finding(category: str, reason: str, matched: str, level: str = DANGEROUS) -> Finding:
    return Finding(category, CATEGORIES[category], reason, matched, level)


def warning(category: str, reason: str, matched: str) -> Finding:
    """A destructive action that may well be what was asked: shown with its reason, not refused."""
    return finding(category, reason, matched, WARN)


def most_severe(findings: list[Finding]) -> Finding | None:
    """The first of the most severe findings: dangerous before warn, then by severity (stable, so the
    earliest command wins a tie)."""
    return min(findings, key=lambda f: (f.level != DANGEROUS, SEVERITY_RANK[f.severity]), default=None)
