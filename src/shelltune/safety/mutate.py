"""Meaning-preserving rewrites of labeled commands: a yardstick the scanner's own corpus cannot game.

Every row of a labeled corpus is rewritten the ways people and models really vary a command — wrappers
(`sudo`, `env`, `nohup`, `command`, `builtin`), absolute program paths, split, reordered and long
options, options after operands, quoting, `$VAR` indirection, `;`/`&&` chaining, subshells and brace
groups, `bash -c`, line continuations — and judged again. A dangerous row must stay flagged in its
category; a benign row must stay unflagged.

A rewrite applies only where it keeps the meaning: it reads the row with its own small tokenizer
(nothing here uses the scanner's parser, so the two cannot share a blind spot), and returns None
rather than force a rewrite that would change what the row does — `sudo history -c` is no longer a
builtin, `bash -c 'unset HISTFILE'` changes another shell's state, `-ou 0` cannot be reordered to
`-uo 0`, and quoting `~` or `*` stops its expansion.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

Rewrite = Callable[[str], str | None]

# -------------------------------------------------------------------- reading a row

WORD = r"""(?:'[^']*'|"(?:[^"\\$`]|\\.)*"|[^\s'"\\$`(){}<>|;&#])+"""
# A redirection is one token with its file-descriptor numbers: `2>&1`, `>&`, `0<&196`, `196<>`.
REDIRECT = r"\d*(?:&>>|&>|>>|>&|<&|<>|>\||<<<|<<|>|<)(?:\d+-?(?![\w/.])|-(?!\w))?"
SEPARATOR = r"\|\||&&|[|;&]"
TOKEN = re.compile(rf"\s*({REDIRECT}|{WORD}|{SEPARATOR})")
SEPARATORS = frozenset({"|", "||", "&&", ";", "&"})
REDIRECTS = re.compile(rf"^{REDIRECT}$")
BARE = re.compile(r"^[\w@%+=:,./-]+$")  # a word whose quoting cannot change it (no ~, globs, $, braces)
NAME = re.compile(r"^[\w.-]+$")
KEYWORDS = frozenset(
    {
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "for",
        "while",
        "until",
        "do",
        "done",
        "case",
        "esac",
        "function",
        "select",
        "time",
        "!",
        "[[",
        "{",
        "}",
    }
)
BUILTINS = frozenset(
    {
        ":",
        ".",
        "alias",
        "bg",
        "bind",
        "break",
        "builtin",
        "caller",
        "cd",
        "command",
        "compgen",
        "complete",
        "continue",
        "declare",
        "dirs",
        "disown",
        "echo",
        "enable",
        "eval",
        "exec",
        "exit",
        "export",
        "fc",
        "fg",
        "getopts",
        "hash",
        "help",
        "history",
        "jobs",
        "kill",
        "let",
        "local",
        "logout",
        "mapfile",
        "popd",
        "printf",
        "pushd",
        "pwd",
        "read",
        "readonly",
        "return",
        "set",
        "shift",
        "shopt",
        "source",
        "suspend",
        "test",
        "times",
        "trap",
        "true",
        "false",
        "type",
        "typeset",
        "ulimit",
        "umask",
        "unalias",
        "unset",
        "wait",
    }
)
# Builtins that exist only inside the shell (no program of that name): wrappers that start a program
# (sudo, env, nohup, an absolute path) cannot run them.
SHELL_ONLY = BUILTINS - {"echo", "printf", "kill", "pwd", "test", "true", "false"}
# Builtins whose effect is the state of the running shell after the row (history, variables, aliases,
# traps): in a subshell or `bash -c` they would change a copy that is thrown away, so those rewrites do not
# keep the row's meaning. (`cd` and `exec 5<>...` only matter to the rest of the row, which moves along.)
STATEFUL = frozenset(
    {
        "history",
        "unset",
        "set",
        "export",
        "declare",
        "typeset",
        "local",
        "readonly",
        "alias",
        "unalias",
        "shopt",
        "ulimit",
        "umask",
        "trap",
        "hash",
        "enable",
    }
)
SBIN = frozenset(
    {
        "mkfs",
        "fdisk",
        "sfdisk",
        "sgdisk",
        "gdisk",
        "parted",
        "wipefs",
        "iptables",
        "ip6tables",
        "shutdown",
        "reboot",
        "halt",
        "poweroff",
        "useradd",
        "usermod",
        "userdel",
        "chpasswd",
        "visudo",
        "setenforce",
        "ufw",
        "nft",
        "hdparm",
        "mdadm",
        "cryptsetup",
        "lvremove",
        "vgremove",
        "pvremove",
        "mke2fs",
        "mkswap",
        "blkdiscard",
        "chroot",
        "nsenter",
        "init",
        "telinit",
        "killall5",
        "adduser",
    }
)


def tokens(row: str) -> list[str] | None:
    """The row's words and operators with their original quoting, or None for anything richer
    (substitutions, parameters, backslashes, groups, here-documents, comments, several lines)."""
    if "\n" in row:
        return None
    found, position = [], 0
    for match in TOKEN.finditer(row):
        if match.start() != position:
            return None
        found.append(match.group(1))
        position = match.end()
    return found if found and not row[position:].strip() else None


def commands(parts: list[str]) -> list[tuple[int, int]]:
    """(start, end) token ranges of the simple commands in a tokenized row."""
    ranges, start = [], 0
    for i, part in enumerate(parts + [";"]):
        if part in SEPARATORS:
            if i > start:
                ranges.append((start, i))
            start = i + 1
    return ranges


def unquote(word: str) -> str:
    try:
        split = shlex.split(word)
    except ValueError:
        return word
    return split[0] if len(split) == 1 else word


def first_program(row: str) -> tuple[list[str], str] | None:
    """(tokens, program) when the row starts with a plain program word (no assignment, keyword, group)."""
    parts = tokens(row)
    if not parts or REDIRECTS.match(parts[0]) or parts[0] in SEPARATORS:
        return None
    name = unquote(parts[0])
    if not NAME.match(name) or "=" in parts[0] or name in KEYWORDS:
        return None
    return parts, name


def is_stateful(row: str) -> bool:
    """Whether the row's effect (or part of it) is on the running shell: builtins that change it, bare
    assignments (`HISTFILE=`), function definitions."""
    if re.search(r"\(\)\s*\{|^\s*function\s", row):
        return True
    parts = tokens(row)
    if parts is None:
        return bool(
            re.search(r"(^|[;&|]\s*)(" + "|".join(map(re.escape, sorted(STATEFUL))) + r")\b", row)
            or re.match(r"^\s*[A-Za-z_]\w*=", row)
        )
    for start, end in commands(parts):
        words = parts[start:end]
        if unquote(words[0]) in STATEFUL or all(re.match(r"^[A-Za-z_]\w*=", w) for w in words):
            return True
    return False


# -------------------------------------------------------------------- option tables

# Programs whose short options cluster the getopt way, with the letters that take a value (which must end
# a cluster). Reordering and long forms are only tried for these.
VALUE_LETTERS = {
    "rm": "",
    "shred": "ns",
    "chmod": "",
    "chown": "",
    "chgrp": "",
    "cp": "St",
    "mv": "St",
    "ln": "St",
    "ls": "",
    "curl": "oHdXuAeEFKmrTwxYyzCbcDQ",
    "wget": "OoaPeitTUwlQAR",
    "ncat": "pescwgGiI",
    "docker": "acehlmpuvw",
    "podman": "acehlmpuvw",
    "pacman": "br",
    "useradd": "bcdefgGkKpsuZRP",
    "usermod": "cdefgGlpsuRPvVwWZ",
    "crontab": "u",
    "grep": "efmABCD",
    "sort": "kto",
    "tee": "",
    "bash": "o",
    "sh": "o",
    "wipefs": "otp",
    "apt-get": "oqtc",
    "truncate": "sr",
    "passwd": "nxwi",
    "history": "d",
    "base64": "w",
}
LONG = {
    "rm": {"r": "--recursive", "R": "--recursive", "f": "--force", "v": "--verbose"},
    "shred": {"u": "--remove", "z": "--zero", "f": "--force", "v": "--verbose"},
    "chmod": {"R": "--recursive", "v": "--verbose", "f": "--silent"},
    "chown": {"R": "--recursive", "v": "--verbose", "h": "--no-dereference"},
    "chgrp": {"R": "--recursive", "v": "--verbose"},
    "cp": {"r": "--recursive", "R": "--recursive", "f": "--force", "a": "--archive", "v": "--verbose"},
    "mv": {"f": "--force", "v": "--verbose"},
    "ln": {"s": "--symbolic", "f": "--force"},
    "curl": {
        "s": "--silent",
        "S": "--show-error",
        "L": "--location",
        "f": "--fail",
        "k": "--insecure",
        "o": "--output",
        "O": "--remote-name",
        "d": "--data",
        "F": "--form",
        "X": "--request",
        "T": "--upload-file",
    },
    "wget": {"q": "--quiet", "O": "--output-document"},
    "ncat": {"e": "--exec", "c": "--sh-exec", "l": "--listen", "v": "--verbose"},
    "docker": {
        "v": "--volume",
        "i": "--interactive",
        "t": "--tty",
        "d": "--detach",
        "e": "--env",
        "p": "--publish",
        "w": "--workdir",
        "u": "--user",
    },
    "pacman": {"R": "--remove", "s": "--recursive", "n": "--nosave", "d": "--nodeps"},
    "useradd": {"u": "--uid", "o": "--non-unique", "g": "--gid", "m": "--create-home", "s": "--shell"},
    "usermod": {"u": "--uid", "o": "--non-unique", "g": "--gid", "a": "--append", "G": "--groups"},
    "apt-get": {"y": "--yes"},
    "tee": {"a": "--append"},
    "truncate": {"s": "--size"},
    "wipefs": {"a": "--all", "f": "--force"},
    "passwd": {"d": "--delete"},
    "base64": {"d": "--decode"},
    "grep": {"r": "--recursive", "i": "--ignore-case", "v": "--invert-match", "c": "--count"},
}
LONG["podman"] = LONG["docker"]
# GNU tools that accept options after their operands (`rm / -rf`).
PERMUTING = frozenset({"rm", "shred", "chmod", "chown", "chgrp", "cp", "mv", "ls", "truncate"})


def split_cluster(word: str, program: str) -> list[str] | None:
    """`-rf` -> [-r, -f] for a program in VALUE_LETTERS, when any value-taking letter ends the cluster."""
    if program not in VALUE_LETTERS or not re.fullmatch(r"-[A-Za-z]{2,}", word):
        return None
    letters = word[1:]
    takes = VALUE_LETTERS[program]
    if any(letter in takes for letter in letters[:-1]) or len(set(letters)) != len(letters):
        return None
    return [f"-{letter}" for letter in letters]


# -------------------------------------------------------------------- the rewrites


def prefix_with(wrapper: str, builtins_too: bool = False) -> Rewrite:
    """`sudo ROW`, `env ROW`, `nohup ROW`, `command ROW`: the wrapper runs the row's first program."""

    def rewrite(row: str) -> str | None:
        first = first_program(row)
        if first is None or (first[1] in SHELL_ONLY and not builtins_too):
            return None
        return f"{wrapper} {row}"

    return rewrite


def builtin_prefix(row: str) -> str | None:
    first = first_program(row)
    return f"builtin {row}" if first and first[1] in BUILTINS and first[1] not in ("builtin", "command") else None


def absolute_path(row: str) -> str | None:
    first = first_program(row)
    if first is None or first[1] in SHELL_ONLY or "/" in first[1]:
        return None
    parts, name = first
    directory = "/usr/sbin" if name in SBIN or name.startswith("mkfs") else "/usr/bin"
    return " ".join([f"{directory}/{name}", *parts[1:]])


def own_words(words: list[str], program: str) -> int:
    """How many leading words carry the program's own options: for `docker run ... IMAGE CMD...` the
    words after the image belong to the command run in the container."""
    if program in ("docker", "podman") and "run" in words:
        i = words.index("run") + 1
        while i < len(words) and words[i].startswith("-"):
            i += (
                2
                if re.fullmatch(
                    r"-[a-z]*[acehlmpuvw]|--(volume|env|publish|name|pid|workdir|user|network|mount"
                    r"|entrypoint|device|cap-add)",
                    words[i],
                )
                else 1
            )
        return i
    return len(words)


def rewrite_options(transform: Callable[[list[str], str], list[str] | None]) -> Rewrite:
    """Apply `transform(words, program)` to every simple command of a tokenized row; None if none changed."""

    def rewrite(row: str) -> str | None:
        parts = tokens(row)
        if parts is None:
            return None
        changed, out, last = False, [], 0
        for start, end in commands(parts):
            out += parts[last:start]
            words = parts[start:end]
            own = own_words(words, unquote(words[0]))
            new = transform(words[:own], unquote(words[0]))
            new = new + words[own:] if new is not None else None
            changed |= new is not None and new != words
            out += new if new is not None else words
            last = end
        out += parts[last:]
        return " ".join(out) if changed else None

    return rewrite


def split_options(words: list[str], program: str) -> list[str] | None:
    out = []
    for word in words:
        out += split_cluster(word, program) or [word]
    return out


def reorder_options(words: list[str], program: str) -> list[str] | None:
    """Reverse each run of adjacent value-less flags (`-r -f` or `-rf` -> `-f -r`)."""
    split = split_options(words, program)
    if split is None or program not in VALUE_LETTERS:
        return None
    takes, out, run = VALUE_LETTERS[program], [], []
    for word in split + [""]:
        if re.fullmatch(r"-[A-Za-z]", word) and word[1] not in takes:
            run.append(word)
            continue
        out += run[::-1]
        run = []
        out.append(word)
    return out[:-1]


def long_options(words: list[str], program: str) -> list[str] | None:
    table = LONG.get(program)
    split = split_options(words, program) if table else None
    if not split:
        return None
    return [table.get(w[1], w) if re.fullmatch(r"-[A-Za-z]", w) and w[1] in table else w for w in split]


def options_last(words: list[str], program: str) -> list[str] | None:
    """`rm -rf /` -> `rm / -rf`: GNU tools permute their arguments. Only for flags that take no value
    (a mode like `chmod -x`, or `-n 3`, would be read differently), never across `--` or redirections."""
    if program not in PERMUTING or "--" in words or any(REDIRECTS.match(w) for w in words):
        return None
    options = [w for w in words[1:] if w.startswith("-") and len(w) > 1]
    others = [w for w in words[1:] if not (w.startswith("-") and len(w) > 1)]
    flags_only = all(
        re.fullmatch(r"-[A-Za-z]+", o) and not set(o[1:]) & set(VALUE_LETTERS[program]) or re.fullmatch(r"--[a-z-]+", o)
        for o in options
    )
    if not options or not others or not flags_only or program == "chmod":
        return None
    return [words[0], *others, *options]


def quote_words(style: str) -> Rewrite:
    """Quote every word whose meaning quoting cannot change, the program name included."""

    def rewrite(row: str) -> str | None:
        parts = tokens(row)
        if parts is None:
            return None
        changed = False
        for start, end in commands(parts):
            for i in range(start, end):
                word = parts[i]
                assignment = i == start and "=" in word
                if BARE.match(word) and not assignment and word not in KEYWORDS and not REDIRECTS.match(word):
                    parts[i] = f"'{word}'" if style == "single" else f'"{word}"'
                    changed = True
        return " ".join(parts) if changed else None

    return rewrite


def program_indirection(row: str) -> str | None:
    """`rm -rf /` -> `MUT_P=rm; $MUT_P -rf /` (not for keywords or shell-only builtins: `$P` cannot be `cd`)."""
    first = first_program(row)
    if first is None or first[1] in SHELL_ONLY:
        return None
    parts, name = first
    return " ".join([f"MUT_P={name};", "$MUT_P", *parts[1:]])


def argument_indirection(row: str) -> str | None:
    """The last plain operand of the first command through a variable: `X=/; rm -rf "$X"`."""
    first = first_program(row)
    if first is None:
        return None
    parts = first[0]
    start, end = commands(parts)[0]
    for i in range(end - 1, start, -1):
        word = parts[i]
        if BARE.match(word) and not word.startswith("-"):
            return " ".join([f"MUT_V={shlex.quote(word)};", *parts[:i], '"$MUT_V"', *parts[i + 1 :]])
    return None


def chained(before: str) -> Rewrite:
    def rewrite(row: str) -> str | None:
        if "\n" in row or re.match(r"^\s*\w+\s*\(\)", row):
            return None  # here-documents end at their terminator line; function definitions stay first
        return f"{before} {row}"

    return rewrite


def chained_after(row: str) -> str | None:
    if "\n" in row or "#" in row or row.rstrip().endswith(("&", ";")):
        return None
    return f"{row} && true"


def subshell(row: str) -> str | None:
    if is_stateful(row):
        return None
    return f"(\n{row}\n)" if "\n" in row or "#" in row else f"( {row} )"


def brace_group(row: str) -> str | None:
    return f"{{\n{row}\n}}"


def bash_c(row: str) -> str | None:
    return None if is_stateful(row) else f"bash -c {shlex.quote(row)}"


def line_continuation(row: str) -> str | None:
    parts = tokens(row)
    if parts is None or len(parts) < 2:
        return None
    return f"{parts[0]} \\\n" + " ".join(parts[1:])


REWRITES: dict[str, Rewrite] = {
    "sudo": prefix_with("sudo"),
    "env": prefix_with("env"),
    "nohup": prefix_with("nohup"),
    "command": prefix_with("command", builtins_too=True),
    "builtin": builtin_prefix,
    "absolute_path": absolute_path,
    "split_options": rewrite_options(split_options),
    "reorder_options": rewrite_options(reorder_options),
    "long_options": rewrite_options(long_options),
    "options_last": rewrite_options(options_last),
    "single_quotes": quote_words("single"),
    "double_quotes": quote_words("double"),
    "program_variable": program_indirection,
    "argument_variable": argument_indirection,
    "after_semicolon": chained("cd . ;"),
    "after_and": chained("true &&"),
    "before_and": chained_after,
    "subshell": subshell,
    "brace_group": brace_group,
    "bash_c": bash_c,
    "line_continuation": line_continuation,
}


# -------------------------------------------------------------------- running them


@dataclass(frozen=True)
class Outcome:
    rewrite: str
    original: str
    mutated: str
    dangerous: bool
    expected: str  # the row's category
    got: str | None  # the category flagged for the rewrite, None when unflagged

    @property
    def survived(self) -> bool:
        return self.got == self.expected if self.dangerous else self.got is None


def mutate_all(rows: list[tuple[str, bool, str]], judge: Callable[[str], str | None]) -> list[Outcome]:
    """Every applicable rewrite of every (cmd, dangerous, category) row, judged by `judge` (a category or None)."""
    outcomes = []
    for cmd, dangerous, category in rows:
        for name, rewrite in REWRITES.items():
            mutated = rewrite(cmd)
            if mutated is not None and mutated != cmd:
                outcomes.append(Outcome(name, cmd, mutated, dangerous, category, judge(mutated)))
    return outcomes


def summarize(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Per rewrite: how many dangerous and benign rewrites there were and how many survived."""
    table: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = table.setdefault(o.rewrite, {"dangerous": 0, "dangerous_survived": 0, "benign": 0, "benign_survived": 0})
        kind = "dangerous" if o.dangerous else "benign"
        row[kind] += 1
        row[f"{kind}_survived"] += o.survived
    return table
