"""Undoing plain obfuscation: ANSI-C quotes, brace expansion, escapes, base64, hex, rev, tr, gzip.

All functions are pure and total: they return None (or the input) rather than raise on data that does
not decode, because the scanner must judge whatever it is given.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import shlex
import zlib

ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'", re.S)
ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|[0-7]{1,3}|.)", re.S)
SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
BRACE = re.compile(r"(?<!\$)\{([^{}]*)\}")
BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/=\s_-]+$")
MAX_BYTES = 1 << 16


def decode_escapes(text: str) -> str:
    """Backslash escapes as `echo -e`, `printf` and `$'...'` read them (\\x72, \\162, \\n, \\u00e9)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xu" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8) & 0xFF)
        return SIMPLE_ESCAPES.get(code, "\\" + code)

    return ESCAPE.sub(one, text)


def expand_ansi_c(command: str) -> str:
    """Rewrite every `$'...'` as a plain single-quoted word holding its decoded text. Inside '...' or
    "..." a `$'` is literal (`bash -c '$'"'"'\\x72'"'"''` quotes it for the inner shell)."""
    if "$'" not in command:
        return command
    out, quote, i = [], "", 0
    while i < len(command):
        char = command[i]
        match = ANSI_C.match(command, i) if char == "$" and not quote else None
        if match:
            out.append("'" + decode_escapes(match.group(1)).replace("'", "'\\''") + "'")
            i = match.end()
            continue
        if char == "\\" and quote != "'":
            out.append(command[i : i + 2])
            i += 2
            continue
        if char in "'\"" and (not quote or char == quote):
            quote = "" if quote else char
        out.append(char)
        i += 1
    return "".join(out)


def expand_braces(word: str, limit: int = 64) -> list[str]:
    """Bash brace expansion of one unquoted word: `{rm,-rf,/}` -> rm -rf /, `a{1..3}` -> a1 a2 a3."""
    match = next((m for m in BRACE.finditer(word) if "," in m.group(1) or ".." in m.group(1)), None)
    if match is None:
        return [word]
    inner = match.group(1)
    if "," in inner:
        options = inner.split(",")
    else:
        ends = inner.split("..")
        if len(ends) != 2 or not all(re.fullmatch(r"-?\d+|[A-Za-z]", e) for e in ends):
            return [word]
        options = sequence(*ends)
    results: list[str] = []
    for option in options[:limit]:
        results.extend(expand_braces(word[: match.start()] + option + word[match.end() :], limit))
        if len(results) >= limit:
            break
    return results[:limit]


def sequence(first: str, last: str) -> list[str]:
    if first.lstrip("-").isdigit() and last.lstrip("-").isdigit():
        a, b = int(first), int(last)
        step = 1 if b >= a else -1
        return [str(i) for i in range(a, b + step, step)][:64]
    a, b = ord(first), ord(last)
    step = 1 if b >= a else -1
    return [chr(i) for i in range(a, b + step, step)]


def b64decode(data: bytes) -> bytes | None:
    text = re.sub(rb"\s", b"", data)
    if not text or not BASE64_TEXT.match(text.decode("latin-1")):
        return None
    text = text.replace(b"-", b"+").replace(b"_", b"/")
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None


def hexdecode(data: bytes) -> bytes | None:
    text = re.sub(rb"\s", b"", data)
    try:
        return bytes.fromhex(text.decode("latin-1")) if text else None
    except ValueError:
        return None


def gunzip(data: bytes) -> bytes | None:
    try:
        return gzip.decompress(data)[:MAX_BYTES]
    except (OSError, EOFError, zlib.error):
        return None


def reverse_lines(data: bytes) -> bytes:
    return b"\n".join(line[::-1] for line in data.split(b"\n"))


def tr_set(spec: str) -> str:
    """Expand a `tr` set: ranges (a-z) and the [:lower:]/[:upper:] classes tr users write."""
    spec = decode_escapes(spec).replace("[:lower:]", "a-z").replace("[:upper:]", "A-Z").replace("[:digit:]", "0-9")
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


def translate(data: bytes, set1: str, set2: str) -> bytes:
    source, target = tr_set(set1), tr_set(set2)
    if not source or not target:
        return data
    target = (target + target[-1] * len(source))[: len(source)]
    table = {ord(s): ord(t) for s, t in zip(source, target, strict=True)}
    return data.decode("latin-1").translate(table).encode("latin-1")


def printable(data: bytes | None) -> str | None:
    """Decoded bytes as text when they look like a command (mostly printable), else None."""
    if not data:
        return None
    text = data[:MAX_BYTES].decode("utf-8", errors="replace")
    shown = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    return text if shown >= 0.9 * len(text) else None


# --------------------------------------------------------------- code given to interpreters (-c / -e / -r)

STRING_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'', re.S)
RUNS_SHELL = re.compile(
    r"\b(system|popen|exec[lv]?p?e?|spawn|subprocess\.\w+|shell_exec|passthru|proc_open|"
    r"check_output|run)\s*\(|`[^`]+`|\bexec\s+[\"'a-z]",
    re.I,
)


def string_literals(code: str) -> list[str]:
    return [decode_escapes(a or b) for a, b in STRING_LITERAL.findall(code)]


def hidden_strings(code: str) -> list[str]:
    """Base64 and hex literals inside code, decoded: how one-liners hide the command they run."""
    found = []
    for literal in string_literals(code):
        compact = literal.strip()
        if len(compact) >= 8 and re.fullmatch(r"(?:[0-9a-fA-F]{2})+", compact):
            found.append(printable(hexdecode(compact.encode())))
        elif len(compact) >= 8 and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", compact):
            found.append(printable(b64decode(compact.encode())))
    return [text for text in found if text]


# Calls that hand their arguments to a shell or exec: os.system, subprocess.run, execSync, os.execute,
# shell_exec, awk's system(). Their string arguments are a command line or, in list form, its argv.
CODE_CALL = re.compile(
    r"\b(system|popen\d?|exec\w*|spawn\w*|subprocess\.\w+|shell_exec|passthru|proc_open|"
    r"check_output|check_call|getoutput|getstatusoutput|execute)\s*\("
)
# Quoting forms that run their text as a shell command: Perl/Ruby/PHP backticks, Perl qx//, Ruby %x().
BACKTICKS = re.compile(r"`([^`]+)`")
QX = re.compile(r"(?:\bqx|%x)\s*(?:\(([^()]*)\)|\{([^{}]*)\}|\[([^\[\]]*)\]|([/!|])(.*?)\4)")
# Perl's q() and qq() are plain string literals with other delimiters.
PERL_QUOTE = re.compile(r"\bqq?\s*(?:\(([^()]*)\)|\{([^{}]*)\}|\[([^\[\]]*)\])")
# Perl and Ruby call system/exec without parentheses too: `system "rm -rf /"`, `exec 'cmd'`.
BARE_CALL = re.compile(r"\b(?:system|exec)\s+([\"'q][^;{}]*)")
AWK_GETLINE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*\|\s*getline')
BACKTICK_FAMILIES = frozenset({"perl", "ruby", "php"})


def shell_commands_in_code(code: str, family: str) -> list[str]:
    """Command lines an interpreter one-liner hands to a shell: `system("rm -rf /")`,
    `subprocess.run(["rm", "-rf", "/"])` (argv joined), `` `cmd` ``, `qx{cmd}`, `%x(cmd)`, awk's
    `system()` and `"cmd" | getline`. Text the code merely prints is not among them."""
    found = []
    for match in CODE_CALL.finditer(code):
        literals = code_literals(call_arguments(code, match.end() - 1), family)
        if len(literals) > 1:  # argv form, or a command line followed by options: try both readings
            found.append(" ".join(shlex.quote(literal) for literal in literals))
            found += [literal for literal in literals if " " in literal.strip()]
        else:
            found += literals
    if family in ("perl", "ruby"):
        for arguments in BARE_CALL.findall(code):
            literals = code_literals(arguments, family)
            found += [" ".join(shlex.quote(literal) for literal in literals)] if len(literals) > 1 else literals
    if family in BACKTICK_FAMILIES:
        found += BACKTICKS.findall(code)
    found += ["".join(groups[:3]) + groups[4] for groups in QX.findall(code)]  # groups[3]: the delimiter
    if family == "awk":
        found += [decode_escapes(text) for text in AWK_GETLINE.findall(code)]
    return list(dict.fromkeys(text.strip() for text in found if text.strip()))


def code_literals(text: str, family: str) -> list[str]:
    literals = string_literals(text)
    if family == "perl":
        literals += ["".join(groups) for groups in PERL_QUOTE.findall(text)]
    return literals


def call_arguments(code: str, open_paren: int) -> str:
    """The text between a call's parentheses (nesting and quoted parentheses respected)."""
    depth, quote, i = 0, "", open_paren
    while i < len(code):
        char = code[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return code[open_paren + 1 : i]
        i += 1
    return code[open_paren + 1 :]
