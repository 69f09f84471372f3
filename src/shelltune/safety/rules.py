"""One rule per category: each looks at one simple command (words expanded, wrappers peeled, with its
redirections, pipe neighbours and what earlier commands on the line did) and returns a Finding or None.

Rules judge actions, never text: an argument of `grep` or `echo` is data unless it is piped into a
shell, written into a file the system runs (cron, rc files), or run by `bash -c`/`eval` (walk.py turns
those into commands of their own).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from shelltune.safety import paths
from shelltune.safety.findings import Finding, finding
from shelltune.safety.walk import (DECODED, DOWNLOAD, INTERPRETERS, SECRET, SHELLS, Command, Context,
                                   executes_stdin, input_of, interpreter_code, option_value, output,
                                   parse_find)

Rule = Callable[[Command, Context], Finding | None]
REVERSE_CLIENTS = frozenset({"nc", "ncat", "netcat", "telnet", "socat", "openssl"})
NETWORK_SENDERS = frozenset({"curl", "wget", "nc", "ncat", "netcat", "scp", "rsync", "sftp", "ftp", "mail",
                             "mailx", "sendmail", "socat", "telnet"})
FIREWALL_UNITS = frozenset({"firewalld", "ufw", "iptables", "ip6tables", "nftables", "apparmor",
                            "netfilter-persistent", "shorewall", "csf"})
TLS_OPTIONS = frozenset({"--cacert", "--cert", "--key", "-E", "--capath", "--ca-certificate", "--certificate",
                         "--private-key", "-i", "--identity"})


# ------------------------------------------------------------------ reading words

SHORT_FLAGS = re.compile(r"-[A-Za-z]+")


def short_flags(cmd: Command) -> set[str]:
    letters: set[str] = set()
    for word in cmd.args:
        if word == "--":
            break
        if SHORT_FLAGS.fullmatch(word):
            letters.update(word[1:])
    return letters


def long_flags(cmd: Command) -> set[str]:
    return {w.split("=", 1)[0] for w in cmd.args if w.startswith("--") and w != "--"}


def operands(cmd: Command, with_value: frozenset[str] = frozenset()) -> list[str]:
    result, after_dashdash, skip = [], False, False
    for word in cmd.args:
        if skip:
            skip = False
        elif after_dashdash:
            result.append(word)
        elif word == "--":
            after_dashdash = True
        elif word in with_value:
            skip = True
        elif not word.startswith("-") or word == "-":
            result.append(word)
    return result


def is_interpreter(cmd: Command) -> bool:
    return cmd.name in INTERPRETERS or re.fullmatch(r"python\d?(\.\d+)?", cmd.name) is not None


def writes(cmd: Command) -> list[tuple[str, str]]:
    """(path, verb) for every file this command writes or replaces (computed once per command)."""
    cached = cmd.__dict__.get("_writes")
    if cached is None:
        cached = cmd.__dict__["_writes"] = find_writes(cmd)
    return cached


def find_writes(cmd: Command) -> list[tuple[str, str]]:
    found = [(target, "appends to" if op == ">>" else "overwrites")
             for op, target in cmd.redirects if op in (">", ">>", ">|", "&>", ">&") and not target.startswith("&")]
    name, ops = cmd.name, operands(cmd)
    if name == "tee":
        found += [(t, "writes to") for t in ops if t != "-"]
    elif name in ("cp", "mv", "install", "ln") and len(ops) >= 2:
        found.append((ops[-1], "replaces"))
    elif name == "dd":
        found += [(w[3:], "overwrites") for w in cmd.args if w.startswith("of=")]
    elif name == "truncate":
        found += [(t, "empties") for t in operands(cmd, frozenset({"-s", "--size", "-r", "--reference"}))]
    elif name in ("sed", "perl") and ("i" in short_flags(cmd) or "--in-place" in long_flags(cmd)):
        files = operands(cmd, frozenset({"-e", "-f"}))
        found += [(t, "edits") for t in (files if "-e" in cmd.args or name == "perl" else files[1:])]
    return found


def written_text(cmd: Command) -> str | None:
    """The text this command writes into files, when it can be known."""
    data = input_of(cmd).text if cmd.name in ("tee", "crontab") else output(cmd).text
    return data.decode("utf-8", "replace") if data is not None else None


def removes(cmd: Command) -> list[str]:
    if cmd.name in ("rm", "shred", "unlink", "srm"):
        return operands(cmd, frozenset({"-n", "--iterations", "-s", "--size"}))
    return []


# ------------------------------------------------------------------ rules

def rule_recursive_delete(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    recursive = bool({"r", "R"} & short_flags(cmd)) or "--recursive" in long_flags(cmd) or cmd.recursive
    if name == "rm" and recursive:
        for target in operands(cmd):
            root = paths.critical_root(target, cmd.cwd)
            if root:
                return finding("recursive_delete", f"recursively deletes {root}", cmd.text)
    if name == "find":
        spec = parse_find(cmd.words)
        root = next((r for r in spec.roots if paths.critical_root(r, cmd.cwd)), None)
        if spec.deletes and not spec.narrowed and root:
            return finding("recursive_delete", f"deletes everything under {root}", cmd.text)
    if name == "rsync" and any(f.startswith("--delete") for f in long_flags(cmd)):
        ops = operands(cmd)
        if len(ops) >= 2 and ":" not in ops[-1] and paths.critical_root(ops[-1], cmd.cwd):
            return finding("recursive_delete", f"syncs over {ops[-1]} deleting what is not in the source", cmd.text)
    if name == "mv" and len(operands(cmd)) >= 2:
        moved = [o for o in operands(cmd)[:-1] if paths.critical_root(o, cmd.cwd)]
        if moved:
            return finding("recursive_delete", f"moves {moved[0]} away", cmd.text)
    code = interpreter_code(cmd) if is_interpreter(cmd) else None
    if code:
        for target in re.findall(r"rmtree\(\s*['\"]([^'\"]+)['\"]", code):
            if paths.critical_root(target):
                return finding("recursive_delete", f"shutil.rmtree of {target}", cmd.text)
    return None


DISK_TOOLS = ("mke2fs", "mkswap", "mkdosfs", "mkntfs", "mkexfatfs", "shred", "blkdiscard", "sgdisk", "sfdisk")
PARTED_OPS = frozenset({"mklabel", "mktable", "mkpart", "rm", "resizepart", "mkpartfs"})
DISKUTIL_OPS = frozenset({"eraseDisk", "eraseVolume", "zeroDisk", "randomDisk", "secureErase", "partitionDisk",
                          "reformat"})


def rule_disk_wipe(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    for target, verb in writes(cmd):
        if paths.is_device(target) and not (name == "ln"):
            return finding("disk_wipe", f"{verb} the block device {target}", cmd.text)
    devices = [a for a in cmd.args if paths.is_device(a)]
    if not devices and name != "diskutil":
        return None
    if name.startswith("mkfs") or name in DISK_TOOLS:
        return finding("disk_wipe", f"{name} destroys the data on {devices[0]}", cmd.text)
    if name == "wipefs" and ({"a"} & short_flags(cmd) or "--all" in long_flags(cmd)):
        return finding("disk_wipe", f"wipes the signatures of {devices[0]}", cmd.text)
    if name == "parted" and (PARTED_OPS & set(cmd.args) or "s" in short_flags(cmd)):
        return finding("disk_wipe", f"rewrites the partition table of {devices[0]}", cmd.text)
    if name == "hdparm" and any(a.startswith("--security-erase") or a.startswith("--trim") for a in cmd.args):
        return finding("disk_wipe", f"erases {devices[0]} in firmware", cmd.text)
    if name == "diskutil" and DISKUTIL_OPS & set(cmd.args):
        return finding("disk_wipe", "diskutil erases a disk", cmd.text)
    return None


def rule_remote_code(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    runs_code = name in SHELLS or is_interpreter(cmd) or name in ("source", ".", "eval")
    if executes_stdin(cmd) and input_of(cmd).kind == "download":
        return finding("remote_code_execution", f"pipes a download into {name}", cmd.text)
    if runs_code and any(DOWNLOAD in a for a in cmd.args):
        return finding("remote_code_execution", f"{name} runs code fetched from the network", cmd.text)
    script = next((a for a in cmd.args if not a.startswith("-")), None) if runs_code else None
    if script and script.removeprefix("./") in ctx.downloaded:
        return finding("remote_code_execution", f"runs {script}, downloaded earlier on the line", cmd.text)
    if cmd.words and cmd.words[0].removeprefix("./") in ctx.downloaded:
        return finding("remote_code_execution", f"executes {cmd.words[0]}, downloaded earlier on the line", cmd.text)
    code = interpreter_code(cmd) if is_interpreter(cmd) else None
    if code and re.search(r"https?://", code) and re.search(r"\b(exec|eval|system)\s*\(", code):
        return finding("remote_code_execution", f"{name} fetches code from a URL and runs it", cmd.text)
    return None


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


def rule_fork_bomb(cmd: Command, ctx: Context) -> Finding | None:
    if cmd.name == "kill" and cmd.args[:1] not in (["-l"], ["-L"]):
        signal, pids = kill_targets(cmd)
        if "-1" in pids:
            return finding("fork_bomb", "signals every process the user can reach (pid -1)", cmd.text)
        if "1" in pids and (signal or "TERM").upper().removeprefix("SIG") not in ("0", "HUP", "1", "USR1", "USR2"):
            return finding("fork_bomb", "kills init (pid 1), which takes the whole system down", cmd.text)
    if cmd.name == "killall5":
        return finding("fork_bomb", "killall5 signals every process", cmd.text)
    code = interpreter_code(cmd) if is_interpreter(cmd) else None
    if code and re.search(r"\bfork\b\s*(while|until)\b|\b(while|until)\b\s*\(?\s*(1|true|True)\b.*\bfork\b", code):
        return finding("fork_bomb", f"{cmd.name} forks in an endless loop", cmd.text)
    return None


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


def mode_exposes_secret(mode: str, target: str) -> bool:
    if mode_is_dangerous(mode):
        return True
    secret = re.search(r"(shadow|sudoers)", target) is not None
    if re.fullmatch(r"[0-7]{3,4}", mode):
        return secret and mode[-1] in "4567"
    return secret and re.search(r"(^|,)[a]*o?[+=][wxXst]*r", mode) is not None and "o" in mode


def rule_permissions(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name not in ("chmod", "chown", "chgrp", "setfacl"):
        return None
    recursive = "R" in short_flags(cmd) or "--recursive" in long_flags(cmd) or cmd.recursive
    ops = operands(cmd, frozenset({"-m", "-x", "-M", "-X", "--modify", "--remove"}))
    mode = ops[0] if ops and name == "chmod" else ""
    targets = ops[1:] if name in ("chmod", "chown", "chgrp") else ops
    for target in targets:
        if name == "chmod" and paths.is_auth_file(target, cmd.cwd) and mode_exposes_secret(mode, target):
            return finding("auth_tampering", f"chmod {mode} exposes {target}", cmd.text)
        if name == "chmod" and mode_sets_id(mode) and paths.is_system_binary(target):
            return finding("system_permissions", f"makes {target} setuid/setgid", cmd.text)
        root = paths.critical_root(target, cmd.cwd)
        if root is None:
            continue
        if paths.is_home(root):
            if name == "chmod" and recursive and mode_is_dangerous(mode):
                return finding("system_permissions", f"chmod -R {mode} on the home directory {root}", cmd.text)
        elif recursive or (root in paths.TOP_LEVEL and (name != "chmod" or mode_is_dangerous(mode))):
            return finding("system_permissions", f"{name} {'-R ' if recursive else ''}on the system path {root}",
                           cmd.text)
    return None


def rule_auth(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    for target, verb in writes(cmd):
        if paths.is_auth_file(target, cmd.cwd):
            return finding("auth_tampering", f"{verb} {target}", cmd.text)
    for target in removes(cmd):
        if paths.is_auth_file(target, cmd.cwd):
            return finding("auth_tampering", f"removes {target}", cmd.text)
    if name == "passwd" and ("d" in short_flags(cmd) or "--delete" in long_flags(cmd)):
        return finding("auth_tampering", "removes an account's password", cmd.text)
    if name in ("usermod", "useradd"):
        if option_value(cmd.args, "-p", "--password") == "":
            return finding("auth_tampering", f"{name} sets an empty password", cmd.text)
        if option_value(cmd.args, "-u", "--uid") == "0":
            return finding("auth_tampering", f"{name} gives an account uid 0 (root)", cmd.text)
    if name == "chpasswd":
        text = input_of(cmd).text or b""
        if re.search(rb"(^|\n)root:", text):
            return finding("auth_tampering", "sets the root password", cmd.text)
    return None


def rule_shutdown(cmd: Command, ctx: Context) -> Finding | None:
    name, ops = cmd.name, operands(cmd)
    if name == "shutdown" and not ({"c", "k"} & short_flags(cmd)):
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


def erased_by_writing(cmd: Command) -> list[str]:
    """Files whose contents this command destroys: overwritten, emptied or edited in place, or replaced
    by /dev/null. Copying or moving something *into* a path (`cp -r a /var/log`) erases nothing."""
    erased = [t for t, verb in writes(cmd) if verb in ("overwrites", "empties", "edits")]
    ops = operands(cmd)
    if cmd.name in ("cp", "mv", "ln", "install") and len(ops) >= 2 and ops[0] == "/dev/null":
        erased.append(ops[-1])
    return erased


HISTORY_VARIABLES = {"HISTFILE": ("", "/dev/null"), "HISTSIZE": ("0",), "HISTFILESIZE": ("0",)}


def rule_history_logs(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name == "history" and "c" in short_flags(cmd):
        return finding("history_log_wipe", "clears the shell history", cmd.text)
    for variable, value in cmd.assignments:
        if value in HISTORY_VARIABLES.get(variable, ()):
            return finding("history_log_wipe", f"sets {variable}={value or '(empty)'}: history is not kept",
                           cmd.text)
    if name == "unset" and "HISTFILE" in cmd.args or name == "set" and cmd.args[:2] == ["+o", "history"]:
        return finding("history_log_wipe", "turns shell history off", cmd.text)
    recursive = bool({"r", "R"} & short_flags(cmd)) or cmd.recursive
    for target in removes(cmd) + erased_by_writing(cmd):
        if paths.is_history_file(target):
            return finding("history_log_wipe", f"erases the shell history {target}", cmd.text)
        log = paths.log_target(target, cmd.cwd)
        if log and (log != paths.LOG_DIR or recursive or target.endswith("*") or name == "truncate"):
            return finding("history_log_wipe", f"erases {log}", cmd.text)
    if name == "find":
        spec = parse_find(cmd.words)
        if spec.deletes and not spec.narrowed and any(paths.log_target(r) for r in spec.roots):
            return finding("history_log_wipe", "deletes every file under /var/log", cmd.text)
    if name == "journalctl":
        age = option_value(cmd.args, "--vacuum-time")
        size = option_value(cmd.args, "--vacuum-size")
        if age and re.fullmatch(r"\d+(s|sec|seconds?|m|min|minutes?)?", age) or \
                size and re.fullmatch(r"\d+[Kk]?", size):
            return finding("history_log_wipe", "vacuums the journal down to nothing", cmd.text)
    return None


def rule_firewall(cmd: Command, ctx: Context) -> Finding | None:
    name, ops = cmd.name, operands(cmd)
    if re.fullmatch(r"ip6?tables(-legacy|-nft)?", name) and ("F" in short_flags(cmd) or "--flush" in long_flags(cmd)):
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
    if any(t == "/etc/selinux/config" for t, _ in writes(cmd)):
        content = " ".join(cmd.words) + (written_text(cmd) or "")
        if re.search(r"SELINUX=(disabled|permissive)", content):
            return finding("firewall_disable", "disables SELinux at boot", cmd.text)
    return None


SOCKET_CODE = re.compile(r"socket|fsockopen|TCPSocket|IO::Socket|/inet/", re.I)
SHELL_CODE = re.compile(r"/bin/(ba|z|da)?sh|subprocess|pty\.spawn|dup2|\bexec\b|shell_exec|proc_open|popen|spawn"
                        r"|getline|system\s*\(")


def rule_reverse_shell(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name in ("nc", "ncat", "netcat") and ({"e", "c"} & short_flags(cmd) or
                                              {"--exec", "--sh-exec", "--lua-exec"} & long_flags(cmd)):
        return finding("reverse_shell", f"{name} hands a shell to a network peer", cmd.text)
    if name == "socat" and any(re.search(r"(^|[,!])(exec|system):", a.lower()) for a in cmd.args):
        return finding("reverse_shell", "socat connects a program to a socket", cmd.text)
    shell_like = name in SHELLS or (cmd.words[:1] and cmd.words[0].startswith("$"))
    for op, target in cmd.redirects:
        if shell_like and re.match(r"^/dev/(tcp|udp)/", target):
            return finding("reverse_shell", f"connects {name or 'a shell'} to {target}", cmd.text)
        if shell_like and target.startswith("&") and target[1:] in ctx.socket_fds:
            return finding("reverse_shell", "runs a shell on a socket opened with /dev/tcp", cmd.text)
    if executes_stdin(cmd) and any(m.name in REVERSE_CLIENTS for m in cmd.pipeline if m is not cmd):
        return finding("reverse_shell", f"pipes a network connection through {name}", cmd.text)
    code = interpreter_code(cmd) if is_interpreter(cmd) or name in ("awk", "gawk") else None
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
        found += re.findall(r"(?:^|[=@])([~/][^\s;,'\"]*)", arg)
    return found


def rule_exfiltration(cmd: Command, ctx: Context) -> Finding | None:
    name = cmd.name
    if name not in NETWORK_SENDERS and name != "ssh":
        return None
    if input_of(cmd).kind == "secret":
        return finding("credential_exfiltration", f"sends credentials or the environment through {name}",
                       cmd.text)
    if name == "ssh":
        return None
    if any(SECRET in a for a in cmd.args):
        return finding("credential_exfiltration", f"{name} sends a credential read by a substitution", cmd.text)
    credentials = [p for p in sent_paths(cmd) if paths.is_credential(p)]
    if not credentials:
        return None
    if name in ("scp", "rsync", "sftp") and not any(re.match(r"^[\w.-]*@?[\w.-]+:", o) for o in operands(cmd)):
        return None
    return finding("credential_exfiltration", f"{name} sends {credentials[0]} to another host", cmd.text)


CRON_FIELDS = re.compile(r"^\s*(@\w+|(\S+\s+){5})")


def rule_persistence(cmd: Command, ctx: Context) -> Finding | None:
    targets = [t for t, _ in writes(cmd) if paths.is_persistence_file(t)]
    if cmd.name == "crontab" and (operands(cmd) == ["-"] or (not operands(cmd) and cmd.upstream is not None)):
        targets.append("the crontab")
    if not targets:
        return None
    if any(t.endswith("ld.so.preload") for t in targets):
        return finding("persistence", "preloads a library into every process", cmd.text)
    content = written_text(cmd)
    for line in (content or "").splitlines():
        planted = planted_command(line, targets[0])
        reason = planted and suspicious_startup(planted, ctx)
        if reason:
            return finding("persistence", f"plants `{planted.strip()}` in {targets[0]}: {reason}", cmd.text)
    return None


def planted_command(line: str, target: str) -> str:
    if "cron" not in target:
        return line
    line = CRON_FIELDS.sub("", line, count=1)
    if re.search(r"/etc/cron(tab|\.d/)", target):
        line = re.sub(r"^\s*\S+\s+", "", line, count=1)  # the user field of system crontabs
    return line


def suspicious_startup(line: str, ctx: Context) -> str | None:
    inner = ctx.judge(line) if ctx.judge else None
    if inner is not None:
        return inner.reason
    if re.search(r"\b(curl|wget|nc|ncat|netcat|socat|telnet)\b|/dev/(tcp|udp)/", line):
        return "runs a network command at every start"
    first = line.strip().split()[0] if line.strip() else ""
    if paths.is_temporary_executable(first):
        return f"runs {first} from a temporary or hidden location"
    if re.match(r"\s*alias\s+(sudo|su|ssh|passwd)=", line):
        return "hijacks a credential-handling command"
    return None


RELEVANT = frozenset({
    "rm", "find", "rsync", "mv", "awk", "gawk", "dd", "tee", "cp", "install", "ln", "truncate", "sed", "wipefs",
    "parted", "hdparm", "diskutil", "source", ".", "eval", "kill", "killall5", "chmod", "chown", "chgrp",
    "setfacl", "unlink", "srm", "passwd", "usermod", "useradd", "chpasswd", "shutdown", "reboot", "halt",
    "poweroff", "init", "telinit", "systemctl", "loginctl", "service", "history", "unset", "set", "export",
    "declare", "typeset", "readonly", "local", "journalctl", "nft", "ufw", "setenforce", "aa-teardown",
    "apparmor_teardown", "netsh", "crontab", *DISK_TOOLS, *SHELLS, *INTERPRETERS, *NETWORK_SENDERS,
    *REVERSE_CLIENTS, "ssh",
})
RELEVANT_PREFIXES = ("mkfs", "python", "iptables", "ip6tables")


def is_relevant(cmd: Command, ctx: Context) -> bool:
    """Whether any rule could fire: a cheap gate in front of the rules (most commands are plain)."""
    return bool(cmd.redirects or cmd.assignments or cmd.name in RELEVANT or cmd.name.startswith(RELEVANT_PREFIXES)
                or (cmd.words and (cmd.words[0].startswith("$") or cmd.words[0].removeprefix("./") in ctx.downloaded)))


RULES: tuple[Rule, ...] = (
    rule_recursive_delete, rule_disk_wipe, rule_reverse_shell, rule_remote_code, rule_exfiltration, rule_auth,
    rule_fork_bomb, rule_permissions, rule_firewall, rule_persistence, rule_obfuscated, rule_shutdown,
    rule_history_logs,
)
