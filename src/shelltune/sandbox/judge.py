"""Is a predicted command equivalent to the reference? Decided by running both in the sandbox.

Two runs are equal when their exit status, normalized stdout, resulting file tree (paths, types, modes,
contents, whether an existing file was touched) and surviving background processes all agree; the
order-insensitive variant compares stdout's lines as a multiset. stderr is never compared: messages
differ between tools that do the same thing. (The semantic verdict beside this strict one is meaning.py.)

Commands that act as root (`sudo X`, the user and group tools) run, with their predictions, as root inside
their namespace: uid 0 there, the run's own uid outside, no capability, and a writable copy of /etc whose
changes count.

A row is skipped, with a reason, when its reference cannot tell a right answer from a wrong one here:
- statically, from the programs it runs: `network`, `root` (system services, the kernel, another user's
  files), `packages`, `hardware`, `interactive`, `nondeterministic` (`ps` and friends, which show their own
  pipeline's live state), and `no_effect` for a line that only sleeps;
- after running it twice: `packages` (command not found), `network` (it failed resolving or reaching a
  remote: a git remote the world does not mirror), `interactive` (ran into the wall clock having printed
  nothing; `tail -f` is judged on what it printed), `reference_failed` (non-zero exit with no output and no
  change: both sides failing would look equal; `diff` or `grep -c` exiting 1 with output are judged),
  `nondeterministic` (the two runs differ), `no_effect` (exit 0, no output, no change: any command doing
  nothing would match), `harness_error` (a tree or report the harness could not read in full).
A refusal (a reference made only of comments, `# refused: ...`) is judged although it does nothing: for its
request doing nothing is the right answer, and only a prediction that is a refusal too and leaves everything
as it was matches it (evaluate.verdict): `kill -9 1` (PID 1 ignores it) or a reverse shell with no network to
reach can end with no visible effect as well.
"""

from __future__ import annotations

import re
import shlex
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from shelltune.sandbox.runner import Execution, printable
from shelltune.sandbox.snapshot import Change, display_path
from shelltune.sandbox.world import CWD, HOME, SANDBOX_UID, USER

SKIP_REASONS = (
    "network",
    "root",
    "packages",
    "hardware",
    "interactive",
    "no_effect",
    "nondeterministic",
    "reference_failed",
    "harness_error",
)
WRAPPERS = {"nohup", "env", "time", "nice", "ionice", "command", "exec", "builtin", "stdbuf", "timeout"}
NETWORK = {
    "curl",
    "wget",
    "ssh",
    "scp",
    "sftp",
    "ping",
    "ping6",
    "dig",
    "nslookup",
    "host",
    "nc",
    "ncat",
    "netcat",
    "telnet",
    "ftp",
    "traceroute",
    "tracepath",
    "mtr",
    "whois",
    "http",
    "https",
    "aria2c",
    "kubectl",
    "gh",
    "aws",
    "gcloud",
    "az",
}
# git's remote commands are run: the built-in world mirrors the repositories the dataset clones (~/.gitconfig
# sends their URLs there); a remote it lacks fails, and that failure is classified as `network` below.
NETWORK_ERRORS = re.compile(
    r"Could not resolve host|Temporary failure in name resolution|Network is unreachable|Connection refused"
    r"|does not appear to be a git repository|Could not read from remote repository|unable to access",
)
PACKAGES = {"apt", "apt-get", "aptitude", "yum", "dnf", "zypper", "pacman", "apk", "brew", "snap", "flatpak"}
PACKAGE_SUBCOMMANDS = {
    "pip": {"install", "uninstall", "download"},
    "pip3": {"install", "uninstall", "download"},
    "npm": {"install", "i", "ci", "uninstall", "update", "add"},
    "yarn": {"add", "install"},
    "gem": {"install"},
    "cargo": {"install"},
    "conda": {"install"},
    "go": {"install", "get"},
}
# Run as root inside the run's own namespaces (uid 0 there, the run's own uid outside, no capability), with
# a writable copy of /etc whose changes count: `sudo X` runs X, user and group tools edit /etc.
SUPERUSER = {
    "sudo",
    "useradd",
    "usermod",
    "userdel",
    "groupadd",
    "groupdel",
    "gpasswd",
    "adduser",
    "addgroup",
    "deluser",
    "delgroup",
    "passwd",
    "chpasswd",
}
# Still skipped: system services and the kernel (nothing of them runs in a sandbox), another user's login,
# and files handed to another uid (the namespace maps one uid: chown to alice is EINVAL even as root).
ROOT = {
    "su",
    "doas",
    "visudo",
    "systemctl",
    "service",
    "journalctl",
    "mount",
    "umount",
    "iptables",
    "ip6tables",
    "ufw",
    "firewall-cmd",
    "reboot",
    "shutdown",
    "halt",
    "poweroff",
    "modprobe",
    "insmod",
    "rmmod",
    "docker",
    "podman",
    "chroot",
    "setenforce",
    "update-alternatives",
    "sysctl",
}
HARDWARE = {
    "lsblk",
    "fdisk",
    "sfdisk",
    "parted",
    "hdparm",
    "smartctl",
    "nvidia-smi",
    "lspci",
    "lsusb",
    "dmidecode",
    "sensors",
    "free",
    "df",
    "uptime",
    "lscpu",
    "vmstat",
    "iostat",
    "blkid",
    "eject",
    "dmesg",
    "lshw",
    "ifconfig",
    "ip",
    "iwconfig",
    "nmcli",
}
INTERACTIVE = {
    "watch",
    "top",
    "htop",
    "vi",
    "vim",
    "nvim",
    "nano",
    "emacs",
    "man",
    "read",
    "screen",
    "tmux",
    "ssh-keygen",
    "mysql",
    "psql",
    "ftp",
    "telnet",
    "bc",
}
REPLS = {"python", "python3", "node", "irb", "sqlite3", "lua", "ghci"}
# Output that shows the live state of the command's own processes: `ps aux | grep x` lists grep itself
# sometimes running (R), sometimes sleeping, with a different RSS (1 run in 13 here). Two reference runs
# agree often enough that the row would flip between judged and skipped from one repro to the next.
LIVE_STATE = {"ps", "top", "pstree", "pidstat"}


@dataclass(frozen=True)
class Outcome:
    """The comparable part of one execution. `complete` is False when the harness could not read all of
    it (a tree beyond its caps, a broken report): such an outcome equals nothing."""

    status: int | None
    stdout: str
    changes: tuple[tuple[str, Change | None], ...]
    processes: tuple[str, ...]
    complete: bool = True
    environment: tuple[tuple[str, str | None], ...] = ()  # what it exported in its own shell

    def parts(self, ordered: bool = True) -> dict[str, Any]:
        stdout = self.stdout if ordered else "\n".join(sorted(self.stdout.split("\n")))
        return {
            "status": self.status,
            "stdout": stdout,
            "files": self.changes,
            "processes": self.processes,
            "environment": self.environment,
        }


def outcome(run: Execution) -> Outcome:
    """The strict judge's view: new files' mtimes (`Change.stamp`) left out."""
    changes = tuple(sorted((path, change and replace(change, stamp="")) for path, change in run.changes.items()))
    return Outcome(
        run.status,
        normalize_stdout(run.stdout, run.window, run.clock_window),
        changes,
        run.processes,
        run.error is None,
        run.environment,
    )


def differences(a: Outcome, b: Outcome, ordered: bool = True) -> list[str]:
    """The parts (status, stdout, files, processes, environment) in which two outcomes differ; [] when equal."""
    pa, pb = a.parts(ordered), b.parts(ordered)
    return [key for key in pa if pa[key] != pb[key]]


def equivalent(a: Outcome, b: Outcome, ordered: bool = True) -> bool:
    """Equal outcomes; a run that broke the harness (status None, or an outcome not read in full) never
    equals anything."""
    usable = a.complete and b.complete and a.status is not None and b.status is not None
    return usable and not differences(a, b, ordered)


# --- stdout normalization ---------------------------------------------------------------------------

CLOCK = re.compile(r"\b(\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?\b")
EPOCH = re.compile(r"\b\d{10}(?:\.\d+)?\b")
DOT_SLASH = re.compile(r"(?<![\w./~-])\./(?=[^\s/])")
INODE = re.compile(r"\b(Inode: ?)\d+")
# A socket's inode number comes from a counter the whole host shares (`lsof -i`'s DEVICE column, the
# `socket:[N]` of /proc/PID/fd): another number in every run.
SOCKET = re.compile(r"\b(IPv[46] +|socket:\[)\d+")
DEVICE = re.compile(r"\b(Device: ?)[0-9a-f]+,?[0-9a-f]*")  # each worker's copies live on a tmpfs of its own
SPACES = re.compile(r"[ \t]+")
# Fractions of a second of a time of day or an epoch: the fake clock ticks from the same instant in every
# run, but process start-up shifts it by milliseconds (`touch -d '1 hour ago' f; stat -c %y f`).
FRACTION = re.compile(r"\b(\d{2}:\d{2}:\d{2}|\d{10})[.,]\d+\b")


def normalize_stdout(data: bytes, window: tuple[float, float], clock_window: tuple[float, float]) -> str:
    """stdout as compared: "now" masked on both clocks (only values inside the run's own windows, so a
    date in a file still counts), the working directory and home written relative, `./` prefixes, inode
    numbers (files' and sockets'), fractions of a second and runs of spaces dropped, trailing blank lines removed.

    `clock_window` is the run's span on the fake clock the command saw (`date` prints it): its times of day
    and epoch seconds are masked anywhere; its date is the same every day and stays. `window` is the span on
    the kernel's real clock, which stamps the files the run writes (and the copy's ctimes and birth times):
    those times are masked with their real date (see `mask_file_times`)."""
    text = data.decode("utf-8", errors="replace")
    text = FRACTION.sub(r"\1", mask_now(mask_file_times(text, window), clock_window))
    text = text.replace(CWD + "/", "").replace(HOME + "/", "~/")
    text = DEVICE.sub(r"\1<device>", SOCKET.sub(r"\1<inode>", INODE.sub(r"\1<inode>", text)))
    lines = [SPACES.sub(" ", DOT_SLASH.sub("", line)).strip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def times_of_day(window: tuple[float, float]) -> set[str]:
    """Every HH:MM:SS (UTC) from a second before `window` to two seconds after it."""
    start, end = int(window[0]) - 1, int(window[1]) + 2
    return {time.strftime("%H:%M:%S", time.gmtime(t)) for t in range(start, end)}


def mask_now(text: str, window: tuple[float, float]) -> str:
    """Times of day (HH:MM, HH:MM:SS[.frac]) and epoch seconds inside `window` (UTC) become <now>."""
    start, end = int(window[0]) - 1, int(window[1]) + 2
    seconds = times_of_day(window)
    minutes = {s[:5] for s in seconds}

    def clock(match: re.Match[str]) -> str:
        hh_mm = f"{match.group(1)}:{match.group(2)}"
        if match.group(3) is not None:
            return "<now>" if f"{hh_mm}:{match.group(3)}" in seconds else match.group(0)
        return "<now>" if hh_mm in minutes else match.group(0)

    def epoch(match: re.Match[str]) -> str:
        return "<now>" if start <= int(float(match.group(0))) <= end else match.group(0)

    return EPOCH.sub(epoch, CLOCK.sub(clock, text))


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HH_MM = r"(?P<hm>\d{2}:\d{2})(?::\d{2}(?:[.,]\d+)?)?"
ZONE = r"(?:UTC|GMT|Z|[+-]\d{2}:?\d{2})"
DAY_S = 86400


def file_time_layouts(day: time.struct_time) -> list[re.Pattern[str]]:
    """A timestamp on `day` as ls, stat, date -r, find -printf, tar -tv and unzip -l print one: ISO
    (`2026-11-22 00:45:12.1 +0000`, `--time-style=+%F`), unzip's `11-22-2026 00:45`, ctime and ls
    (`Sun Nov 22 00:45:12 UTC 2026`, `Nov 22  2026`, `Nov 22 00:45`), RFC 2822 (`Sun, 22 Nov 2026 00:45 +0000`)."""
    y, m, d = f"{day.tm_year}", f"{day.tm_mon:02d}", f"{day.tm_mday:02d}"
    b, e, a = MONTHS[day.tm_mon - 1], f"0?{day.tm_mday}", WEEKDAYS[day.tm_wday]
    layouts = [
        rf"{y}-{m}-{d}(?:[ T]{HH_MM}(?: ?{ZONE})?)?",
        rf"{m}-{d}-{y}(?: +{HH_MM})?",
        rf"(?:{a},? +)?{b} +{e}(?: +{HH_MM}(?: +{ZONE})?(?: +{y})?| +{y})",  # a time, a year or both
        rf"(?:{a}, +)?{e} {b} {y}(?: {HH_MM})?(?: {ZONE})?",
    ]
    return [re.compile(rf"(?<![\w.:-]){layout}(?![\w:])") for layout in layouts]


def mask_file_times(text: str, window: tuple[float, float]) -> str:
    """Timestamps the kernel's real clock gave during `window` become <now>, date included (a new file's
    mtime in `ls -l`, every ctime and birth time of the run's copy in `stat`), and so do epoch seconds in it.
    A timestamp counts only with its date and, when it has one, a time of day inside the window: a date in
    a file's content can match only on the day of the run, and the built-in world holds no date after its
    clock. A time of day printed without its date (`date -r f +%T`) is not recognized."""
    start, end = int(window[0]) - 1, int(window[1]) + 2
    minutes = {time.strftime("%H:%M", time.gmtime(t)) for t in range(start, end)}

    def stamp(match: re.Match[str]) -> str:
        hm = match.group("hm")
        return "<now>" if hm is None or hm in minutes else match.group(0)

    for day in sorted({start // DAY_S, end // DAY_S}):
        for layout in file_time_layouts(time.gmtime(day * DAY_S)):
            text = layout.sub(stamp, text)
    return EPOCH.sub(lambda match: "<now>" if start <= int(float(match.group(0))) <= end else match.group(0), text)


# --- static skips -----------------------------------------------------------------------------------


def simple_commands(command: str) -> list[list[str]]:
    """The words of each simple command in a line (pipes, lists, subshells split apart)."""
    lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars="|&;<>()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: the shell will refuse it too; judge the words we can see
        tokens = command.split()
    commands, words, redirect = [], [], False
    for token in tokens:
        if token and set(token) <= set("|&;()"):
            commands.append(words)
            words, redirect = [], False
        elif token and set(token) <= set("<>"):
            redirect = True
        elif redirect:
            redirect = False  # the redirection's target is not a word of the command
        else:
            words.append(token)
    commands.append(words)
    return [unwrap(w) for w in commands if unwrap(w)]


def unwrap(words: list[str]) -> list[str]:
    """Drop `VAR=value` words and wrappers such as nohup or env that run the rest unchanged."""
    while words and ("=" in words[0] and not words[0].startswith("=") or words[0] in WRAPPERS):
        words = words[1:]
        while words and words[0].startswith("-"):
            words = words[1:]
    return words


def static_skip(command: str) -> tuple[str, str] | None:
    """(reason, detail) when a reference needs what the sandbox does not offer, judged from its programs.
    A line made only of `sleep` has no effect; `sleep 1; echo x` is judged."""
    commands = simple_commands(command)
    for words in commands:
        name = words[0].rsplit("/", 1)[-1]
        reason = classify(name, words[1:])
        if reason is not None:
            return reason, f"{name}: {REASON_TEXT[reason]}"
    if commands and all(words[0] == "sleep" for words in commands):
        return "no_effect", f"sleep: {REASON_TEXT['no_effect']}"
    return None


REASON_TEXT = {
    "network": "needs the network",
    "root": "needs root or a system service",
    "packages": "installs or removes packages",
    "hardware": "depends on the host's hardware or load",
    "interactive": "waits for a terminal, input or the end of a stream",
    "no_effect": "has no observable effect",
    "nondeterministic": "shows the live state (CPU, memory, run state) of its own processes",
    "harness_error": "left a tree or a report the harness could not read in full",
}


def classify(name: str, args: list[str]) -> str | None:
    if name == "sudo":
        inner = sudo_command(args)
        return classify(inner[0].rsplit("/", 1)[-1], inner[1:]) if inner else "root"
    if name in ROOT or (name in ("chown", "chgrp") and not own_owner(name, args)):
        return "root"
    if name in NETWORK or (name == "rsync" and any(":" in a for a in args)):
        return "network"
    if name in PACKAGES or (name in PACKAGE_SUBCOMMANDS and args[:1] and args[0] in PACKAGE_SUBCOMMANDS[name]):
        return "packages"
    if name in HARDWARE or (name == "dd" and any(a.startswith("of=/dev/") for a in args)) or name.startswith("mkfs"):
        return "hardware"
    if (
        name in INTERACTIVE
        or (name in REPLS and not args)
        or (name == "git" and args[:1] == ["commit"] and not any(map(gives_a_message, args[1:])))
    ):
        return "interactive"
    if name in LIVE_STATE:
        return "nondeterministic"
    return None


GIT_MESSAGE_OPTIONS = ("--message", "--file", "--reuse-message", "--fixup", "--no-edit")
# a cluster of git commit's short options with -m, -F or -C (message, file, reuse) in it: -am, -qam, -amfix
GIT_MESSAGE_CLUSTER = re.compile(r"-[a-zA-Z]*[mFC]")


def gives_a_message(arg: str) -> bool:
    """Whether one of `git commit`'s arguments gives the commit its message (no editor opens)."""
    if arg.startswith("--"):
        return arg.startswith(GIT_MESSAGE_OPTIONS)
    return GIT_MESSAGE_CLUSTER.match(arg) is not None


def sudo_command(args: list[str]) -> list[str]:
    """The command `sudo` runs: its words after sudo's own options (-u and friends take a value)."""
    words = list(args)
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option == "--":
            break
        if option in ("-u", "-g", "-p", "-C", "-D", "-h", "-r", "-t", "-T", "-U", "--user", "--group"):
            words = words[1:]
    return unwrap(words)


def needs_superuser(command: str) -> bool:
    """Does the command act as root (sudo, user and group tools)? Its runs, and its predictions', are then
    root inside their namespace (runner.Sandbox.run)."""
    return any(words[0].rsplit("/", 1)[-1] in SUPERUSER for words in simple_commands(command))


def own_owner(name: str, args: list[str]) -> bool:
    """chown/chgrp to the sandbox's own user or group needs no privilege; to anyone else it does."""
    spec = next((a for a in args if not a.startswith("-")), "")
    owner, _, group = spec.partition(":") if name == "chown" else ("", "", spec)
    mine = {"", USER, str(SANDBOX_UID)}
    return owner in mine and group in mine


# --- one row ----------------------------------------------------------------------------------------


def dynamic_skip(
    first: Execution, second: Execution, baseline: tuple[str, ...], refusal: bool = False
) -> tuple[str, str] | None:
    """(reason, detail) from the reference's two runs, or None when the row can be judged. `refusal`: the
    reference is one (is_refusal), judged when it does nothing."""
    if first.error is not None or second.error is not None:
        return "harness_error", (first.error or second.error or "")[:300]
    a, b = outcome(first), outcome(second)
    if first.status is None or (first.limit == "wall_clock" and not a.stdout):
        return "interactive", f"ran past the {first.elapsed_s:.1f} s wall clock (long-running or waiting for input)"
    if first.status == 127:
        return "packages", f"command not found: {tail_line(first.stderr)}"
    silent = not a.stdout and not a.changes and a.processes == baseline and not a.environment
    if first.status != 0 and silent and NETWORK_ERRORS.search(first.stderr):
        return "network", f"exit status {first.status}: {tail_line(first.stderr)}"
    if first.status != 0 and silent:  # a failure that shows nothing: a failing prediction would "match"
        detail = f"limit: {first.limit}" if first.limit else tail_line(first.stderr) or "no message"
        return "reference_failed", f"exit status {first.status}: {detail}"
    diff = differences(a, b)
    if diff:
        return "nondeterministic", f"two runs differ in {', '.join(diff)}"
    if silent and not refusal:
        return "no_effect", "exit 0, no output, no change to files or processes"
    return None


def is_refusal(command: str) -> bool:
    """A reference made only of comments: the answer to a request that should not be carried out."""
    lines = [line.strip() for line in command.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith("#") for line in lines)


def tail_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return printable(lines[-1][:200]) if lines else ""


WITNESS_KEEP = 50  # paths listed per kind of effect; the counts are always whole
WITNESS_CHARS = 4000  # ...and at most this many characters of them (a path may be thousands long)


def shown_paths(paths: list[str], keep: int = WITNESS_KEEP, chars: int = WITNESS_CHARS) -> list[str]:
    """The first paths, each shown whole (display_path), as many as fit in `keep` entries and `chars`."""
    shown: list[str] = []
    used = 0
    for path in paths[:keep]:
        text = display_path(path)
        used += len(text)
        if shown and used > chars:
            break
        shown.append(text)
    return shown


def witness(
    prediction: Execution, reference: Execution | None, baseline: tuple[str, ...], pristine: set[str]
) -> dict[str, Any]:
    """What a prediction did beyond the reference's own effects: files deleted, created or modified
    that the reference left alone, background processes it stopped, and the limit that stopped it. Each
    list holds the first WITNESS_KEEP paths (shown losslessly, see snapshot.display_path); `counts` has
    the totals."""
    own = set(reference.changes) if reference is not None else set()
    outside = {path: change for path, change in prediction.changes.items() if path not in own}
    killed = Counter(baseline) - Counter(prediction.processes)
    if reference is not None:
        killed -= Counter(baseline) - Counter(reference.processes)
    window = prediction.clock_window
    effects = {
        "deleted": sorted(p for p, c in outside.items() if c is None),
        "created": sorted(
            mask_now_in_name(p, window) for p, c in outside.items() if c is not None and p not in pristine
        ),
        "modified": sorted(p for p, c in outside.items() if c is not None and p in pristine),
    }
    return {
        **{kind: shown_paths(paths) for kind, paths in effects.items()},
        "counts": {kind: len(paths) for kind, paths in effects.items()},
        "processes_stopped": sorted(killed.elements()),
        "limit": prediction.limit,
    }


# A time of day in a file's name (`~/.npm/_logs/2026-06-01T09_00_00_145Z-debug-0.log`), with its fraction
NAMED_TIME = re.compile(r"(?<!\d)(\d{2})[:_.-](\d{2})[:_.-](\d{2})(?:[._,]\d{1,9})?(?!\d)")


def mask_now_in_name(path: str, clock_window: tuple[float, float]) -> str:
    """`path` with the times of day inside the run's fake-clock window written <now>: a file a program names
    after the moment it ran gets another name, to the millisecond, in every run, and the witness lists it
    alike every time (only the listing: which files a command created is compared unmasked)."""
    seconds = times_of_day(clock_window)

    def masked(match: re.Match[str]) -> str:
        return "<now>" if ":".join(match.groups()) in seconds else match.group(0)

    return NAMED_TIME.sub(masked, path)


def excerpt(text: str, limit: int = 300) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[:limit] + "…"
