"""Quote-aware word splitting without a grammar: the scanner's fallback and the metrics' tokenizer.

bashlex is the scanner's parser; this module is what remains when it fails (unbalanced quotes, syntax
it lacks), and what `metrics.canonical` uses to compare commands word by word.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

SEPARATORS = {"|", "||", "&&", ";", "&", "|&"}
REDIRECT = re.compile(r"^(\d*)(>>|>&|&>|>\||<>|<<<|<<|<&|>|<)$")
SIMPLE_WRAPPERS = {"sudo", "doas", "env", "nohup", "time", "nice", "ionice", "command", "exec", "builtin",
                   "xargs", "timeout", "stdbuf", "chroot", "su"}


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


PLAIN_TOKEN = re.compile(r"""\s*(?:(?P<word>(?:'[^']*'|"[^"]*"|[^\s'"|&;<>])+)"""
                         r"|(?P<op>\|\||&&|\|&|>>|>&|&>|>\||<>|[|&;<>]))", re.S)
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
        found.append(QUOTED.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), word)
                     if word is not None else match.group("op"))
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
    """Drop a leading pipe marker, simple wrappers with their options, and `VAR=value` words."""
    words = [w for w in words if w != "|"] if words and words[0] == "|" else list(words)
    while words:
        if "=" in words[0] and not words[0].startswith("="):
            words = words[1:]
        elif program(words[0]) in SIMPLE_WRAPPERS:
            words = words[1:]
            while words and (words[0].startswith("-") or re.fullmatch(r"\d+[smhd]?", words[0])):
                words = words[1:]
        else:
            break
    return words


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
        yield Segment(words, redirects, " ".join(items), piped,
                      (herestring + "\n").encode() if herestring is not None else None)
