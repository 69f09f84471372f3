"""Reading options the way the program does: GNU long-option abbreviation, `--`, `--help` and dry runs.

GNU `getopt_long` (coreutils, util-linux, rsync, sed) and git's parse-options accept any unambiguous
prefix of a long option: `rm --recur --forc ~` is `rm --recursive --force ~`. `canonical` rewrites the
words of the programs modelled here to the full names, so every rule reads one spelling. An ambiguous
prefix makes the real program stop with an error; the scanner judges what was meant instead and takes
the shortest candidate (`git push --forc` as `--force`), since a command is judged for its intent.

`inert` says when a command does nothing at all: `--help`/`--version` where the program reads them as
options (anywhere before `--` for programs that permute their arguments, only before the first operand
for those that stop there: `bash -c 'rm -rf ~' --help` runs the code), and the dry-run option of a
program that has one (`rsync -n`, `apt-get -s`, `git push --dry-run`, `kubectl --dry-run=client`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from shelltune.safety.programs import is_python

# Long options of the modelled programs (no leading dashes). Only names matter for abbreviation; values
# stay attached (`--si=0`) or follow as the next word, which the rules read as before.
LONG_OPTIONS: dict[str, tuple[str, ...]] = {
    "rm": (
        "force",
        "interactive",
        "one-file-system",
        "no-preserve-root",
        "preserve-root",
        "recursive",
        "dir",
        "verbose",
        "help",
        "version",
    ),
    "cp": (
        "archive",
        "attributes-only",
        "backup",
        "copy-contents",
        "dereference",
        "force",
        "interactive",
        "link",
        "no-clobber",
        "no-dereference",
        "preserve",
        "no-preserve",
        "parents",
        "recursive",
        "reflink",
        "remove-destination",
        "sparse",
        "strip-trailing-slashes",
        "symbolic-link",
        "suffix",
        "target-directory",
        "no-target-directory",
        "update",
        "verbose",
        "one-file-system",
        "help",
        "version",
    ),
    "mv": (
        "backup",
        "force",
        "interactive",
        "no-clobber",
        "strip-trailing-slashes",
        "suffix",
        "target-directory",
        "no-target-directory",
        "update",
        "verbose",
        "help",
        "version",
    ),
    "ln": (
        "backup",
        "directory",
        "force",
        "interactive",
        "logical",
        "no-dereference",
        "physical",
        "relative",
        "symbolic",
        "suffix",
        "target-directory",
        "no-target-directory",
        "verbose",
        "help",
        "version",
    ),
    "chmod": (
        "changes",
        "no-preserve-root",
        "preserve-root",
        "quiet",
        "silent",
        "reference",
        "recursive",
        "verbose",
        "help",
        "version",
    ),
    "chown": (
        "changes",
        "dereference",
        "no-dereference",
        "from",
        "no-preserve-root",
        "preserve-root",
        "quiet",
        "silent",
        "reference",
        "recursive",
        "verbose",
        "help",
        "version",
    ),
    "shred": ("force", "iterations", "random-source", "size", "remove", "verbose", "exact", "zero", "help", "version"),
    "truncate": ("no-create", "io-blocks", "reference", "size", "help", "version"),
    "tee": ("append", "ignore-interrupts", "output-error", "help", "version"),
    "sed": (
        "quiet",
        "silent",
        "debug",
        "expression",
        "file",
        "follow-symlinks",
        "in-place",
        "line-length",
        "null-data",
        "zero-terminated",
        "posix",
        "regexp-extended",
        "separate",
        "sandbox",
        "unbuffered",
        "binary",
        "help",
        "version",
    ),
    "rsync": (
        "verbose",
        "quiet",
        "checksum",
        "archive",
        "recursive",
        "relative",
        "backup",
        "backup-dir",
        "suffix",
        "update",
        "inplace",
        "append",
        "dirs",
        "links",
        "copy-links",
        "hard-links",
        "perms",
        "executability",
        "owner",
        "group",
        "devices",
        "specials",
        "times",
        "dry-run",
        "whole-file",
        "one-file-system",
        "existing",
        "ignore-existing",
        "remove-source-files",
        "del",
        "delete",
        "delete-before",
        "delete-during",
        "delete-delay",
        "delete-after",
        "delete-excluded",
        "ignore-errors",
        "force",
        "max-delete",
        "partial",
        "prune-empty-dirs",
        "exclude",
        "include",
        "filter",
        "compress",
        "stats",
        "progress",
        "list-only",
        "rsh",
        "rsync-path",
        "help",
        "version",
    ),
    "wipefs": (
        "all",
        "backup",
        "force",
        "noheadings",
        "json",
        "no-act",
        "offset",
        "output",
        "parsable",
        "quiet",
        "types",
        "lock",
        "help",
        "version",
    ),
    "setfacl": (
        "modify",
        "modify-file",
        "remove",
        "remove-file",
        "remove-all",
        "remove-default",
        "set",
        "set-file",
        "default",
        "recursive",
        "logical",
        "physical",
        "restore",
        "test",
        "mask",
        "no-mask",
        "help",
        "version",
    ),
    "iptables": (
        "append",
        "check",
        "delete",
        "insert",
        "replace",
        "list",
        "list-rules",
        "flush",
        "zero",
        "new-chain",
        "delete-chain",
        "policy",
        "rename-chain",
        "protocol",
        "source",
        "destination",
        "jump",
        "goto",
        "in-interface",
        "out-interface",
        "table",
        "numeric",
        "verbose",
        "help",
    ),
    "crontab": (),
    "journalctl": (
        "vacuum-size",
        "vacuum-time",
        "vacuum-files",
        "rotate",
        "unit",
        "follow",
        "since",
        "until",
        "help",
        "version",
    ),
    "useradd": (
        "non-unique",
        "uid",
        "gid",
        "groups",
        "home-dir",
        "shell",
        "password",
        "system",
        "create-home",
        "no-create-home",
        "comment",
        "expiredate",
        "help",
    ),
    "usermod": (
        "non-unique",
        "uid",
        "gid",
        "groups",
        "append",
        "home",
        "shell",
        "password",
        "lock",
        "unlock",
        "expiredate",
        "login",
        "move-home",
        "comment",
        "help",
    ),
    "find": (),
}
# git subcommands, parse-options style (the subcommand is the first operand).
GIT_LONG_OPTIONS: dict[str, tuple[str, ...]] = {
    "push": (
        "all",
        "mirror",
        "tags",
        "follow-tags",
        "atomic",
        "dry-run",
        "porcelain",
        "delete",
        "prune",
        "force",
        "force-with-lease",
        "force-if-includes",
        "repo",
        "set-upstream",
        "thin",
        "quiet",
        "verbose",
        "progress",
        "recurse-submodules",
        "verify",
        "no-verify",
        "signed",
        "push-option",
        "ipv4",
        "ipv6",
        "receive-pack",
        "exec",
        "help",
    ),
    "clean": ("dry-run", "force", "interactive", "quiet", "exclude", "help"),
    "reset": ("soft", "mixed", "hard", "merge", "keep", "quiet", "help"),
    "branch": ("delete", "force", "move", "copy", "list", "all", "remotes", "help"),
}
GNU_PERMUTING = frozenset(LONG_OPTIONS) - {"find", "crontab"}
HELP = frozenset({"--help", "--version", "-help"})
# Programs that pass their arguments on: shells and interpreters (to the code), wrappers, find and xargs
# (to the expression or command): `--help` counts only before their first operand.
POSITIONAL_ONLY = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "dash",
        "ksh",
        "mksh",
        "ash",
        "fish",
        "csh",
        "tcsh",
        "perl",
        "ruby",
        "php",
        "node",
        "nodejs",
        "lua",
        "awk",
        "gawk",
        "mawk",
        "find",
        "xargs",
        "ssh",
        "su",
        "eval",
        "exec",
        "parallel",
        "watch",
    }
)

# The options that make each program only report what it would do.
DRY_RUN: dict[str, frozenset[str]] = {
    "rsync": frozenset({"-n", "--dry-run", "--list-only"}),
    "apt-get": frozenset({"-s", "--simulate", "--just-print", "--dry-run", "--recon", "--no-act"}),
    "apt": frozenset({"-s", "--simulate", "--just-print", "--dry-run", "--recon", "--no-act"}),
    "aptitude": frozenset({"-s", "--simulate"}),
    "dpkg": frozenset({"--no-act", "--dry-run", "--simulate"}),
    "dnf": frozenset({"--assumeno"}),
    "yum": frozenset({"--assumeno"}),
    "zypper": frozenset({"--dry-run", "-D"}),
    "pacman": frozenset({"-p", "--print"}),
    "make": frozenset({"-n", "--dry-run", "--just-print", "--recon"}),
    "mke2fs": frozenset({"-n"}),
    "e2fsck": frozenset({"-n"}),
    "wipefs": frozenset({"-n", "--no-act"}),
    "sfdisk": frozenset({"-n", "--no-act"}),
    "zfs": frozenset({"-n"}),
    "zpool": frozenset({"-n"}),
    "rename": frozenset({"-n", "--nono", "--no-act", "--dry-run"}),
    "rclone": frozenset({"-n", "--dry-run"}),
    "ansible": frozenset({"-C", "--check"}),
    "ansible-playbook": frozenset({"-C", "--check"}),
    "helm": frozenset({"--dry-run"}),
    "kubectl": frozenset({"--dry-run", "--dry-run=client", "--dry-run=server"}),
    "oc": frozenset({"--dry-run", "--dry-run=client", "--dry-run=server"}),
    "aws": frozenset({"--dry-run", "--dryrun"}),
    "docker": frozenset({"--dry-run"}),
    "mc": frozenset({"--dry-run"}),
    "s3cmd": frozenset({"-n", "--dry-run"}),
    **{tool: frozenset({"-t", "--test"}) for tool in ("lvremove", "vgremove", "pvremove", "lvreduce", "lvresize")},
}
# mkfs.ext4 and friends are mke2fs; fsck.ext4 is e2fsck.
ALIASES = {"mkfs.ext2": "mke2fs", "mkfs.ext3": "mke2fs", "mkfs.ext4": "mke2fs", "fsck.ext4": "e2fsck"}
GIT_DRY_RUN = {"push": frozenset({"-n", "--dry-run"}), "clean": frozenset({"-n", "--dry-run"})}


@lru_cache(maxsize=1024)
def expand(program: str, option: str, table_key: str = "") -> str:
    """`--recur` -> `--recursive` for a modelled program; the word unchanged when nothing matches."""
    names = GIT_LONG_OPTIONS.get(table_key, ()) if program == "git" else LONG_OPTIONS.get(program, ())
    name, eq, value = option[2:].partition("=")
    if not names or name in names:
        return option
    candidates = sorted((n for n in names if n.startswith(name)), key=len)
    return f"--{candidates[0]}{eq}{value}" if candidates and name else option


def canonical(name: str, args: list[str]) -> list[str]:
    """The arguments with abbreviated long options written out (options after `--` are operands)."""
    if name not in LONG_OPTIONS and name != "git":
        return args
    key = git_subcommand(args) if name == "git" else ""
    out, done = [], False
    for arg in args:
        if done or not arg.startswith("--") or arg == "--":
            done |= arg == "--"
            out.append(arg)
        else:
            out.append(expand(name, arg, key))
    return out


def git_subcommand(args: list[str]) -> str:
    """The subcommand of a git command line, after git's own options (`git -C dir push`)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else 1
    return args[i] if i < len(args) else ""


def option_words(name: str, args: list[str]) -> list[str]:
    """The words the program reads as options: all before `--` for programs that permute their
    arguments, only those before the first operand for programs that pass the rest on."""
    words = []
    for arg in args:
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            if name in POSITIONAL_ONLY or is_python(name):
                break
            continue
        words.append(arg)
    return words


def asks_for_help(name: str, args: list[str]) -> bool:
    """`--help` or `--version` read as an option. Subcommand CLIs (cobra, click, argparse) answer it
    after their subcommands too, like GNU tools anywhere before `--`."""
    return bool(HELP & set(option_words(name, args)))


def is_dry_run(name: str, args: list[str]) -> bool:
    """Whether the command only reports what it would do."""
    words = option_words(name, args)
    if name == "git":
        return bool(GIT_DRY_RUN.get(git_subcommand(args), frozenset()) & set(expanded_flags(words)))
    flags = DRY_RUN.get(ALIASES.get(name, name))
    if not flags:
        return False
    if name in ("kubectl", "oc"):
        return any(w in ("--dry-run", "--dry-run=client", "--dry-run=server") for w in words)
    return bool(flags & set(expanded_flags(words)))


def expanded_flags(words: list[str]) -> list[str]:
    """Option words with short clusters split (`-an` -> `-a`, `-n`) and `=values` dropped."""
    flags = []
    for word in words:
        if word.startswith("--"):
            flags.append(word.split("=", 1)[0])
        elif re.fullmatch(r"-[A-Za-z]+", word):
            flags += [f"-{letter}" for letter in word[1:]]
        else:
            flags.append(word)
    return flags


def inert(name: str, args: list[str]) -> bool:
    """The command does nothing but print: help, version, or a dry run."""
    if not any(a[:1] == "-" for a in args):
        return False  # most commands: no option at all
    return asks_for_help(name, args) or is_dry_run(name, args)
