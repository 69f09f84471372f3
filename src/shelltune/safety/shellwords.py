"""Words of a shell command without a grammar: splitting, wrappers, options and operands.

bashlex is the scanner's parser; the tokenizer here is what remains when it fails (unbalanced quotes,
syntax it lacks), and what `metrics.canonical` uses to compare commands word by word. The word helpers
(`unwrap`, `operands`, `option_value`, flags) are the only ones the package has: the scanner's walk and
rules and the task metrics all read options the same way.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

SEPARATORS = {"|", "||", "&&", ";", "&", "|&"}
REDIRECT = re.compile(r"^(\d*)(>>|>&|&>|>\||<>|<<<|<<|<&|>|<)$")
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
SHORT_FLAGS = re.compile(r"-[A-Za-z]+")

# Programs that run the command given in their remaining words: wrapper -> (its options that take a
# value, positional arguments before the command). `su`, `xargs`, `find -exec`, `watch` and shells are
# not here: what they run is not simply the rest of the words (walk.py reads them one by one).
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (
        frozenset(
            ["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group", "--host", "--prompt"]
        ),
        0,
    ),
    "doas": (frozenset(["-u", "-C"]), 0),
    "env": (frozenset(["-u", "-C", "--unset", "--chdir"]), 0),
    "nice": (frozenset(["-n", "--adjustment"]), 0),
    "ionice": (frozenset(["-c", "-n", "-p"]), 0),
    "timeout": (frozenset(["-s", "-k", "--signal", "--kill-after"]), 1),
    "stdbuf": (frozenset(["-i", "-o", "-e"]), 0),
    "chroot": (frozenset(["--userspec", "--groups"]), 1),
    "flock": (frozenset(["-w", "-E"]), 1),
    "time": (frozenset(["-f", "-o"]), 0),
    "strace": (frozenset(["-o", "-e", "-p", "-s", "-u"]), 0),
    "runuser": (frozenset(["-u", "-g", "-G"]), 0),
    "nsenter": (frozenset(["-t", "-S", "-G", "--target", "--setuid", "--setgid"]), 0),
    "systemd-run": (frozenset(["-u", "-p", "--unit", "--property", "--uid", "--gid"]), 0),
    "run0": (
        frozenset(
            [
                "-u",
                "--user",
                "-g",
                "--group",
                "--unit",
                "-D",
                "--chdir",
                "--setenv",
                "--property",
                "--description",
                "--slice",
                "--nice",
                "--machine",
            ]
        ),
        0,
    ),  # fmt: skip
    "pkexec": (frozenset(["--user"]), 0),
    "taskset": (frozenset(), 1),  # taskset [-c] MASK CMD: the mask (or list) comes first
    "chrt": (frozenset(["-T", "-P", "-D"]), 1),  # chrt [-f|-r|...] PRIORITY CMD
    "unshare": (
        frozenset(["-S", "--setuid", "-G", "--setgid", "-R", "--root", "-w", "--wd", "--propagation", "--setgroups"]),
        0,
    ),  # fmt: skip
    "numactl": (frozenset(["-C", "-N", "-m", "-p", "-i"]), 0),
    "cgexec": (frozenset(["-g"]), 0),
    **{
        name: (frozenset(), 0)
        for name in (
            "nohup",
            "command",
            "exec",
            "builtin",
            "setsid",
            "busybox",
            "unbuffer",
            "caffeinate",
            "fakeroot",
            "torsocks",
            "proxychains",
            "proxychains4",
            "catchsegv",
            "ltrace",
            "xtrace",
            "flatpak-spawn",
            "firejail",
            "chronic",
            "nocache",
            "sudo-rs",
        )
    },
}


def program(word: str) -> str:
    """The program a command word names: `\\rm`, `/bin/rm` and `rm` are all `rm`."""
    return word.lstrip("\\").rsplit("/", 1)[-1]


def tokens(cmd: str) -> list[str]:
    lexer = shlex.shlex(cmd.replace("\n", " ; "), posix=True, punctuation_chars="|&;<>()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: whitespace words, still judged
        spaced = re.sub(r"(\|\||&&|[|;&])", r" \1 ", cmd)
        return [w.strip("'\"") for w in spaced.split()]


PLAIN_TOKEN = re.compile(
    r"""\s*(?:(?P<word>(?:'[^']*'|"[^"]*"|[^\s'"|&;<>])+)"""
    r"|(?P<op>\|\||&&|\|&|>>|>&|&>|>\||<>|[|&;<>]))",
    re.S,
)
QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def plain_tokens(cmd: str) -> list[str] | None:
    """Tokens of a line without `$`, backquotes or backslashes (where quotes only group), or None
    when the quotes do not balance. One regex pass: the scanner's fast path."""
    found, position = [], 0
    text = cmd.replace("\n", " ; ")
    for match in PLAIN_TOKEN.finditer(text):
        if match.start() != position:
            return None
        position = match.end()
        word = match.group("word")
        found.append(
            QUOTED.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), word)
            if word is not None
            else match.group("op")
        )
    return found if not text[position:].strip() else None


def split_segments(cmd: str, plain: bool = False) -> Iterator[list[str]]:
    """Yield the words of each simple command, in order; a piped-into command starts with "|"."""
    words: list[str] = []
    fast = plain_tokens(cmd) if plain else None
    for token in fast if fast is not None else tokens(cmd):
        if token in SEPARATORS or token in ("(", ")"):
            if words:
                yield words
            words = ["|"] if token in ("|", "|&") else []
        else:
            words.append(token)
    if words:
        yield words


def unwrap(words: list[str]) -> list[str]:
    """The command a wrapped command runs: a leading pipe marker (from `split_segments`), wrappers with
    their options, and leading `VAR=value` words dropped. `\\rm` and `/bin/rm` stay as written."""
    return split_wrappers(words)[1]


def split_wrappers(words: list[str]) -> tuple[list[str], list[str]]:
    """(the wrapper words peeled off, the command they run): `sudo -u bob nsenter -t 1 sh` gives
    (`sudo -u bob nsenter -t 1`, `sh`). Rules read the wrappers where they change the meaning."""
    if words and words[0] == "|":
        words = [w for w in words if w != "|"]
    rest = words
    while rest:
        head = program(rest[0])
        if ASSIGNMENT.match(rest[0]):
            rest = rest[1:]
        elif head in WRAPPERS and not (head == "command" and rest[1:2] in (["-v"], ["-V"])):
            with_value, positional = WRAPPERS[head]
            after = skip_options(rest[1:], with_value, positional, assignments=head == "env")
            if not after:
                break  # `env` or `time` alone: the wrapper is the command
            rest = after
        else:
            break
    return words[: len(words) - len(rest)], rest


def skip_options(words: list[str], with_value: frozenset[str], positional: int, assignments: bool) -> list[str]:
    """The words after the leading options (and, for `env`, assignments) and `positional` operands."""
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            i += 1
            break
        if word.startswith("-") and len(word) > 1:
            i += 2 if word in with_value else 1
        elif assignments and ASSIGNMENT.match(word):
            i += 1
        else:
            break
    return words[i + positional :]


def option_value(args: list[str], *names: str) -> str | None:
    """The value of an option given as `-o V`, `-oV`, `--opt V` or `--opt=V` (last one wins)."""
    found = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                found = args[i + 1]
            elif name.startswith("--") and arg.startswith(name + "="):
                found = arg[len(name) + 1 :]
            elif not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                found = arg[len(name) :]
    return found


def short_option_value(args: list[str], letter: str, with_value: str) -> str | None:
    """The value of single-letter option `letter` inside clusters: `-ou 0` and `-ou0` give "0" for "u"
    when `o` takes no value. `with_value` lists every letter of the program that takes one."""
    found = None
    for i, word in enumerate(args):
        if word == "--":
            break
        if not re.match(r"-[A-Za-z]", word):
            continue
        for j, char in enumerate(word[1:], start=1):
            if char in with_value:
                value = word[j + 1 :] or (args[i + 1] if i + 1 < len(args) else None)
                if char == letter:
                    found = value
                break
    return found


def operands(args: list[str], with_value: frozenset[str] = frozenset()) -> list[str]:
    """The non-option words: everything after `--`, `-` (stdin), minus the values of `with_value` options."""
    result, after_dashdash, skip = [], False, False
    for word in args:
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


def short_flags(args: list[str]) -> set[str]:
    """Single-letter options however they are grouped: `-rf`, `-r -f` and `-fr` all give {r, f}."""
    letters: set[str] = set()
    for word in args:
        if word == "--":
            break
        if SHORT_FLAGS.fullmatch(word):
            letters.update(word[1:])
    return letters


def long_flags(args: list[str]) -> set[str]:
    """`--name` options, with any `=value` removed."""
    return {w.split("=", 1)[0] for w in args if w.startswith("--") and w != "--"}


@dataclass
class Segment:
    words: list[str]
    redirects: list[tuple[str, str]]
    text: str
    piped: bool
    stdin_text: bytes | None = None


def tokenize_segments(cmd: str, plain: bool = False) -> Iterator[Segment]:
    """Simple commands with their redirections: plain lines, and lines bashlex cannot parse."""
    for raw in split_segments(cmd, plain):
        piped = raw[:1] == ["|"]
        words, redirects = [], []
        items = raw[1:] if piped else raw
        i = 0
        while i < len(items):
            match = REDIRECT.match(items[i])
            if match and i + 1 < len(items):
                op, target = match.group(2), items[i + 1]
                duplicates_fd = op in (">&", "<&") and re.fullmatch(r"\d+|-", target)
                redirects.append((op, "&" + target if duplicates_fd else target))
                i += 2
                continue
            words.append(items[i])
            i += 1
        herestring = next((target for op, target in redirects if op == "<<<"), None)
        yield Segment(
            words, redirects, " ".join(items), piped, (herestring + "\n").encode() if herestring is not None else None
        )
