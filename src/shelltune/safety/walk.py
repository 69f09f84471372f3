"""From a command line to the simple commands it would run, as a shell would see them.

`collect(line)` parses with bashlex and walks lists, pipelines, subshells, brace groups, loops,
functions and command/process substitutions. Each simple command becomes a `Command` with its words
expanded the way bash would (quotes removed, `$HOME` -> `~`, `${IFS}` -> space, variables set earlier in
the line, brace expansion, `$(...)` replaced by its output when that output can be computed statically)
and its wrappers peeled (`sudo`, `env`, `nohup`, `timeout`, `xargs`, ...). Strings that a command would
itself run as shell code (`bash -c`, `eval`, `su -c`, `ssh host CMD`, `trap`, `find -exec`, the
`system()` of an interpreter one-liner, data decoded and piped into a shell, the command of a container
given the host) are parsed and walked too, marked with how they were reached.

When bashlex cannot parse a line (it lacks `[[`, `case`, arithmetic), unsupported constructs are
neutralised and the parse retried; failing that, a quote-aware tokenizer splits the line at pipes and
list operators, so a command is never judged safe just because it did not parse. Where bashlex parses
but reads wrongly (quote removal of `'a'"'"'b'` and `"a\\nb"`, here-documents inside groups), the walk
does that part itself.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from shelltune.safety import containers, decode, launchers, options, pycode, scripts
from shelltune.safety.containers import Container
from shelltune.safety.findexpr import parse_find
from shelltune.safety.paths import FIND_MATCH, is_credential, normalize
from shelltune.safety.programs import (
    AWKS,
    CODE_FLAGS,
    DOWNLOADERS,
    SHELLS,
    interpreter_family,
    is_interpreter,
    is_python,
)
from shelltune.safety.shellwords import (
    operands,
    option_value,
    program,
    short_option_value,
    skip_options,
    split_wrappers,
    tokenize_segments,
)

DOWNLOAD, DECODED, SECRET = "\x00download\x00", "\x00decoded\x00", "\x00secret\x00"
TAINT_MARKERS = {"download": DOWNLOAD, "decoded": DECODED, "secret": SECRET}
# What `$(docker ps -aq)` or `docker volume ls -q | xargs ...` stands for: every item of a kind.
EVERY_ITEM = "<every-listed-item>"
LISTING = re.compile(r"^(ls|list|ps|get|images|keys|--scan|describe-[\w-]+|list-[\w-]+)$")
FILTERS = re.compile(r"^(--filters?|--field-selector|--selector|-l|--label|--status|--name|--tag)(=|$)|^-f$")
MAX_DEPTH = 4
MAX_COMMANDS = 400
MAX_PIPELINE = 64


@dataclass
class Context:
    """What earlier commands on the same line established."""

    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    downloaded: set[str] = field(default_factory=set)
    socket_fds: set[str] = field(default_factory=set)
    functions: dict[str, str] = field(default_factory=dict)  # name -> body text
    aliases: dict[str, str] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    structural: list[tuple[str, str, str]] = field(default_factory=list)  # (category, reason, matched)
    judge: Callable[[str], object] | None = None  # scans a separate line (text written to rc files, cron)
    guarded: set[str] = field(default_factory=set)  # variables tested for emptiness (`[ -n "$X" ] && ...`)
    tainted_fds: dict[str, str] = field(default_factory=dict)  # `exec 3< <(curl URL)`: fd -> taint
    container: Container | None = None  # set while walking the command of a container that reaches the host


@dataclass
class Command:
    words: list[str]
    text: str
    cwd: str | None = None
    redirects: list[tuple[str, str]] = field(default_factory=list)
    assignments: list[tuple[str, str]] = field(default_factory=list)
    stdin_text: bytes | None = None
    upstream: Command | None = None
    pipeline: list[Command] = field(default_factory=list)
    inner: list[Command] = field(default_factory=list)  # a subshell used as a pipeline stage
    via: str = ""
    recursive: bool = False  # reached through an unscoped `find -exec`: applies to a whole tree
    wrappers: list[str] = field(default_factory=list)  # peeled words: `sudo -u x`, `nsenter -t 1`, `chroot /`
    container: Container | None = None  # the container it runs in, when that container reaches the host
    stdin_kind: str | None = None  # a taint on stdin from a file descriptor (`exec 3< <(curl URL); bash <&3`)

    def __post_init__(self) -> None:
        self.name = program(self.words[0]) if self.words else ""
        self.args = self.words[1:]


# ------------------------------------------------------------------ entry point


def collect(line: str, ctx: Context | None = None, via: str = "", depth: int = 0) -> Context:
    """Every simple command `line` would run (in `ctx.commands`) plus structural findings."""
    ctx = ctx or Context()
    if not line.strip():
        return ctx
    if depth > MAX_DEPTH or (depth and len(ctx.commands) > MAX_COMMANDS):
        # Nesting this deep is itself a way to hide: say so rather than call it safe.
        ctx.structural.append(("obfuscated_execution", "nests more code than the scanner follows", line[:200]))
        return ctx
    text = inline_heredocs(decode.expand_ansi_c(line))
    if "$" in text:
        ctx.guarded.update(guarded_variables(text))
    plain = is_plain(text)
    nodes = None if plain else parse(text)
    if nodes is None:
        emit_segments(text, ctx, via, depth, plain)
        return ctx
    walker = Walker(nodes[1], ctx, via, depth)
    for node in nodes[0]:
        walker.walk(node)
    return ctx


# A test of one variable and what follows it: `[ -n "$X" ] && ...`, `test -z "$X" || ...`, `if [ -d "$X" ]; then`.
GUARD = re.compile(
    r"(?:\[\[?|\btest)\s+(!\s+)?-([nzdefsLrwx])\s+\"?\$\{?([A-Za-z_]\w*)\}?\"?\s*(?:\]\]?)?\s*"
    r"(&&|\|\||;\s*then\b|\n\s*then\b)\s*((?:echo\b[^;&|]*[;&|]+\s*)?(?:exit|return)\b)?"
)
# `: "${X:?}"` or `${X:?message}` anywhere: the shell stops there when X is unset or empty.
REQUIRED = re.compile(r"\$\{([A-Za-z_]\w*):?\?")


def guarded_variables(text: str) -> set[str]:
    """Variables known to be non-empty where the line relies on them. A test protects what it guards
    only in the right direction: `[ -n "$X" ] && rm -rf "$X"/` runs when X is set, `[ -z "$X" ] && rm
    -rf "$X"/` only when it is empty, and `[ -z "$X" ] && exit` protects everything after it."""
    found = set(REQUIRED.findall(text))
    for negated, test, name, operator, leaves in GUARD.findall(text):
        true_means_set = (test != "z") != bool(negated)
        runs_when_true = operator != "||"
        if (true_means_set == runs_when_true) != bool(leaves):
            found.add(name)
    return found


PLAIN_BREAKERS = re.compile(
    r"[$`\\(){}]|<<|\d[<>]|(^|\s)[#!]|(^|[;&|]\s*)(if|for|while|until|case|function|select|time|\[\[)\s"
)


def is_plain(text: str) -> bool:
    """Words, quotes, pipes, lists and plain redirections only: the tokenizer reads these exactly as
    bash would (tests/test_safety_walk.py checks this against bashlex), five times faster."""
    return PLAIN_BREAKERS.search(text) is None


def emit_segments(text: str, ctx: Context, via: str, depth: int, plain: bool) -> None:
    """Commands from the quote-aware tokenizer: the fast path for plain lines, the fallback for the rest."""
    previous: Command | None = None
    pipeline: list[Command] = []
    for segment in tokenize_segments(text, plain):
        words = list(segment.words)
        assignments = []
        while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
            name, _, value = words.pop(0).partition("=")
            assignments.append((name, value))
        if not words:
            ctx.env.update(assignments)
        cmd = emit_words(
            words,
            segment.redirects,
            ctx,
            text=segment.text,
            via=via,
            depth=depth,
            upstream=previous if segment.piped else None,
            assignments=assignments,
            stdin_text=segment.stdin_text,
        )
        pipeline = pipeline + [cmd] if segment.piped else [cmd]
        if len(pipeline) > 1:  # as in the bashlex walk, a lone command belongs to no pipeline
            for member in pipeline:
                member.pipeline = pipeline
        previous = cmd


HEREDOC = re.compile(r"(?<!<)<<(-?)\s*(['\"]?)([A-Za-z_]\w*)\2")


def inline_heredocs(text: str) -> str:
    """Rewrite each here-document as a here-string with the same text: `cat <<'EOF'\nbody\nEOF` ->
    `cat <<< 'body'`. bashlex 0.18 reads the body of a here-document inside `( )` or `{ }` as commands
    and rejects quoted delimiters; the text a command reads from stdin is what the rules need. A
    here-document that never ends is left alone."""
    if "<<" not in text or "\n" not in text:
        return text
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line, i = lines[i], i + 1
        replacements = []
        for match in HEREDOC.finditer(line):
            strip_tabs, quoted, delimiter = match.group(1), match.group(2), match.group(3)
            end = next(
                (j for j in range(i, len(lines)) if (lines[j].lstrip("\t") if strip_tabs else lines[j]) == delimiter),
                None,
            )
            if end is None:
                return text
            body = "\n".join(b.lstrip("\t") if strip_tabs else b for b in lines[i:end])
            word = "'" + body.replace("'", "'\\''") + "'" if quoted else '"' + body.replace('"', '\\"') + '"'
            replacements.append((match.span(), "<<< " + word))
            i = end + 1
        for (start, stop), new in reversed(replacements):
            line = line[:start] + new + line[stop:]
        out.append(line)
    return "\n".join(out)


def parse(text: str) -> tuple[list, str] | None:
    """bashlex nodes and the text they index (`$` inside single quotes masked), retrying once
    without unsupported syntax; None when bashlex cannot parse the line."""
    masked = mask_single_quoted_dollars(text)
    if masked is None:
        return None
    for candidate in (masked, neutralise(masked)):
        try:
            return bashlex_parse(candidate), candidate
        except Exception:  # bashlex raises ParsingError, NotImplementedError, RecursionError, ...
            continue
    return None


def bashlex_parse(text: str) -> list:
    """bashlex, imported on the first line that needs it: bashlex 0.18 rebuilds its LALR tables on every
    import (about 0.1 s), and plain lines (most of any dataset) never need it."""
    import bashlex

    return bashlex.parse(text)


MASKED_DOLLAR = "\ue000"


def mask_single_quoted_dollars(text: str) -> str | None:
    """Replace `$` inside '...' (where bash reads it literally) with a private-use character.

    bashlex 0.18 loops forever on some `${` inside single quotes (its word expander searches for
    the closing quote from the opening one and restarts at 0 when it finds none). Masking keeps
    every position; `unmask` restores the words. None when a quote never closes (bash refuses the line).
    """
    out, state, i = [], "", 0
    while i < len(text):
        char = text[i]
        if char == "\\" and state != "'":
            out.append(text[i : i + 2])
            i += 2
            continue
        if state == "" and char in "'\"":
            state = char
        elif char == state:
            state = ""
        out.append(MASKED_DOLLAR if char == "$" and state == "'" else char)
        i += 1
    return "".join(out) if state == "" else None


def unmask(text: str) -> str:
    return text.replace(MASKED_DOLLAR, "$")


def neutralise(text: str) -> str:
    """Replace what bashlex cannot parse with harmless stand-ins of the same meaning for the rules."""
    text = re.sub(r"\$\(\((?:[^()]|\([^()]*\))*\)\)", "0", text)  # $(( arithmetic ))
    text = re.sub(r"\[\[.*?\]\]", "true", text)  # [[ test ]]
    text = re.sub(r"<<(-?)\s*(['\"])(\w+)\2", r"<<\1\3", text)  # <<'EOF': bashlex wants <<EOF
    return re.sub(r"(^|[;&|(]\s*)time\s+(-p\s+)?", r"\1", text)  # the `time` keyword


# ------------------------------------------------------------------ the bashlex walk


class Walker:
    def __init__(self, source: str, ctx: Context, via: str, depth: int):
        self.source, self.ctx, self.via, self.depth = source, ctx, via, depth

    def walk(self, node, upstream: Command | None = None) -> list[Command]:
        kind = node.kind
        if kind == "command":
            return self.command(node, upstream)
        if kind == "pipeline":
            return self.pipeline(node)
        if kind == "list":
            return [c for part in node.parts for c in self.walk(part)]
        if kind == "compound":
            redirected = self.compound_redirects(node)
            lines = read_lines(self.text(node), redirected)
            if lines:  # `while read d; do rm -rf "$d"; done <<EOF`: the body once per line read
                variable, values = lines
                made = []
                for value in values[:6]:
                    self.ctx.env[variable] = value
                    made += [c for part in node.list for c in self.walk(part)]
                return made + redirected
            return [c for part in node.list for c in self.walk(part)] + redirected
        if kind == "function":
            return self.function(node)
        if kind == "for":
            return self.for_loop(node)
        if kind in ("while", "until"):
            return self.loop(node)
        if kind == "if":
            return [c for part in node.parts for c in self.walk(part)]
        return []

    def compound_redirects(self, node) -> list[Command]:
        redirects = [r for r in getattr(node, "redirects", []) if r.kind == "redirect"]
        return [self.emit([], redirects, self.text(node))] if redirects else []

    def pipeline(self, node) -> list[Command]:
        stages = [part for part in node.parts if part.kind != "pipe"]
        members: list[Command] = []
        previous: Command | None = None
        for stage in stages:
            if stage.kind == "command":
                made = self.command(stage, previous)
                previous = made[0] if made else None
            else:
                inner = self.walk(stage)
                previous = Command(["(subshell)"], self.text(stage), inner=inner, upstream=previous)
            if previous is not None:
                members.append(previous)
        for member in members:
            member.pipeline = members
        return members

    def command(self, node, upstream: Command | None = None) -> list[Command]:
        words: list[str] = []
        assignments: list[tuple[str, str]] = []
        redirects = []
        for part in node.parts:
            if part.kind == "assignment":
                name, _, value = self.expand_value(part).partition("=")
                assignments.append((name, value))
            elif part.kind == "word":
                words.extend(self.expand(part))
            elif part.kind == "redirect":
                redirects.append(part)
        if not words:
            self.ctx.env.update(assignments)
        return [self.emit(words, redirects, self.text(node), assignments, upstream)]

    def emit(self, words, redirect_nodes, text, assignments=(), upstream=None) -> Command:
        redirects, stdin_text = [], None
        for node in redirect_nodes:
            op, target, data = self.redirect(node)
            redirects.append((op, target))
            if data is not None:
                stdin_text = data
        return emit_words(
            words,
            redirects,
            self.ctx,
            text=text,
            via=self.via,
            depth=self.depth,
            upstream=upstream,
            assignments=list(assignments),
            stdin_text=stdin_text,
        )

    def redirect(self, node) -> tuple[str, str, bytes | None]:
        op = node.type
        if op == "<<":
            return op, "", node.heredoc.value.rsplit("\n", 1)[0].encode() if getattr(node, "heredoc", None) else None
        if isinstance(node.output, (int, str)):  # `>&2`, `2>&-`
            return op, f"&{node.output}", None
        value = self.expand_value(node.output)  # redirection targets and here-strings are not word-split
        descriptor = getattr(node, "input", None)
        if op in ("<>", ">", "<") and re.match(r"^/dev/(tcp|udp)/", value) and isinstance(descriptor, int):
            self.ctx.socket_fds.add(str(descriptor))
        taint = taint_in(value)
        if op in ("<", "<>") and taint is not None and isinstance(descriptor, int) and taint.kind:
            self.ctx.tainted_fds[str(descriptor)] = taint.kind
        return op, value, (value + "\n").encode() if op == "<<<" else None

    def function(self, node) -> list[Command]:
        name = node.parts[0].word
        body = node.parts[-1]
        self.ctx.functions[name] = self.text(body)
        calls_self = [c for c in self.walk(body) if c.words[:1] == [name]]
        body_text = self.text(body)
        if calls_self and re.search(rf"(^|[\s;{{(|&]){re.escape(name)}\s*(\||&(?!&))", body_text):
            self.ctx.structural.append(
                ("fork_bomb", f"function {name} starts copies of itself in the background", self.text(node))
            )
        return calls_self

    def for_loop(self, node) -> list[Command]:
        parts = node.parts
        variable = parts[1].word if len(parts) > 1 and parts[1].kind == "word" else None
        items = []
        if any(p.kind == "reservedword" and p.word == "in" for p in parts):
            start = next(i for i, p in enumerate(parts) if p.kind == "reservedword" and p.word == "in") + 1
            items = [w for p in parts[start:] if p.kind == "word" for w in self.expand(p)]
        bodies = [p for p in parts if p.kind in ("list", "command", "pipeline", "compound")]
        made = []
        for item in items[:6] or [""]:
            if variable:
                self.ctx.env[variable] = item
            made += [c for body in bodies for c in self.walk(body)]
        count = loop_count(self.text(node))
        if count >= MANY_FILES and creates_files(made):
            self.ctx.structural.append(
                (
                    "resource_exhaustion",
                    f"creates files {count:,} times over: the disk's inodes run out",
                    self.text(node),
                )
            )
        return made

    def loop(self, node) -> list[Command]:
        parts = [p for p in node.parts if p.kind != "reservedword"]
        made = [c for p in parts for c in self.walk(p)]
        forever = len(parts) >= 2 and node.kind == "while" and self.always_true(parts[0])
        if forever and self.backgrounds(parts[-1]):
            self.ctx.structural.append(("fork_bomb", "starts background processes in an endless loop", self.text(node)))
        elif forever and appends_endless_data(made[1:]):
            self.ctx.structural.append(
                ("resource_exhaustion", "appends endless data to a file in an endless loop", self.text(node))
            )
        elif forever and creates_files(made[1:]):
            self.ctx.structural.append(
                ("resource_exhaustion", "creates files or directories in an endless loop", self.text(node))
            )
        return made

    def always_true(self, node) -> bool:
        condition = remove_quotes(self.text(node).strip().rstrip(";").strip())  # `while 'true'` is `while true`
        return condition in ("true", ":", "[ 1 ]", "1", "/bin/true", "/usr/bin/true")

    @staticmethod
    def backgrounds(node) -> bool:
        return node.kind == "list" and any(p.kind == "operator" and p.op == "&" for p in node.parts)

    # -------------------------------------------------------------- words

    def text(self, node) -> str:
        return unmask(self.source[node.pos[0] : node.pos[1]])

    def expand_value(self, node) -> str:
        """One word with substitutions and parameters expanded, before word splitting."""
        value = unmask(node.word)
        parts = getattr(node, "parts", [])
        raw = self.text(node)
        if not parts and ("'" in raw or '"' in raw or "\\" in raw):
            # bashlex 0.18 gets quote removal wrong in two ways the rules depend on: it drops the
            # backslash of `"a\nb"` (bash keeps it unless it escapes $ ` " \ or a newline: what
            # `echo -e "o\nw" | fdisk` relies on), and it keeps the inner quotes of `'a'"'"'b'`
            # (how `bash -c '...'` quotes a quote)
            value = remove_quotes(raw)
        for part in getattr(node, "parts", []):
            if part.kind in ("commandsubstitution", "processsubstitution"):
                replacement = self.substitute(part)
                if replacement is not None:
                    value = value.replace(self.text(part), replacement, 1)
        if any(p.kind == "parameter" for p in getattr(node, "parts", [])):
            value = expand_parameters(value, self.ctx.env)
        return value

    def expand(self, node) -> list[str]:
        """The words bash would produce from one word node (usually one; more after splitting)."""
        raw = self.text(node)
        value = self.expand_value(node)
        # only substitutions and parameters are word-split (quote removal is not an expansion)
        expanded = bool(getattr(node, "parts", [])) and value != unmask(node.word)
        if expanded and not raw.startswith('"'):
            return [w for w in value.split() if w] or [""] if value.strip() else []
        if "{" in raw and not re.search(r"['\"\\]", raw):
            return decode.expand_braces(value)
        return [value]

    def substitute(self, part) -> str | None:
        """What `$(...)`, backticks or `<(...)` stand for: computed text, a taint marker, or None."""
        made = self.walk(part.command)
        last = made[-1] if made else None
        if last is None:
            return None
        stream = output(last)
        if stream.text is not None and part.kind == "commandsubstitution":
            text = decode.printable(stream.text)
            return text.rstrip("\n") if text else None
        if stream.kind is None and lists_everything(last):
            return EVERY_ITEM
        return {"download": DOWNLOAD, "decoded": DECODED, "secret": SECRET}.get(stream.kind)


MANY_FILES = 1_000_000
CREATORS = frozenset({"mkdir", "touch", "fallocate", "dd", "cp", "truncate", "mktemp", "ln", "tee", "install"})


def loop_count(text: str) -> int:
    """How many times a `for` loop runs, when its list is a numeric sequence: `$(seq 1 N)`, `{1..N}`."""
    match = re.search(r"\$\(\s*seq\s+(?:-?\d+\s+){0,2}(\d+)\s*\)|\{-?\d+\.\.(\d+)(\.\.\d+)?\}", text)
    return int(match.group(1) or match.group(2)) if match else 0


READ_LOOP = re.compile(r"^\s*while\s+(?:IFS=\S*\s+)?read\s+(?:-r\s+)?([A-Za-z_]\w*)\s*;?\s*do\b")


def read_lines(text: str, redirected: list[Command]) -> tuple[str, list[str]] | None:
    """(variable, lines) of a `while read VAR; do ...; done` loop fed by a here-document or here-string."""
    match = READ_LOOP.match(text)
    fed = next((c.stdin_text for c in redirected if c.stdin_text), None)
    if match is None or not fed:
        return None
    lines = [line.strip() for line in fed.decode("utf-8", "replace").splitlines() if line.strip()]
    return (match.group(1), lines) if lines else None


def appends_endless_data(commands: list[Command]) -> bool:
    """A loop body that reads /dev/zero or /dev/urandom (or `yes`) and appends to a file, without a pause."""
    reads = any(c.name == "yes" or {"/dev/zero", "/dev/urandom", "/dev/random"} & set(c.args) for c in commands)
    appends = any(op == ">>" and not target.startswith("/dev/") for c in commands for op, target in c.redirects)
    return reads and appends and not any(c.name == "sleep" for c in commands)


def creates_files(commands: list[Command]) -> bool:
    """Whether a loop body makes a new file or directory each time round (break and exit stop the loop)."""
    names = {c.name for c in commands}
    writes_new = any(op in (">", ">|") and not t.startswith(("&", "/dev/")) for c in commands for op, t in c.redirects)
    return bool(names & CREATORS or writes_new) and not names & {"break", "exit", "return"}


def remove_quotes(raw: str) -> str:
    """Bash quote removal of one word without expansions."""
    out, quote, i = [], "", 0
    while i < len(raw):
        char, following = raw[i], raw[i + 1 : i + 2]
        if quote == "'":
            quote = "" if char == "'" else quote
            out.append("" if char == "'" else char)
        elif char == "\\" and following and (not quote or following in '$`"\\\n'):
            out.append("" if following == "\n" else following)
            i += 1
        elif char in "'\"" and (not quote or char == quote):
            quote = "" if quote else char
        else:
            out.append(char)
        i += 1
    return "".join(out)


def expand_parameters(value: str, env: dict[str, str]) -> str:
    """Known variables and defaults: `${X:-/}` reads as `/` unless X was set earlier on the line (an
    unset X is the case that matters: what the command does then)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        if name == "HOME":
            return "~"
        if name == "IFS":
            return " "
        if name in ("@", "*"):
            return ""
        if match.group(2) and match.group(2).lstrip(":") in ("-", "="):
            return env.get(name) or expand_parameters(match.group(3), env)
        return env.get(name, match.group(0))

    return PARAMETER.sub(one, SUBSTRING.sub(lambda m: substring(m, env), value))


# `${PWD:0:1}` is `/` wherever the shell stands: a substring of a variable, as bash takes it.
SUBSTRING = re.compile(r"\$\{([A-Za-z_]\w*):(\d+)(?::(\d+))?\}")
ABSOLUTE_VARIABLES = frozenset({"PWD", "HOME", "OLDPWD"})


def substring(match: re.Match[str], env: dict[str, str]) -> str:
    name, start, length = match.group(1), int(match.group(2)), match.group(3)
    value = env.get(name)
    if value is None and name in ABSOLUTE_VARIABLES and start == 0 and length == "1":
        return "/"
    if value is None:
        return match.group(0)
    return value[start : start + int(length)] if length is not None else value[start:]


PARAMETER = re.compile(r"\$\{([A-Za-z_]\w*|@|\*)(?:(:?[-=])([^{}]*))?\}|\$([A-Za-z_]\w*|@|\*)")


# ------------------------------------------------------------------ commands, wrappers and nested code


def emit_words(
    words: list[str],
    redirects: list[tuple[str, str]],
    ctx: Context,
    *,
    text: str,
    via: str,
    depth: int,
    upstream: Command | None = None,
    assignments: list | None = None,
    stdin_text: bytes | None = None,
    recursive: bool = False,
) -> Command:
    """Record one simple command (wrappers peeled) and walk whatever code it would run in turn."""
    box = ctx.container
    if box is not None:  # inside a container: judge the host paths its words reach
        words = [box.translate(w) for w in words]
        redirects = [(op, box.translate(target)) for op, target in redirects]
    wrappers, words = split_wrappers(words)
    words = resolve_glob_program(words)
    if words:
        words = [words[0], *options.canonical(program(words[0]), words[1:])]
    cmd = Command(
        words,
        text,
        ctx.cwd,
        redirects,
        assignments or [],
        stdin_text,
        upstream,
        via=via,
        recursive=recursive,
        wrappers=wrappers,
        container=box,
    )
    duplicated = [t[1:] for op, t in redirects if op == "<&" and t.startswith("&")]
    cmd.stdin_kind = next((ctx.tainted_fds[fd] for fd in duplicated if fd in ctx.tainted_fds), None)
    ctx.commands.append(cmd)
    for nested_text, how in nested_code(cmd, ctx):
        start = len(ctx.commands)
        collect(nested_text, ctx, via=join_via(via, how), depth=depth + 1)
        if cmd.recursive:  # `find / -exec sh -c 'CODE' _ {} \;`: CODE runs on every file of the tree
            for inner in ctx.commands[start:]:
                inner.recursive = True
    for code, how in defined_code(cmd, ctx, via):
        collect(code, ctx, via=join_via(via, how), depth=depth + 1)
    for nested_words, how, unscoped in nested_commands(cmd, ctx):
        emit_words(
            nested_words,
            [],
            ctx,
            text=" ".join(nested_words),
            via=join_via(via, how),
            depth=depth + 1,
            recursive=unscoped,
        )
    emit_container_command(cmd, ctx, via, depth)
    track_state(cmd, ctx)
    return cmd


def emit_container_command(cmd: Command, ctx: Context, via: str, depth: int) -> None:
    """Walk what `docker run` runs when its container reaches the host (containers.py says why only then)."""
    box = containers.parse_run(cmd.words) if cmd.name in containers.ENGINES else None
    if box is None or not box.command or not box.reaches_host():
        return
    outer, ctx.container = ctx.container, box
    try:
        emit_words(
            box.command,
            [],
            ctx,
            text=" ".join(box.command),
            depth=depth + 1,
            via=join_via(via, "inside a container given host access"),
        )
    finally:
        ctx.container = outer


SAFE_WORD = re.compile(r"[\w~/.*?:@%+=,-]+")


def defined_code(cmd: Command, ctx: Context, via: str) -> list[tuple[str, str]]:
    """What calling a function or an alias defined earlier runs: `f(){ rm -rf "$@"; }; f ~` runs
    `rm -rf ~`. As in bash, an alias is not expanded again inside its own expansion (`alias rm='rm -i'`);
    a function that calls itself, directly or through another, is left alone (the fork-bomb check reads it)."""
    called = cmd.words[0] if cmd.words else ""
    value = ctx.aliases.get(called)
    if value is not None and f"through the alias {called}" not in via:
        return [(" ".join([value, *map(quoted, cmd.args)]), f"through the alias {called}")]
    body = ctx.functions.get(called)
    if body is None or f"inside the function {called}" in via:
        return []
    if re.search(rf"(^|[^\w-]){re.escape(called)}($|[^\w-])", body):
        return []
    args = [quoted(a) for a in cmd.args]

    def positional(match: re.Match[str]) -> str:
        key = match.group(1) or match.group(2) or match.group(3)
        if key in ("@", "*"):
            return " ".join(args)
        return args[int(key) - 1] if int(key) <= len(args) else ""

    return [(POSITIONAL.sub(positional, body), f"inside the function {called}")]


# `"$@"`, `$*`, `${1}`, `"$2"`: a function's arguments where its body uses them.
POSITIONAL = re.compile(r'"?\$\{([@*]|[1-9])\}"?|"?\$([@*])"?|"?\$([1-9])"?')


def quoted(word: str) -> str:
    return word if SAFE_WORD.fullmatch(word) else shlex.quote(word)


def join_via(outer: str, inner: str) -> str:
    return f"{inner}, {outer}" if outer else inner


KNOWN_PROGRAMS = (
    "rm",
    "dd",
    "mkfs",
    "shred",
    "chmod",
    "chown",
    "kill",
    "sh",
    "bash",
    "curl",
    "wget",
    "nc",
    "shutdown",
    "reboot",
    "iptables",
    "mv",
    "cp",
    "find",
    "python3",
    "perl",
)


def resolve_glob_program(words: list[str]) -> list[str]:
    """`/bin/r? -rf /` runs /bin/rm: match a globbed program path against the programs the rules know."""
    if not words or not re.search(r"[*?\[]", words[0]) or "/" not in words[0]:
        return words
    for directory in ("/bin", "/usr/bin", "/sbin", "/usr/sbin"):
        for name in KNOWN_PROGRAMS:
            if fnmatchcase(f"{directory}/{name}", words[0]):
                return [f"{directory}/{name}", *words[1:]]
    return words


def nested_code(cmd: Command, ctx: Context) -> list[tuple[str, str]]:
    """Shell code this command would run: `-c` strings, eval, su -c, ssh, trap, decoded stdin."""
    name, args = cmd.name, cmd.args
    found: list[tuple[str, str]] = []
    if name in SHELLS or name in ("su", "runuser", "script"):
        code = shell_c_string(args)
        if code is not None:
            found.append((with_positionals(code, args), f"inside {name} -c"))
    if name == "eval" and args:
        found.append((" ".join(args), "inside eval"))
    if name == "ssh":
        remote = ssh_remote_command(args)
        if remote:
            found.append((remote, "run over ssh"))
    if name == "watch":
        rest = skip_options(args, frozenset(["-n", "-d", "--interval"]), 0, False)
        if rest:
            found.append((" ".join(rest), "inside watch"))
    if name == "trap" and args:
        found.append((args[0], "in a trap"))
    found += [(payload, how) for kind, payload, how in launchers.launched(name, args) if kind == "code"]
    if is_interpreter(name) or name in AWKS:
        code = interpreter_code(cmd)
        if code:
            found += code_effects(cmd, code, ctx)
    if name == "sed":
        found += [
            (text, "run by sed's e command") for s in scripts.sed_scripts(args) for text in scripts.sed_commands(s)
        ]
    if executes_stdin(cmd):
        stream = input_of(cmd)
        text = decode.printable(stream.text)
        if text and is_python(name):
            found += code_effects(cmd, text, ctx)
        elif text:
            found.append((text, "scheduled by at" if name in ("at", "batch") else f"piped into {name}"))
    return found


def code_effects(cmd: Command, code: str, ctx: Context) -> list[tuple[str, str]]:
    """The shell commands a program's code runs or stands for; what has no shell equivalent (a fork
    loop, runaway memory, downloaded code executed) goes to the structural findings."""
    name, how = cmd.name, f"run by {cmd.name}"
    hidden = [(text, f"decoded inside {name} code") for text in decode.hidden_strings(code)]
    if is_python(name):
        effects = pycode.python_effects(code)
        for text in decode.hidden_strings(code) if effects.parsed else []:
            inner = pycode.python_effects(text)  # `exec(base64.b64decode('...'))`: the decoded Python
            if inner.parsed:
                effects.shell += inner.shell
                effects.structural += inner.structural
        if effects.parsed:
            ctx.structural += [(category, f"{name} {reason}", cmd.text) for category, reason in effects.structural]
            return [(line, how) for line in effects.shell] + hidden
    elif scripts.grows_forever(code):
        ctx.structural.append(("resource_exhaustion", f"{name} grows a value in memory in an endless loop", cmd.text))
    code = scripts.fold(code)
    found: list[tuple[str, str]] = []
    if decode.RUNS_SHELL.search(code):
        found += [(literal, how) for literal in decode.string_literals(code) if " " in literal]
    found += [(text, how) for text in decode.shell_commands_in_code(code, interpreter_family(name))]
    found += [(text, how) for text in scripts.file_actions(code)]
    if name in AWKS:
        found += [(text, how) for text in scripts.awk_commands(code)]
    return list(dict.fromkeys(found)) + hidden


SUDO_VALUES = frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group"})


def with_positionals(code: str, args: list[str]) -> str:
    """`sh -c 'CODE' NAME ARG...`: the words after CODE are $0, $1...; put them where CODE uses them
    (`find /var/log -exec sh -c ': > "$1"' _ {} \\;`)."""
    at = args.index(code) if code in args else len(args)
    rest = [quoted(a) for a in args[at + 2 :]]
    if not rest or not POSITIONAL.search(code):
        return code

    def positional(match: re.Match[str]) -> str:
        key = match.group(1) or match.group(2) or match.group(3)
        if key in ("@", "*"):
            return " ".join(rest)
        return rest[int(key) - 1] if int(key) <= len(rest) else match.group(0)

    return POSITIONAL.sub(positional, code)


def shell_c_string(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--":
            return None
        if re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", arg) and i + 1 < len(args):
            return args[i + 1]
        if not arg.startswith("-"):
            if arg in ("root",) or re.fullmatch(r"[a-z_][\w-]*", arg):
                continue  # su USER -c CMD
            return None
    return None


def ssh_remote_command(args: list[str]) -> str | None:
    with_value = frozenset(
        [
            "-b",
            "-c",
            "-D",
            "-E",
            "-e",
            "-F",
            "-I",
            "-i",
            "-J",
            "-L",
            "-l",
            "-m",
            "-O",
            "-o",
            "-p",
            "-Q",
            "-R",
            "-S",
            "-W",
            "-w",
        ]
    )
    rest = skip_options(args, with_value, 0, False)
    return " ".join(rest[1:]) if len(rest) > 1 else None


def interpreter_code(cmd: Command) -> str | None:
    """The program text given on the command line (`python -c CODE`, `awk 'CODE' file`), else None."""
    if cmd.name in AWKS:
        if "-f" in cmd.args or any(a.startswith("--file") for a in cmd.args):
            return None  # the program is in a file
        program_text = operands(cmd.args, frozenset({"-F", "-v", "--field-separator", "--assign"}))
        return program_text[0] if program_text else None
    family = interpreter_family(cmd.name)
    letters = CODE_FLAGS.get(family, "")
    args = cmd.args
    for i, arg in enumerate(args):
        if arg in ("--eval", "--command") and i + 1 < len(args):
            return args[i + 1]
        if re.fullmatch(r"-[a-zA-Z]+", arg) and arg[-1] in letters and i + 1 < len(args):
            return args[i + 1]
        if re.fullmatch(r"-[a-zA-Z]+", arg) and arg[1] in letters and len(arg) > 2 and family == "python":
            return arg[2:]
    return None


def nested_commands(cmd: Command, ctx: Context) -> list[tuple[list[str], str, bool]]:
    """Commands given as words rather than code: `find -exec CMD {} ;` and `xargs CMD`."""
    if cmd.name == "find":
        spec = parse_find(cmd.words)
        made = []
        for exec_words in spec.execs:
            target = spec.roots[0] if spec.roots else "."
            replacement = target if not spec.narrowed else target.rstrip("/") + "/" + FIND_MATCH
            made.append(
                (
                    [replacement if w == "{}" else w.replace("{}", replacement) for w in exec_words],
                    "run by find -exec",
                    not spec.narrowed,
                )
            )
        return made
    if cmd.name == "xargs":
        made = xargs_command(cmd)
        return [made] if made[0] else []
    item = None
    runs = []
    for kind, payload, how in launchers.launched(cmd.name, cmd.args):
        if kind == "argv" and isinstance(payload, list):
            if "<item>" in " ".join(payload):  # `... | parallel rm {}`: the items come from stdin
                item = item or xargs_items(cmd.upstream)[0]
                payload = [w.replace("<item>", item) for w in payload]
            runs.append((payload, how, False))
    return runs


def xargs_command(cmd: Command) -> tuple[list[str], str, bool]:
    with_value = frozenset(
        [
            "-I",
            "-i",
            "-n",
            "-P",
            "-d",
            "-a",
            "-L",
            "-s",
            "-E",
            "-e",
            "--max-args",
            "--max-procs",
            "--delimiter",
            "--arg-file",
        ]
    )
    args = cmd.args
    replace = option_value(args, "-I", "--replace")
    rest = skip_options(args, with_value, 0, False)
    if not rest:
        return [], "", False
    items = xargs_items(cmd.upstream)
    given = input_of(cmd) if cmd.upstream is None else UNKNOWN  # `xargs rm <<< ~`, `xargs rm < list`
    if given.text is not None:
        items = given.text.decode("utf-8", "replace").replace("\0", " ").split()[:32] or items
    if replace:
        return [w.replace(replace, items[0]) for w in rest], "run by xargs", False
    return rest + items, "run by xargs", False


def lists_everything(cmd: Command) -> bool:
    """A subcommand that lists every item of a kind, unfiltered: `docker ps -aq`, `kubectl get ns -o name`,
    `aws ec2 describe-instances --query ...`, `redis-cli --scan --pattern '*'`. `docker ps -f
    status=exited`, `kubectl get pods -l app=web` and `--pattern 'cache:*'` list a part."""
    if cmd.name in ("ls", "find") or not any(LISTING.match(w) for w in cmd.args[:4]):
        return False
    args = cmd.args
    for i, word in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else ""
        if FILTERS.match(word) and not (word == "-f" and "=" not in following):
            return False
        if word == "--pattern" and following not in ("*", ""):
            return False
    return True


def xargs_items(upstream: Command | None) -> list[str]:
    """What xargs would read: computed output, or what `ls DIR` / `find DIR` would list."""
    if upstream is None:
        return ["<item>"]
    stream = output(upstream)
    if stream.text is not None:  # `printf '%s\0' ... | xargs -0`: NUL ends an item like a newline
        return stream.text.decode("utf-8", "replace").replace("\0", " ").split()[:32] or ["<item>"]
    if stream.kind in TAINT_MARKERS:
        return [TAINT_MARKERS[stream.kind]]  # `curl URL | xargs -I{} sh -c '{}'` runs the download
    if lists_everything(upstream):
        return [EVERY_ITEM]
    listed = operands(upstream.args)
    if upstream.name == "ls" and listed:
        return [listed[0].rstrip("/") + "/*"]
    if upstream.name == "find":
        spec = parse_find(upstream.words)
        if not spec.narrowed:
            return spec.roots[:1] or ["<item>"]
    return ["<item>"]


# `cd $DIR` unquoted and alone: an unset DIR leaves `cd`, which goes home (`cd "$DIR"` fails instead)
BARE_CD = re.compile(r"^\s*(?:builtin\s+)?cd\s+(?:\$([A-Za-z_]\w*)|\$\{([A-Za-z_]\w*)\})\s*(?:$|[;&|)])")


def track_state(cmd: Command, ctx: Context) -> None:
    """Remember what later commands on the line depend on: cwd, exported variables, downloaded files."""
    if cmd.name in ("cd", "pushd", "chdir"):
        targets = [a for a in operands(cmd.args) if not re.fullmatch(r"[-+]\d*", a)]
        # `cd -`, `pushd +1`: a directory the scanner cannot know
        ctx.cwd = normalize(targets[0], ctx.cwd) if targets else ("~" if not cmd.args else None)
        bare = BARE_CD.match(cmd.text)
        if cmd.name == "cd" and bare and (bare.group(1) or bare.group(2)) not in ctx.guarded | ctx.env.keys():
            ctx.cwd = "~"  # `cd $DIR` with DIR unset or empty is `cd`: home, as far as a later `rm -rf *` goes
    elif cmd.name == "popd":
        ctx.cwd = None
    elif cmd.name == "alias":
        for arg in cmd.args:
            name, eq, value = arg.partition("=")
            if eq and value and re.fullmatch(r"[\w.:+-]+", name):
                ctx.aliases[name] = value
    elif cmd.name in ("export", "declare", "typeset", "local", "readonly"):
        for arg in cmd.args:
            name, eq, value = arg.partition("=")
            if eq and re.fullmatch(r"[A-Za-z_]\w*", name):
                ctx.env[name] = value
                cmd.assignments.append((name, value))
    ctx.downloaded.update(downloaded_files(cmd))


def downloaded_files(cmd: Command) -> set[str]:
    found: set[str] = set()
    if cmd.name == "curl":
        out = curl_output(cmd.args)
        if out and out not in STDOUT_NAMES:
            found.add(out)
        if "-O" in cmd.args or "--remote-name" in cmd.args:
            urls = [a for a in cmd.args if re.match(r"^(https?|ftp)://", a)]
            found.update(u.rstrip("/").rsplit("/", 1)[-1] for u in urls)
    elif cmd.name == "wget":
        out = option_value(cmd.args, "--output-document") or short_option_value(cmd.args, "O", WGET_VALUE_LETTERS)
        if out and out != "-":
            found.add(out)
        elif out is None:
            urls = [a for a in cmd.args if re.match(r"^(https?|ftp)://", a)]
            found.update(u.rstrip("/").rsplit("/", 1)[-1] for u in urls)
    elif cmd.name == "aria2c":
        out, folder = option_value(cmd.args, "-o", "--out"), option_value(cmd.args, "-d", "--dir")
        if out:
            found.add(f"{folder.rstrip('/')}/{out}" if folder else out)
    if output(cmd).kind == "download":
        found.update(t for op, t in cmd.redirects if op in (">", ">>") and t)
    return {f.removeprefix("./") for f in found if f}


# ------------------------------------------------------------------ what flows through pipes


@dataclass(frozen=True)
class Stream:
    """A command's output: known bytes, or a taint (download / decoded / secret), or unknown."""

    kind: str | None = None
    text: bytes | None = None


UNKNOWN = Stream()


def input_of(cmd: Command) -> Stream:
    if cmd.stdin_kind is not None:
        return Stream(cmd.stdin_kind)
    if cmd.stdin_text is not None:
        return taint_in(cmd.stdin_text.decode("utf-8", "surrogateescape")) or Stream("text", cmd.stdin_text)
    for op, target in cmd.redirects:
        if op == "<":
            return taint_in(target) or (Stream("secret") if is_credential(target) else Stream("file"))
    return output(cmd.upstream) if cmd.upstream is not None else UNKNOWN


def taint_in(text: str) -> Stream | None:
    """The taint a word carries from a substitution (`<<< "$(curl URL)"`, `< <(curl URL)`), if any."""
    return next((Stream(kind) for kind, marker in TAINT_MARKERS.items() if marker in text), None)


def output(cmd: Command) -> Stream:
    """What `cmd` writes to stdout, as far as it can be known without running anything (computed once
    per command: every stage of a long pipeline asks for the one before it)."""
    cached = cmd.__dict__.get("_output")
    if cached is None:
        cached = cmd.__dict__["_output"] = compute_output(cmd)
    return cached


def compute_output(cmd: Command) -> Stream:
    if len(cmd.pipeline) > MAX_PIPELINE:
        return UNKNOWN  # a pathological pipeline: do not follow it back stage by stage
    if cmd.inner:
        texts = [output(c).text for c in cmd.inner if c.name in ("echo", "printf")]
        return Stream("text", b"".join(t for t in texts if t)) if any(texts) else UNKNOWN
    handler = STREAMS.get(cmd.name)
    if handler is not None:
        return handler(cmd)
    return secret_source(cmd) or passed_on(cmd) or UNKNOWN


# Programs that read a stream without writing it on: counters, checksums, checkers, pagers, importers.
ABSORBERS = frozenset(
    {"wc", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "md5sum", "b2sum", "cksum", "sum",
     "shellcheck", "gpg", "gpgv", "cmp", "file", "less", "more", "most", "true", ":", "sleep", "kubectl",
     "docker", "psql", "mysql", "sqlite3", "pandoc", "lp", "mail", "mailx", "xclip", "pbcopy", "wl-copy"}
)  # fmt: skip


def passed_on(cmd: Command) -> Stream | None:
    """A filter passes its input's taint on: `curl URL | sed ... | grep -v ... | sh` still runs the
    download, through any program that is not known to swallow its input or to write elsewhere."""
    if cmd.upstream is None and cmd.stdin_kind is None and cmd.stdin_text is None:
        return None
    if cmd.name in ABSORBERS or cmd.name in DOWNLOADERS or executes_stdin(cmd):
        return None
    if any(op in (">", ">>", "&>", ">|") and not t.startswith("&") for op, t in cmd.redirects):
        return None  # its output goes to a file, not down the pipe
    if cmd.name == "grep" and {"c", "q", "l", "L"} & set(
        "".join(a[1:] for a in cmd.args if re.fullmatch(r"-[a-zA-Z]+", a))
    ):
        return None
    source = input_of(cmd)
    return source if source.kind in ("download", "decoded") else None


def secret_source(cmd: Command) -> Stream | None:
    if any(is_credential(a) for a in cmd.args) and cmd.name in (
        "cat",
        "head",
        "tail",
        "tar",
        "zip",
        "gzip",
        "xxd",
        "base64",
        "od",
        "strings",
        "openssl",
        "sed",
        "awk",
        "grep",
        "less",
        "more",
        "cut",
        "tac",
        "nl",
        "sqlite3",
    ):
        return Stream("secret")
    if cmd.name in ("env", "printenv", "set") and not [a for a in cmd.args if not a.startswith("-")]:
        return Stream("secret")
    if cmd.name == "gpg" and any(a.startswith("--export-secret") for a in cmd.args):
        return Stream("secret")
    upstream = input_of(cmd)
    return upstream if upstream.kind == "secret" else None


def stream_echo(cmd: Command) -> Stream:
    args = cmd.args
    escapes = False
    newline = True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        escapes |= "e" in args[0]
        newline &= "n" not in args[0]
        args = args[1:]
    text = " ".join(args)
    text = decode.decode_escapes(text) if escapes else text
    return Stream("text", (text + ("\n" if newline else "")).encode("utf-8", "surrogateescape"))


def stream_printf(cmd: Command) -> Stream:
    if not cmd.args:
        return UNKNOWN
    fmt, values = decode.decode_escapes(cmd.args[0]), list(cmd.args[1:])
    if not re.search(r"%[sbd]", fmt):
        return Stream("text", fmt.replace("%%", "%").encode("utf-8", "surrogateescape"))
    text = re.sub(r"%[sbd]", lambda m: values.pop(0) if values else "", fmt)
    while values:  # bash reuses the format until the arguments run out: `printf '%s ' rm -rf ~`
        text += re.sub(r"%[sbd]", lambda m: values.pop(0) if values else "", fmt)
    return Stream("text", text.replace("%%", "%").encode("utf-8", "surrogateescape"))


def passthrough(cmd: Command) -> Stream:
    files = operands(cmd.args, frozenset({"-n", "-c", "--lines", "--bytes", "-s", "--sleep-interval"}))
    if cmd.name in ("cat", "head", "tail") and files and files != ["-"]:
        return secret_source(cmd) or Stream("file")
    return input_of(cmd)


def transform(decoder: Callable[[bytes], bytes | None], cmd: Command, files: list[str]) -> Stream:
    if files:
        return Stream("decoded")
    source = input_of(cmd)
    if source.kind in ("download", "secret"):
        return source
    if source.text is None:
        return Stream("decoded")
    result = decoder(source.text)
    return Stream("text", result) if result is not None else Stream("decoded")


def files(cmd: Command) -> list[str]:
    """The files a filter reads; none (or `-`) means it reads stdin."""
    return [a for a in operands(cmd.args) if a != "-"]


def stream_base64(cmd: Command) -> Stream:
    decoding = any(a in ("-d", "--decode", "-D") or re.fullmatch(r"-[a-zA-Z]*d[a-zA-Z]*", a) for a in cmd.args)
    if decoding:
        return transform(decode.b64decode, cmd, files(cmd))
    return secret_source(cmd) or UNKNOWN


def stream_openssl(cmd: Command) -> Stream:
    if "-d" in cmd.args and ({"base64", "-base64", "-a"} & set(cmd.args)):
        files = [option_value(cmd.args, "-in")] if option_value(cmd.args, "-in") else []
        return transform(decode.b64decode, cmd, files)
    if "s_client" in cmd.args:
        return Stream("download")
    return secret_source(cmd) or UNKNOWN


def stream_xxd(cmd: Command) -> Stream:
    if any(re.fullmatch(r"-[a-z]*r[a-z]*", a) for a in cmd.args):
        return transform(decode.hexdecode, cmd, files(cmd))
    return secret_source(cmd) or UNKNOWN


def stream_tr(cmd: Command) -> Stream:
    sets = [a for a in operands(cmd.args) if a != "-"]
    flags = "".join(a[1:] for a in cmd.args if a.startswith("-"))
    if "d" in flags or len(sets) != 2:
        return input_of(cmd)
    return transform(lambda data: decode.translate(data, sets[0], sets[1]), cmd, [])


STDOUT_NAMES = frozenset({"-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})
# curl's single-letter options that take a value, so `-sLo FILE` reads as -s -L -o FILE
CURL_VALUE_LETTERS = "oeHAdFuxXTbcEKmrwYyzCPQtUDhK"


WGET_VALUE_LETTERS = "OoaPtTwiBeUQlARDXIY"


def curl_output(args: list[str]) -> str | None:
    return option_value(args, "--output") or short_option_value(args, "o", CURL_VALUE_LETTERS)


def stream_download(cmd: Command) -> Stream:
    args = cmd.args
    if cmd.name == "curl":
        target = curl_output(args)
        writes_file = (
            (target is not None and target not in STDOUT_NAMES)
            or "-O" in args
            or "--remote-name" in args
            or any(re.fullmatch(r"-[a-zA-Z]*O", a) for a in args)
        )
        return UNKNOWN if writes_file else Stream("download")
    if cmd.name == "wget":
        target = option_value(args, "--output-document") or short_option_value(args, "O", WGET_VALUE_LETTERS)
        return Stream("download") if target in STDOUT_NAMES else UNKNOWN
    if cmd.name == "fetch":
        return Stream("download") if option_value(args, "-o") == "-" else UNKNOWN
    return Stream("download")


def stream_network_client(cmd: Command) -> Stream:
    listening = any(re.fullmatch(r"-[a-zA-Z]*l[a-zA-Z]*", a) for a in cmd.args)
    return UNKNOWN if listening or "-z" in "".join(cmd.args) else Stream("download")


def stream_lookup(cmd: Command) -> Stream:
    """`command -v NAME`, `which NAME`, `type -P NAME`: where a program lives, /usr/bin for the scanner."""
    names = [a for a in cmd.args if not a.startswith("-")]
    looks_up = cmd.name == "which" or {"-v", "-P", "-p"} & set(cmd.args)
    if looks_up and len(names) == 1 and re.fullmatch(r"[\w.+-]+", names[0]):
        return Stream("text", f"/usr/bin/{names[0]}\n".encode())
    return UNKNOWN


STREAMS: dict[str, Callable[[Command], Stream]] = {
    "echo": stream_echo,
    "which": stream_lookup,
    "command": stream_lookup,
    "type": stream_lookup,
    "printf": stream_printf,
    ":": lambda cmd: Stream("text", b""),
    "true": lambda cmd: Stream("text", b""),
    "yes": lambda cmd: Stream("text", ((" ".join(cmd.args) or "y") + "\n").encode() * 8),
    "cat": passthrough,
    "tee": passthrough,
    "head": passthrough,
    "tail": passthrough,
    "base64": stream_base64,
    "openssl": stream_openssl,
    "xxd": stream_xxd,
    "tr": stream_tr,
    "rev": lambda cmd: transform(decode.reverse_lines, cmd, files(cmd)),
    "gunzip": lambda cmd: transform(decode.gunzip, cmd, files(cmd)),
    "zcat": lambda cmd: transform(decode.gunzip, cmd, files(cmd)),
    "gzip": lambda cmd: (
        transform(decode.gunzip, cmd, files(cmd)) if "-d" in "".join(cmd.args) else secret_source(cmd) or UNKNOWN
    ),
    **dict.fromkeys(DOWNLOADERS, stream_download),
    **dict.fromkeys(("nc", "ncat", "netcat", "telnet"), stream_network_client),
}


def executes_stdin(cmd: Command) -> bool:
    """A shell, interpreter or scheduler that would run what arrives on stdin as code: `sh`, `python3 -`,
    `sudo -s`, `su`, `source /dev/stdin`, `at now`, `awk -f -`."""
    name = cmd.name
    if name in ("source", "."):
        return cmd.args[:1] in (["/dev/stdin"], ["-"], ["/dev/fd/0"], ["/proc/self/fd/0"])
    if name in ("at", "batch"):
        return not ({"f", "l", "r", "d", "c"} & set("".join(a[1:] for a in cmd.args if a.startswith("-"))))
    if name in ("sudo", "doas"):  # `sudo -s`, `sudo -i` with no command: a root shell reading stdin
        return bool({"-s", "-i", "--shell", "--login"} & set(cmd.args)) and not operands(cmd.args, SUDO_VALUES)
    if name in ("su", "runuser"):
        return shell_c_string(cmd.args) is None
    if name in AWKS:
        return option_value(cmd.args, "-f", "--file") in ("-", "/dev/stdin")
    if name not in SHELLS and not is_interpreter(name):
        return False
    args = cmd.args
    if interpreter_code(cmd) is not None or shell_c_string(args) is not None:
        return False
    if name in SHELLS and any(re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", a) for a in args):
        return False  # bash -n only checks syntax
    if is_python(name) and any(re.fullmatch(r"-[bBdEiIOqsSuvx]*m.*", a) for a in args):
        return False  # `python -m json.tool`, `-mjson.tool`: a module reads stdin as data
    if "-s" in args:
        return True
    positional = [a for a in args if not a.startswith("-") or a == "-"]
    return not positional or positional[0] in ("-", "/dev/stdin")
