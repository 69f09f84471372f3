"""Ways to break or take a machine that no single program stands for, judged by what they do to what.

- **Lock-out**: cutting off the network, sshd or the login you are using on a remote machine (a firewall
  that drops everything or port 22, an interface or the default route down, sshd stopped, your shell or
  account disabled, `sshd: ALL` in hosts.deny, your authorized_keys emptied).
- **Exhaustion**: filling the disk or memory without bound (an endless source written to a file, a
  huge allocation, a buffering program reading an endless source, a load generator with no end).
- **Breakage**: what every program or the next boot depends on (the dynamic loader and C library, the
  package database, kernels and boot loader files, fstab, core binaries, name resolution, CA certs).
- **MAC and audit off**: AppArmor profiles unloaded, SELinux off at runtime or boot, auditing stopped,
  kernel hardening sysctls reverted, macOS SIP or Gatekeeper disabled.
- **Privilege**: capabilities that amount to root on a binary, ACLs that open account files or system
  directories.
- **Volumes**: storage tools beyond the classic ones (NVMe format and sanitize, ZFS and btrfs destroy,
  SCSI format, write-mode badblocks, device-mapper teardown, LVM shrink, LUKS key slots).

Each judge takes a Command and its Context (walk.py) and returns a Finding or None; rules.py declares
which commands each one reads.
"""

from __future__ import annotations

import re

from shelltune.safety import paths
from shelltune.safety.fileops import emptied, erased_by_writing, removes, writes, written_text
from shelltune.safety.findings import Finding, finding, warning
from shelltune.safety.shellwords import long_flags, operands, option_value, short_flags
from shelltune.safety.walk import Command, Context

# ------------------------------------------------------------------ lock-out

SELF = re.compile(r"\$\{?(USER|LOGNAME)\}?|\$\(\s*(whoami|id -un)\s*\)|`(whoami|id -un)`|root")
NO_LOGIN = re.compile(r"(^|/)(nologin|false)$")
SSH_UNITS = re.compile(r"^(ssh|sshd|openssh-server|openssh|dropbear)(\.service|\.socket)?$")
NETWORK_UNITS = re.compile(r"^(NetworkManager|networking|network|systemd-networkd|wicked)(\.service)?$")
LOCAL_INTERFACES = re.compile(r"^(lo|docker\d*|br-\w+|virbr\d+|veth\w+|cni\d*|flannel\S*|tap\d+|dummy\d*)$")
SSH_PORT = re.compile(r"^(22|ssh)(/tcp)?$")
DROPS = frozenset({"DROP", "REJECT"})
IPTABLES = re.compile(r"ip6?tables(-legacy|-nft)?")
HOSTS_DENY_ALL = re.compile(r"^\s*(sshd|ALL)\s*:\s*ALL\b", re.M)
SSHD_LOCKOUT = re.compile(r"^\s*(AllowUsers|AllowGroups)\s+(nobody|nogroup)\b|^\s*DenyUsers\s+\*", re.M | re.I)


def judge_lockout(cmd: Command, ctx: Context) -> Finding | None:
    """Cutting off remote access as a side effect (a firewall, the network, your shell or keys) is
    dangerous; stopping or killing sshd itself names what is lost, so it only warns."""
    reason = firewall_lockout(cmd, ctx) or network_down(cmd) or login_disabled(cmd) or access_file_lockout(cmd)
    if reason:
        return finding("remote_lockout", reason, cmd.text)
    stopped = sshd_stopped(cmd)
    if stopped and stopped.startswith("switches"):
        return finding("remote_lockout", stopped, cmd.text)  # rescue mode: the network goes too
    return warning("remote_lockout", stopped, cmd.text) if stopped else None


def allows_ssh(ctx: Context, before: Command) -> bool:
    """Whether an earlier command on the line lets ssh in (`iptables ... --dport 22 -j ACCEPT`,
    `ufw allow OpenSSH`, `firewall-cmd --add-service=ssh`), so a later default-deny keeps you in."""
    for other in ctx.commands:
        if other is before:
            return False
        words = " ".join(other.args)
        if IPTABLES.fullmatch(other.name) and re.search(
            r"--dport (22|ssh)\b.*-j ACCEPT|-j ACCEPT.*--dport (22|ssh)\b", words
        ):
            return True
        if other.name == "ufw" and re.search(r"\ballow\b.*\b(22|ssh|OpenSSH)\b", words, re.I):
            return True
        if other.name == "firewall-cmd" and re.search(r"--add-(service=ssh|port=22\b)", words):
            return True
    return False


def firewall_lockout(cmd: Command, ctx: Context) -> str | None:
    args, name = cmd.args, cmd.name
    if IPTABLES.fullmatch(name):
        return iptables_lockout(args) if not allows_ssh(ctx, cmd) else None
    if name == "nft" and re.search(r"\b(add|insert)\s+rule\b.*\b(input|output)\b", " ".join(args)):
        statements = " ".join(args).split()
        if (
            statements[-1:]
            and statements[-1] in ("drop", "reject")
            and (
                not re.search(r"\b(saddr|daddr|iif|iifname|dport|sport|ct)\b", " ".join(args))
                or re.search(r"\bdport\s+(22|ssh)\b", " ".join(args))
            )
        ):
            return "adds an nftables rule that drops all incoming traffic, your ssh session included"
    if (
        name == "nft"
        and re.search(
            r"\b(add|create)\s+chain\b.*\bhook\s+(input|output)\b.*\bpolicy\s+(drop|reject)\b", " ".join(args)
        )
        and not any(re.search(r"\bdport\s+(22|ssh|\{[^}]*\b22\b)", " ".join(c.args)) for c in ctx.commands)
    ):
        return "creates an nftables input chain that drops everything, your ssh session included"
    if name == "ufw":
        return ufw_lockout(cmd, ctx)
    if name == "firewall-cmd":
        zone = option_value(args, "--set-default-zone")
        if zone in ("drop", "block") or "--panic-on" in args:
            return (
                f"firewall-cmd {'--panic-on' if zone is None else '--set-default-zone=' + zone} drops every connection"
            )
        if any(re.fullmatch(r"--remove-(service=ssh|port=22(/tcp)?)", a) for a in args):
            return "firewall-cmd closes ssh"
    return None


def iptables_lockout(args: list[str]) -> str | None:
    policy = option_value(args, "-P", "--policy")
    if policy in ("INPUT", "OUTPUT"):
        target = args[args.index(policy) + 1] if args.index(policy) + 1 < len(args) else ""
        if target.upper() in DROPS:
            return f"sets the {policy} policy to {target}: every connection, your ssh session included, is cut"
    chain = option_value(args, "-A", "--append", "-I", "--insert")
    jump = option_value(args, "-j", "--jump")
    if chain in ("INPUT", "OUTPUT") and jump in DROPS:
        restricted = {"-s", "--source", "-d", "--destination", "-i", "--in-interface", "-o", "--out-interface",
                      "-m", "--match"} & set(args)  # fmt: skip
        port = option_value(args, "--dport", "--destination-port")
        if port and SSH_PORT.match(port):
            return f"{jump}s ssh (port 22) on {chain}"
        if not restricted and not port and not option_value(args, "-p", "--protocol"):
            return f"{jump}s every packet on {chain}: your ssh session included"
    return None


def ufw_lockout(cmd: Command, ctx: Context) -> str | None:
    ops = operands(cmd.args)
    if ops[:1] in (["deny"], ["reject"]) and len(ops) > 1 and SSH_PORT.match(ops[-1]):
        return f"ufw {ops[0]} {ops[-1]} closes ssh"
    if ops[:1] != ["enable"]:
        return None
    denies = any(
        other.name == "ufw"
        and operands(other.args)[:2] in (["default", "deny"], ["default", "reject"])
        and operands(other.args)[2:3] in ([], ["incoming"])
        for other in ctx.commands
    )
    return (
        "enables ufw with incoming traffic denied and ssh never allowed"
        if denies and not allows_ssh(ctx, cmd)
        else None
    )


def network_down(cmd: Command) -> str | None:
    name, ops = cmd.name, operands(cmd.args)
    words = [o for o in ops if o != "dev"]
    link = name == "ip" and words[:2] in (["link", "set"], ["l", "set"]) and len(words) >= 4
    if link and words[-1] == "down" and not LOCAL_INTERFACES.match(words[2]):
        return f"takes the network interface {words[2]} down"
    if name == "ip" and words[:2] in (["addr", "flush"], ["address", "flush"], ["a", "flush"]):
        device = words[2] if len(words) > 2 else ""
        if device and not LOCAL_INTERFACES.match(device):
            return f"removes every address from {device}"
    if name == "ip" and words[:2] in (["route", "del"], ["route", "delete"], ["r", "del"]) and "default" in words:
        return "deletes the default route"
    if name == "ip" and words[:2] == ["route", "flush"] and not {"cache"} & set(words):
        return "flushes the routing table"
    if name == "route" and ops[:1] == ["del"] and ("default" in ops or "0.0.0.0" in ops):
        return "deletes the default route"
    if name == "ifconfig" and ops[-1:] == ["down"] and len(ops) >= 2 and not LOCAL_INTERFACES.match(ops[0]):
        return f"takes the network interface {ops[0]} down"
    if name == "ifdown" and ((ops and not LOCAL_INTERFACES.match(ops[0])) or "-a" in cmd.args):
        return "takes the network interface down"
    if name == "nmcli" and (
        ops[:2] == ["networking", "off"] or ops[:2] in (["device", "disconnect"], ["dev", "disconnect"])
    ):
        return "turns networking off"
    return None


def sshd_stopped(cmd: Command) -> str | None:
    name, ops = cmd.name, operands(cmd.args)
    if name == "systemctl":
        units = [o for o in ops[1:] if SSH_UNITS.match(o) or NETWORK_UNITS.match(o)]
        if ops[:1] and ops[0] in ("stop", "kill", "mask") and units:
            return f"systemctl {ops[0]} {units[0]}: remote logins end"
        if ops[:1] == ["disable"] and units and "--now" in cmd.args:
            return f"stops and disables {units[0]}: remote logins end"
        rescue = ops[:1] == ["isolate"] and re.match(r"(rescue|emergency)(\.target)?$", ops[-1]) is not None
        if rescue or ops[:1] in (["rescue"], ["emergency"]):
            return "switches to rescue mode: the network and sshd stop"
    if (
        name == "service"
        and len(ops) >= 2
        and (SSH_UNITS.match(ops[0]) or NETWORK_UNITS.match(ops[0]))
        and ops[1] == "stop"
    ):
        return f"stops {ops[0]}: remote logins end"
    if name in ("pkill", "killall") and ops and SSH_UNITS.match(ops[-1]):
        signal = next(
            (a for a in cmd.args if a.startswith("-") and a not in ("-9", "-KILL", "-SIGKILL", "-f", "-x")), ""
        )
        if not re.search(r"HUP|USR|^-1$|^-0$", signal):
            return f"kills {ops[-1]}: remote logins end"
    if name in ("init", "telinit") and ops[:1] in (["1"], ["s"], ["S"]):
        return "switches to single-user mode: the network and sshd stop"
    return None


ACCOUNT_VALUES = frozenset(
    {"-s", "--shell", "-e", "--expiredate", "-d", "-g", "-G", "-c", "-l", "-u", "-p", "-f", "--inactive", "--home",
     "--login", "--groups", "--gid"}
)  # fmt: skip


def login_disabled(cmd: Command) -> str | None:
    name, args = cmd.name, cmd.args
    if name in ("userdel", "deluser"):
        users = operands(args)
        if users and SELF.fullmatch(users[0]):
            return f"deletes the account {users[0]}: no more logins"
        return None
    if name not in ("usermod", "chsh"):
        return None
    users = operands(args, ACCOUNT_VALUES)
    # chsh without a user changes your own shell; usermod always names the account
    yourself = (not users and name == "chsh") or (bool(users) and SELF.fullmatch(users[-1]) is not None)
    if not yourself:
        return None
    shell = option_value(args, "-s", "--shell")
    if shell and NO_LOGIN.search(shell):
        return f"sets the login shell of {users[-1] if users else 'your account'} to {shell}: no more logins"
    expiry = option_value(args, "-e", "--expiredate")
    if expiry and re.fullmatch(r"0|1|19\d\d-\d\d-\d\d|20(0\d|1\d)-\d\d-\d\d", expiry):
        return f"expires the account {users[-1]}: no more logins"
    if "L" in short_flags(args) or "--lock" in long_flags(args):
        return f"locks the account {users[-1]}"
    return None


def access_file_lockout(cmd: Command) -> str | None:
    for target, _verb in writes(cmd):
        normal = paths.normalize(target, cmd.cwd) or target
        content = written_text(cmd) or ""
        if normal == "/etc/hosts.deny" and HOSTS_DENY_ALL.search(content):
            return "denies every host ssh access in /etc/hosts.deny"
        if re.match(r"^/etc/ssh/sshd_config(\.d/.*)?$", normal) and SSHD_LOCKOUT.search(content):
            return "lets no user log in over ssh"
    for target in removes(cmd) + emptied(cmd):
        if re.fullmatch(r"~/\.ssh/authorized_keys2?", paths.normalize(target, cmd.cwd) or ""):
            return f"erases {target}: key logins to this account stop"
    return None


# ------------------------------------------------------------------ exhaustion

ENDLESS_SOURCES = frozenset({"/dev/zero", "/dev/urandom", "/dev/random"})
BUFFERING = frozenset({"sort", "tac", "tail", "shuf", "uniq"})  # hold their whole input before writing
HUGE_DISK = 100 * 2**30
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTPE]?)(i?B?)?", re.I)


def size_in_bytes(text: str | None) -> int | None:
    match = SIZE.fullmatch(text or "")
    if match is None:
        return None
    power = "KMGTPE".find(match.group(2).upper()) + 1 if match.group(2) else 0
    return int(float(match.group(1)) * 1024**power)


def endless(cmd: Command) -> bool:
    """Whether the command writes without end: `yes`, `cat /dev/zero`, `pv /dev/urandom`, or a
    pass-through fed by one."""
    if cmd.name == "yes":
        return True
    if cmd.name in ("cat", "pv", "tail") and any(o in ENDLESS_SOURCES for o in operands(cmd.args)):
        return True
    if cmd.name == "seq" and operands(cmd.args)[-1:] and operands(cmd.args)[-1].lower() in ("inf", "infinity"):
        return True
    if cmd.name == "tee" and cmd.upstream is not None:
        return endless(cmd.upstream)
    return False


def judge_exhaustion(cmd: Command, ctx: Context) -> Finding | None:
    reason = disk_filler(cmd) or memory_filler(cmd)
    return finding("resource_exhaustion", reason, cmd.text) if reason else None


def regular_files(targets: list[str]) -> list[str]:
    return [t for t in targets if not t.startswith(("/dev/", "/proc/", "/sys/", "&"))]


def disk_filler(cmd: Command) -> str | None:
    files = regular_files([t for t, _ in writes(cmd)] + ([t for t in operands(cmd.args) if cmd.name == "tee"]))
    if files and endless(cmd):
        return f"writes an endless stream into {files[0]} until the disk is full"
    if cmd.name == "fallocate":
        size = size_in_bytes(option_value(cmd.args, "-l", "--length"))
        if size and size >= HUGE_DISK:
            return f"allocates {option_value(cmd.args, '-l', '--length')} on disk"
    if cmd.name == "dd":
        values = dict(a.split("=", 1) for a in cmd.args if "=" in a)
        target = values.get("of", "")
        if values.get("if") in ENDLESS_SOURCES and target and regular_files([target]):
            count, block = values.get("count"), size_in_bytes(values.get("bs", "512")) or 512
            if count is None or (count.isdigit() and int(count) * block >= HUGE_DISK):
                return f"dd writes {'without end' if count is None else 'hundreds of GiB'} into {target}"
    if cmd.name == "openssl" and cmd.args[:1] == ["rand"] and operands(cmd.args)[-1:]:
        size = size_in_bytes(operands(cmd.args, frozenset({"-out", "-rand", "-writerand", "-engine"}))[-1])
        target = option_value(cmd.args, "-out") or (files[0] if files else None)
        if size and size >= HUGE_DISK and target and regular_files([target]):
            return f"openssl rand writes {size:,} bytes into {target}"
    if cmd.name == "head" and files:
        size = size_in_bytes(option_value(cmd.args, "-c", "--bytes"))
        if size and size >= HUGE_DISK and any(o in ENDLESS_SOURCES for o in operands(cmd.args, frozenset({"-c"}))):
            return f"writes {option_value(cmd.args, '-c', '--bytes')} of data into {files[0]}"
    return None


def memory_filler(cmd: Command) -> str | None:
    sources = [o for o in operands(cmd.args) if o in ENDLESS_SOURCES]
    upstream_endless = cmd.upstream is not None and endless(cmd.upstream)
    if cmd.name in BUFFERING and (sources or upstream_endless) and ("-f" not in cmd.args or cmd.name == "tail"):
        return f"{cmd.name} reads an endless stream and holds it all in memory"
    if cmd.name == "xargs" and upstream_endless and option_value(cmd.args, "-P", "--max-procs") == "0":
        return "xargs -P 0 starts processes without limit for an endless input"
    if cmd.name in ("stress", "stress-ng"):
        timeout = option_value(cmd.args, "-t", "--timeout")
        if timeout is None or re.fullmatch(r"0+[smhd]?", timeout):
            return f"{cmd.name} loads the machine with no time limit"
    return None


# ------------------------------------------------------------------ breakage

LOADER = re.compile(
    r"^/(usr/)?lib(32|64|x32)?/(.+/)?(ld-linux[^/]*|ld\.so[^/]*|lib(c|m|dl|pthread|crypt|pam|selinux|systemd|z|tinfo)"
    r"(\.so[^/]*|-[\d.]+\.so))$|^/etc/ld\.so\.(conf|cache)$"
)
PACKAGE_DB = re.compile(
    r"^/var/lib/(dpkg|rpm|pacman|apk)(/(status|available|info|local|Packages|rpmdb\.sqlite)[^/]*)?/?\*?$|^/lib/apk/db"
)
BOOT = re.compile(r"^/boot(/(vmlinuz|initrd|initramfs|System\.map)[^/]*|/(grub2?|efi|EFI|loader)(/.*)?)?$")
BACKUP_SUFFIX = re.compile(r"\.(old|bak|orig)[\w-]*$|-old$|~$")
CONFIG = frozenset({"/etc/fstab", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs",
                    "/etc/pki/tls/certs", "/etc/ca-certificates", "/etc/crypttab"})  # fmt: skip
CORE_PROGRAMS = frozenset(
    {"sh", "bash", "dash", "zsh", "sudo", "su", "login", "init", "systemd", "ls", "cp", "mv", "rm", "ln", "cat",
     "mount", "umount", "ssh", "sshd", "python3", "python", "perl", "apt", "apt-get", "dpkg", "rpm", "yum", "dnf",
     "pacman", "env", "chmod", "chown", "passwd", "agetty", "getty", "grep", "sed", "awk", "tar", "gzip", "kill",
     "ps", "bash.bak", "busybox", "ldconfig", "modprobe", "insmod", "udevadm", "journalctl", "systemctl"}
)  # fmt: skip
PAM = re.compile(r"^/etc/pam\.d(/(\*|common-\w+|system-auth|password-auth|sudo|su|sshd|login|other))?/?$")
BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/lib/systemd", "/usr/lib/systemd")
SYSTEM_TREES = re.compile(r"^/usr/lib/python3[^/]*$|^/lib/modules(/[^/]+)?$|^/usr/lib/modules(/[^/]+)?$")


def essential(path: str, cwd: str | None) -> str | None:
    """What the system loses if `path` goes: a loader, the package database, a kernel, a core program."""
    normal = paths.normalize(path, cwd)
    if normal is None or BACKUP_SUFFIX.search(normal) or re.search(r"(^|/)(lock[\w-]*|\.lock)$", normal):
        return None
    if LOADER.match(normal):
        return "the dynamic loader or C library every program needs"
    if PACKAGE_DB.match(normal):
        return "the package database: nothing can be installed, upgraded or removed"
    if BOOT.match(normal) and normal != "/boot":
        return "what the machine boots from"
    if normal in CONFIG or normal.rstrip("/*") in CONFIG:
        return f"{normal}, which the system reads at every boot or lookup"
    if SYSTEM_TREES.match(normal):
        return f"{normal}, which the system's own tools run on"
    if PAM.match(normal):
        return f"{normal}, the login configuration: nobody can log in or use sudo"
    head, _, last = normal.rpartition("/")
    if head in BIN_DIRS and (last in CORE_PROGRAMS or paths.is_everything_glob(last)):
        return f"{normal}, a program the system cannot work without"
    return None


def judge_breakage(cmd: Command, ctx: Context) -> Finding | None:
    for target in removes(cmd):
        what = essential(target, cmd.cwd)
        if what:
            return finding("system_breakage", f"deletes {what}", cmd.text)
    ops = operands(cmd.args, frozenset({"-t", "--target-directory", "-S", "--suffix", "-m", "--mode"}))
    if cmd.name == "mv" and len(ops) >= 2:
        moved = next((essential(o, cmd.cwd) for o in ops[:-1] if essential(o, cmd.cwd)), None)
        if moved:
            return finding("system_breakage", f"moves away {moved}", cmd.text)
    for target in overwritten(cmd):
        what = essential(target, cmd.cwd)
        if what:
            return finding("system_breakage", f"overwrites {what}", cmd.text)
    mode, files = chmod_mode(cmd.args) if cmd.name == "chmod" else ("", [])
    if removes_execute(mode):
        hit = next((essential(t, cmd.cwd) for t in files if essential(t, cmd.cwd)), None)
        if hit:
            return finding("system_breakage", f"chmod {mode} makes {hit} unusable", cmd.text)
    if cmd.name == "efibootmgr" and ({"B"} & short_flags(cmd.args) or "--delete-bootnum" in cmd.args):
        return finding("system_breakage", "deletes a UEFI boot entry: the machine may not find its system", cmd.text)
    return None


def overwritten(cmd: Command) -> list[str]:
    """Files replaced wholesale: emptied, overwritten (not appended), a link or copy put in their place."""
    found = list(erased_by_writing(cmd))
    ops = operands(cmd.args)
    if cmd.name in ("ln", "cp", "install") and len(ops) >= 2:
        found.append(ops[-1])
    if cmd.name == "tee" and not ({"a"} & short_flags(cmd.args) or "--append" in long_flags(cmd.args)):
        found += [o for o in ops if o != "-"]
    if cmd.name == "truncate":
        found += operands(cmd.args, frozenset({"-s", "--size", "-r", "--reference"}))
    # name resolution and trust files are rewritten routinely: only emptying them breaks anything
    rewritable = {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"}
    empty = set(emptied(cmd)) | (set(ops) if cmd.name == "truncate" else set())
    return [t for t in found if (paths.normalize(t, cmd.cwd) not in rewritable or t in empty)]


def chmod_mode(args: list[str]) -> tuple[str, list[str]]:
    """(mode, files) of a chmod command line: a mode may look like an option (`chmod -x FILE`)."""
    words = [a for a in args if not re.fullmatch(r"-[RvcfH]+|--[a-z-]+(=.*)?", a)]
    return (words[0], words[1:]) if words else ("", [])


def removes_execute(mode: str) -> bool:
    return re.fullmatch(r"0?[0-6][0-6][0-6]|[ugoa]*-[rwx]*x[rwx]*", mode) is not None and mode not in (
        "644",
        "0644",
        "600",
        "0600",
        "640",
    )


# ------------------------------------------------------------------ MAC, audit and hardening off

BOOT_ARGUMENTS = re.compile(r"\b(selinux=0|enforcing=0|apparmor=0|audit=0|security=none|lsm=[\w,]*\bnone\b)")
HARDENING = {
    "kernel.randomize_va_space": "address space randomisation",
    "kernel.yama.ptrace_scope": "ptrace restrictions",
    "kernel.kptr_restrict": "kernel pointer hiding",
    "kernel.unprivileged_bpf_disabled": "unprivileged BPF restrictions",
    "fs.protected_symlinks": "symlink protections",
    "fs.protected_hardlinks": "hardlink protections",
    "fs.suid_dumpable": None,  # turned *on* (2) it is the weakening
}
APPARMOR_PROFILES = re.compile(r"^/etc/apparmor\.d/?(\*)?$")


def judge_mac(cmd: Command, ctx: Context) -> Finding | None:
    name, args, ops = cmd.name, cmd.args, operands(cmd.args)
    if name in ("aa-disable", "aa-complain", "apparmor_parser"):
        return apparmor_off(cmd)
    if name == "auditctl" and (option_value(args, "-e") == "0" or "-D" in args):
        return finding("firewall_disable", "turns the kernel audit log off or deletes every audit rule", cmd.text)
    if name == "grubby" and BOOT_ARGUMENTS.search(option_value(args, "--args") or ""):
        return finding(
            "firewall_disable", f"boots with {BOOT_ARGUMENTS.search(option_value(args, '--args')).group(1)}", cmd.text
        )
    if name == "csrutil" and ops[:1] == ["disable"]:
        return finding("firewall_disable", "turns off macOS System Integrity Protection", cmd.text)
    if name == "spctl" and {"--master-disable", "--global-disable"} & set(args):
        return finding("firewall_disable", "turns off Gatekeeper: any unsigned app runs", cmd.text)
    if name == "semanage" and ops[:1] == ["permissive"] and {"-a", "--add"} & set(args):
        return finding(
            "firewall_disable", "makes an SELinux domain permissive: its policy is no longer enforced", cmd.text
        )
    if name == "sysctl":
        for setting in ops:
            weakened = weakened_setting(*setting.partition("=")[::2])
            if weakened:
                return finding("firewall_disable", f"turns off {weakened}", cmd.text)
    return written_weakening(cmd)


def apparmor_off(cmd: Command) -> Finding | None:
    removing = cmd.name != "apparmor_parser" or {"-R", "--remove"} & set(cmd.args)
    targets = operands(cmd.args)
    if not removing or not targets:
        return None
    action = (
        "puts every AppArmor profile in complain mode"
        if cmd.name == "aa-complain"
        else "unloads every AppArmor profile"
    )
    if any(APPARMOR_PROFILES.match(t) for t in targets) or len(targets) > 3:
        return finding("firewall_disable", action, cmd.text)
    if cmd.name != "aa-complain":
        return warning("firewall_disable", f"unloads the AppArmor profile {targets[0]}", cmd.text)
    return None


def weakened_setting(key: str, value: str) -> str | None:
    key = key.strip().replace("/", ".")
    what = HARDENING.get(key, "")
    value = value.strip()
    if key == "fs.suid_dumpable":
        return "core dumps of setuid programs" if value == "2" else None
    return what if what and value == "0" else None


def written_weakening(cmd: Command) -> Finding | None:
    for target, _verb in writes(cmd):
        normal = paths.normalize(target, cmd.cwd) or ""
        content = written_text(cmd) or ""
        if normal == "/sys/fs/selinux/enforce" and content.strip() == "0":
            return finding("firewall_disable", "turns SELinux enforcement off", cmd.text)
        if normal.startswith("/proc/sys/"):
            weakened = weakened_setting(normal.removeprefix("/proc/sys/"), content)
            if weakened:
                return finding("firewall_disable", f"turns off {weakened}", cmd.text)
        if normal.startswith("/etc/sysctl"):
            for line in content.splitlines():
                weakened = weakened_setting(*line.partition("=")[::2])
                if weakened:
                    return finding("firewall_disable", f"turns off {weakened} at every boot", cmd.text)
        if normal == "/etc/default/grub" and BOOT_ARGUMENTS.search(" ".join(cmd.words) + content):
            return finding("firewall_disable", "boots with mandatory access control or auditing off", cmd.text)
        if (
            normal == "/etc/selinux/config"
            and cmd.name == "sed"
            and re.search(r"/(disabled|permissive)/", " ".join(cmd.args))
        ):
            return finding("firewall_disable", "disables SELinux at boot", cmd.text)
    return None


# ------------------------------------------------------------------ privilege through capabilities and ACLs

ROOT_CAPABILITIES = frozenset(
    {"cap_setuid", "cap_setgid", "cap_sys_admin", "cap_dac_override", "cap_dac_read_search", "cap_sys_ptrace",
     "cap_sys_module", "cap_chown", "cap_fowner", "cap_sys_rawio", "cap_setfcap", "cap_setpcap", "cap_bpf",
     "cap_sys_boot", "all"}
)  # fmt: skip
ACL_ENTRY = re.compile(r"^(d(efault)?:)?(u|user|g|group|o|other|m|mask):([^:]*):?([rwxX-]*)$")


def judge_privilege(cmd: Command, ctx: Context) -> Finding | None:
    if cmd.name == "setcap" and not {"-r", "-v"} & set(cmd.args):
        ops = operands(cmd.args, frozenset({"-n"}))
        if len(ops) >= 2:
            granted = {c.lower() for c in re.findall(r"cap_\w+|(?<![\w])all(?=[=+])", ops[0])}
            if ROOT_CAPABILITIES & granted or re.match(r"^=e?i?p", ops[0]):
                which = sorted(ROOT_CAPABILITIES & granted)[:1] or ["every capability"]
                return finding(
                    "privilege_escalation", f"gives {ops[1]} {which[0]}: whoever runs it can become root", cmd.text
                )
    if cmd.name == "setfacl":
        return acl_grant(cmd)
    return None


def acl_grant(cmd: Command) -> Finding | None:
    args = cmd.args
    specs, targets, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if re.fullmatch(r"-[a-zA-Z]*[msMXx]|--(modify|set|remove|modify-file|set-file|remove-file)", arg):
            specs += [args[i + 1]] if i + 1 < len(args) and arg[-1] in "ms" or arg in ("--modify", "--set") else []
            i += 2
            continue
        if arg.startswith(("--modify=", "--set=")):
            specs.append(arg.split("=", 1)[1])
        elif not arg.startswith("-"):
            targets.append(arg)
        i += 1
    default = "-d" in args or "--default" in args
    for spec in specs:
        for entry in spec.split(","):
            match = ACL_ENTRY.match(entry.strip())
            if not match or match.group(3) in ("m", "mask"):
                continue
            perms = match.group(5)
            for target in targets:
                normal = paths.normalize(target, cmd.cwd) or target
                account_file = paths.is_auth_file(normal) or normal.rstrip("/") == "/etc/sudoers.d"
                system_dir = paths.critical_root(normal) is not None or paths.is_system_binary(normal.rstrip("/") + "/")
                secret = re.search(r"shadow|sudoers", normal) is not None
                if account_file and ("w" in perms or (secret and "r" in perms)):
                    return finding("privilege_escalation", f"an ACL lets {entry} into {target}", cmd.text)
                if system_dir and "w" in perms and not paths.is_home(paths.critical_root(normal) or ""):
                    what = "every file later created in" if default or match.group(1) else "the system directory"
                    return finding(
                        "system_permissions", f"an ACL gives {entry} write access to {what} {target}", cmd.text
                    )
    return None


# ------------------------------------------------------------------ volumes and storage tools


def volume_destruction(cmd: Command) -> tuple[str, bool] | None:
    """(reason, whether only a warning) for storage tools that destroy a volume, pool or device."""
    name, ops, args = cmd.name, operands(cmd.args), cmd.args
    devices = [o for o in ops if paths.is_device(o)]
    if name == "nvme" and ops[:1] and ops[0] in ("format", "sanitize", "delete-ns", "ns-delete", "write-zeroes"):
        return f"nvme {ops[0]} erases {devices[0] if devices else 'an NVMe namespace'}", False
    if name == "zpool" and ops[:1] in (["destroy"], ["labelclear"]):
        return f"zpool {ops[0]} destroys the pool {ops[-1]}", False
    if name == "zfs" and ops[:1] == ["destroy"] and len(ops) > 1:
        if "@" in ops[-1] and not {"R"} & short_flags(args):
            return f"zfs destroy deletes the snapshot {ops[-1]}", True
        return f"zfs destroy deletes the dataset {ops[-1]} and everything in it", False
    if name == "btrfs" and ops[:2] in (["subvolume", "delete"], ["sub", "del"], ["subvolume", "del"]):
        return f"deletes the btrfs subvolume {ops[-1]}", False
    if name == "sg_format" and ({"F"} & short_flags(args) or "--format" in args):
        return f"sg_format low-level formats {devices[0] if devices else 'a disk'}", False
    if name == "badblocks" and "w" in short_flags(args) and devices:
        return f"badblocks -w overwrites every block of {devices[0]}", False
    if name == "dmsetup" and ops[:1] == ["remove_all"]:
        return "tears down every device-mapper device (LVM, LUKS) under the running system", False
    if name in ("lvreduce", "lvresize") and ({"f"} & short_flags(args) or "--force" in args) and "-r" not in args:
        return f"{name} shrinks {ops[-1] if ops else 'a volume'} without shrinking its filesystem", False
    if name == "cryptsetup" and ops[:1] and ops[0] in ("luksKillSlot", "luksRemoveKey", "erase", "luksErase"):
        return f"cryptsetup {ops[0]} can leave {ops[1] if len(ops) > 1 else 'the volume'} with no key", False
    for target, _verb in writes(cmd):
        if re.match(r"^/sys/block/[^/]+/device/delete$", target):
            return f"detaches the disk {target.split('/')[3]} from the system", False
    return None


# ------------------------------------------------------------------ a whole filesystem served to the network


def judge_exposure(cmd: Command, ctx: Context) -> Finding | None:
    """`python3 -m http.server --directory /`, `cd ~ && python3 -m http.server`, `php -S 0.0.0.0:80 -t /`:
    every file under the root or home, keys included, readable by anyone who can reach the port."""
    args = cmd.args
    if "http.server" in args or "SimpleHTTPServer" in args:
        root = option_value(args, "-d", "--directory") or cmd.cwd
    elif cmd.name.startswith("php") and "-S" in args:
        root = option_value(args, "-t") or cmd.cwd
    else:
        return None
    served = paths.critical_root(root, cmd.cwd) if root else None
    if served and (served == "/" or paths.is_home(served) or served in ("/etc", "/root", "/home")):
        return finding("credential_exfiltration", f"serves every file under {served} to the network", cmd.text)
    loopback = option_value(args, "-b", "--bind") in ("127.0.0.1", "localhost", "::1")
    if root and not loopback and (paths.private_path(root, cmd.cwd) or paths.is_credential(root)):
        return finding("credential_exfiltration", f"serves {root}, which holds private keys, to the network", cmd.text)
    return None
