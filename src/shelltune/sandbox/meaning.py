"""The semantic judge: do two runs mean the same, whatever the presentation of their output?

The strict judge (judge.py) calls `ls` and `ls -l` different, and `sha256sum f` and `openssl dgst -sha256 f`
too. This one compares the file-system effects and the processes strictly (contents, modes, and the mtime
of every file created or changed: `cp -p` and `cp` differ here), and outputs by what they say: the
multiset of paths, numbers and words left once known presentation is read away. What is read away is a
fixed list of output formats, each recognised only when it covers the lines it applies to, never a
guess about the command:

- long listings (`ls -l`, `find -ls`, `tar -tv`, `unzip -l`, `zipinfo`): only the names count; `total N`
  lines, archive headers and footers go;
- line numbers added by `cat -n`, `nl` and `grep -n`, and the file name `grep -H` or `grep -r` puts first
  when every line has it and the name is the command's own argument;
- checksum lines in every layout (`HEX  name`, `HEX *name`, `ALGO(name)= HEX`, `ALGO (name) = HEX`, a bare
  `HEX`): only the digest counts;
- differences in normal and unified `diff` layouts: only the lines removed and added, with their side;
- listening sockets as `lsof -i`, `ss -tlnp` and `netstat -tlnp` show them: the process id and the port
  (a service name lsof prints, `*:redis`, as its number), column headers dropped;
- dates and times in the layouts `date`, `date -R`, ISO 8601 and `stat` print: compared as a day and a
  minute, weekday and zone names dropped;
- `NAME=value` and `declare -x NAME="value"` lines: the value;
- numbers by value (`600.30` is `600.3`), and sizes in human units (`2.5K`) as the bytes they round;
- the name of a file or process that one side prints beside its answer and names on its own command line
  (`wc -l f` against `wc -l < f`, `pgrep -l nginx` against `pgrep nginx`), and a few labels (`total`,
  hash algorithm names, `-` for standard input);
- when both runs changed the same files, lines that only report those changes: verbose output (`cp -v`,
  `rm -v`, `mkdir -v`, `chmod -v`, `mv -v`, `ln -v`, `tar -v`, `zip`, `unzip`, `rsync -v`, `find -print`
  beside `-delete`), which name paths of the world or of the changes and nothing else.

Order counts only where the reference asks for one: an explicit ordering (`sort -n`, `-r`, `-k`, `-h`...,
`ls -t`, `-S`, `-r`..., `tac`), or a final `sort` of anything but a listing of paths (sorting `find`'s
output is presentation; sorting a file is the task). The exit status must agree, except 0 against 1
when both printed the same non-empty answer (`grep -c` prints 0 and exits 1, `grep | wc -l` exits 0).
"""

from __future__ import annotations

import contextlib
import math
import re
import shlex
import socket
import time
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from shelltune.sandbox.judge import normalize_stdout
from shelltune.sandbox.runner import Execution
from shelltune.sandbox.snapshot import Change
from shelltune.sandbox.world import CWD, HOME, World

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {m: i for i, m in enumerate(MONTH_NAMES, 1)}
MON = "(?P<mon>" + "|".join(MONTHS) + ")"
WEEKDAY = r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?:day|sday|nesday|rsday|urday)?,?\s+)?"
TIME = r"(?P<time><now>|\d{1,2}:\d{2}(?::\d{2})?)"
ZONE = r"(?:\s*(?:UTC|GMT|Z|[+-]\d{2}:?\d{2}|[A-Z]{1,4}T)\b)?"
DATE_LAYOUTS = [
    # date, date -r, ctime: Mon Jun  1 09:00:00 UTC 2026
    re.compile(rf"{WEEKDAY}{MON}\s+(?P<day>\d{{1,2}})\s+{TIME}{ZONE}\s+(?P<year>\d{{4}})\b"),
    # RFC 2822 (date -R): Mon, 01 Jun 2026 09:00:00 +0000
    re.compile(rf"{WEEKDAY}(?P<day>\d{{1,2}})\s+{MON}\s+(?P<year>\d{{4}})(?:\s+{TIME}{ZONE})?\b"),
    # ISO 8601, stat, --time-style=long-iso: 2026-06-01T09:00:00+00:00, 2026-06-01 09:00:00 +0000
    re.compile(rf"\b(?P<year>\d{{4}})-(?P<month>\d{{2}})-(?P<day>\d{{2}})(?:[T ]{TIME}{ZONE})?(?![\d:])"),
]
PERMS = r"[-dlcbpsD?][-rwxsStTl]{9}[.+@]?"
MODE = re.compile(r"[-dlcbps][-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT][.+@]?")
LONG_LISTINGS = [
    # ls -l, ls -ln (owner and group, size or major/minor, a date in any ls style, then the name)
    re.compile(
        rf"^(?P<perms>{PERMS}) \d+ \S+ \S+ (?:\d+, )?(?P<size>[\d.,]+[KMGTPE]?)"
        r" (?:\w{3} \d{1,2} (?:\d{4}|\d{2}:\d{2}|<now>)|\d{4}-\d{2}-\d{2} (?:\d{2}:\d{2}|<now>)(?::\d{2})?"
        r"(?: [+-]\d{4})?|<now>|\S+ \S+) (?P<name>.+)$"
    ),
    # find -ls: inode blocks perms links owner group size date name
    re.compile(
        rf"^\d+ \d+ (?P<perms>{PERMS}) \d+ \S+ \S+ (?P<size>\d+) \w{{3}} \d{{1,2}} (?:\d{{4}}|\d{{2}}:\d{{2}}|<now>)"
        r" (?P<name>.+)$"
    ),
    # tar -tv: perms owner/group size date time name
    re.compile(
        rf"^(?P<perms>{PERMS}) \S+/\S+ (?P<size>\d+) (?:\d{{4}}-\d{{2}}-\d{{2}}|<now>) ?(?:\d{{2}}:\d{{2}}|<now>)?"
        r" ?(?P<name>.+)$"
    ),
    # unzip -l: length date time name
    re.compile(r"^(?P<size>\d+) (?:\d{2}-\d{2}-\d{4}|\d{4}-\d{2}-\d{2}|<now>) ?(?:\d{2}:\d{2}|<now>)? ?(?P<name>.+)$"),
    # zipinfo: perms version os size type method date time name
    re.compile(
        rf"^(?P<perms>{PERMS}) \d+\.\d+ \w+ (?P<size>\d+) \S+ \S+ \d{{2}}-\w{{3}}-\d{{2}} (?:\d{{2}}:\d{{2}}|<now>)"
        r" (?P<name>.+)$"
    ),
]
LISTING_NOISE = re.compile(
    r"^(?:total \d+[KMGT]?|Archive: .*|Length Date Time Name|-+ -+ -+ -+|-+|\d+ \d+ files?"
    r"|Zip file size: .*|\d+ files?, \d+ bytes uncompressed, .*|[^ ]+:)$"
)
HASH_LINES = [
    re.compile(r"^(?P<hex>[0-9a-fA-F]{32,128}) [ *]?(?P<name>\S*)$"),
    re.compile(r"^(?P<algo>[\w-]+) ?\((?P<name>.*)\) ?= ?(?P<hex>[0-9a-fA-F]{32,128})$"),
    re.compile(r"^(?P<hex>[0-9a-fA-F]{32,128})$"),
]
VERBOSE = [
    re.compile(r"^(?:renamed |copied )?'(?P<a>.*)' [-=]> '(?P<b>.*)'$"),
    re.compile(r"^removed (?:directory )?'(?P<a>.*)'$"),
    re.compile(r"^(?:mkdir|install): created directory '(?P<a>.*)'$"),
    re.compile(r"^mode of '(?P<a>.*)' (?:changed from|retained as) .*$"),
    re.compile(r"^(?:changed )?ownership of '(?P<a>.*)' (?:retained as|from) .*$"),
    re.compile(r"^(?:adding|updating|deflating|inflating|extracting|creating|linking): (?P<a>.*?)(?: \(\w+ \d+%\))?$"),
    re.compile(r"^Archive: (?P<a>.*)$"),
    re.compile(r"^(?:sending|receiving) incremental file list$"),
    re.compile(r"^sent [\d,]+ bytes received [\d,]+ bytes .*$"),
    re.compile(r"^total size is [\d,]+ speedup is .*$"),
]
ASSIGNMENT = [
    re.compile(r"^declare -[-\w]* (?P<name>\w+)=\"?(?P<value>.*?)\"?$"),
    re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<value>.*)$"),
]
# Line numbers have at most 18 digits: a longer run of digits is text (and int() refuses more than 4,300).
NUMBERED = re.compile(r"^(?P<n>\d{1,18})(?: (?P<rest>.*))?$")
LINE_FILTERS = frozenset({"grep", "egrep", "fgrep", "rg", "head", "tail", "cat", "less", "more"})
HISTORY_ENTRY = re.compile(r"^(?P<n>\d{1,18})\*? (?P<rest>.*)$")
GREP_NUMBERED = re.compile(r"^(?P<n>\d{1,18}):(?P<rest>.*)$")
# A name with a character that is not a digit or `-`, checked by a lookahead: `[^\s:]*X[^\s:]*` would try
# every split of a long line with no colon (quadratic: a 1 MiB `base64 -w0` line would take an hour).
GREP_FILE_NUMBERED = re.compile(r"^(?P<file>(?=[^\s:]*[^\d\s:-])[^\s:]+):(?P<n>\d{1,18}):(?P<rest>.*)$")
DIFF_NORMAL_HUNK = re.compile(r"^\d+(?:,\d+)?[acd]\d+(?:,\d+)?$")
DIFF_UNIFIED_HEADER = re.compile(r"^(?:--- |\+\+\+ |@@ .* @@)")
# A listening TCP socket: lsof (COMMAND PID USER FD TYPE DEVICE SIZE/OFF NODE NAME), ss -tlnp, netstat -tlnp.
SOCKETS = [
    re.compile(r"^\S+ (?P<pid>\d+) \S+ \d+[a-zA-Z]* IPv[46] \S+ \S+ TCP \S*:(?P<port>[\w.-]+) \(LISTEN\)$"),
    re.compile(r"^LISTEN \d+ \d+ \S*:(?P<port>\d+) \S+ users:\(\(\"[^\"]*\",pid=(?P<pid>\d+),fd=\d+\).*\)$"),
    re.compile(r"^tcp6? \d+ \d+ \S*:(?P<port>\d+) \S+ LISTEN (?P<pid>\d+)/.*$"),
]
SOCKET_NOISE = re.compile(
    r"^(?:COMMAND PID USER FD TYPE DEVICE SIZE/OFF NODE NAME|State Recv-Q Send-Q Local Address:Port Peer Address:Port"
    r" ?Process|Active Internet connections \(.*\)|Proto Recv-Q Send-Q Local Address Foreign Address State"
    r"(?: PID/Program name)?)$"
)
HUMAN = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<unit>[KMGTPE])(?:i?B)?$")
NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
# A size has at most 25 digits (EiB are 19): a longer number is compared as it is, never rounded to units
# (rounding a 100,000-digit number costs seconds, and a line of digits may be a MiB long).
MAX_SIZE_DIGITS = 25
HEX = re.compile(r"^(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,128}$", re.I)
SEPARATORS = re.compile(r"[\s,;=|()\[\]{}\"'`<>]+|(?<!\d):|:(?!\d)|->|=>")
LABELS = {"total", "-", "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha2-256", "sha2-512", "blake2b"}
LISTINGS = {"find", "ls", "du", "locate", "tree"}
ORDER_FLAGS = {"sort": set("nrhkgVMR"), "ls": set("tSrXvcu")}
PIPE_STAGES = re.compile(r"\|(?!\|)")
PUNCTUATION = re.compile(r"\W+")


@dataclass(frozen=True)
class Line:
    """One output line as canonical tokens; `reports`: the paths it names when it could be a mere report
    of an effect (a verbose message, or a line that is one path)."""

    tokens: tuple[str, ...]
    reports: tuple[str, ...] | None = None
    optional: tuple[str, ...] = ()  # tokens of `tokens` the other side need not print (`ls -l`'s size, mode)


@dataclass(frozen=True)
class Reading:
    """What a run said and did, as the semantic judge compares it."""

    status: int | None
    complete: bool
    lines: tuple[Line, ...]
    extras: frozenset[str]  # tokens this side may print beside its answer (its own arguments)
    changes: tuple[tuple[str, Change | None], ...]
    processes: tuple[str, ...]
    ordered: bool  # the command asks for an order (used when this reading is the reference)
    known: frozenset[str]  # paths of the world and of the changes: what a report line may name
    environment: tuple[tuple[str, str | None], ...] = ()  # exported in its own shell (`export X=1`)


@dataclass(frozen=True)
class WorldFacts:
    """What the semantic judge knows of the world: its paths, the digests of its files (a new file with
    one of them is a copy, whose mtime counts), and its processes' names and command lines."""

    paths: frozenset[str] = frozenset()
    digests: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, world: World) -> WorldFacts:
        files = frozenset(entry.digest for entry in world.manifest.values() if entry.kind == "file")
        names = frozenset(t for name, argv0 in world.daemons for t in (name, name[:15], *tokens_of(argv0)))
        return cls(frozenset(world.manifest), files, names)


def reading_of(run: Execution, command: str, facts: WorldFacts) -> Reading:
    """A run as the semantic judge reads it (its stdout normalized as the strict judge's first)."""
    stdout = normalize_stdout(run.stdout, run.window, run.clock_window)
    return read_run(
        run.status,
        run.error is None,
        stdout,
        run.changes,
        run.processes,
        command,
        facts,
        minutes(run.window, run.clock_window),
        run.environment,
    )


def minutes(*windows: tuple[float, float]) -> frozenset[str]:
    """The minute (`D2026-05-30T22:01`, UTC) of every second in the windows, a second either side: the dated
    times that mean "now". The date is part of it: a file's own time that shares the run's hour and minute on
    another day is a fact, not "now" (otherwise a log line's 22:01 read as "now" only in runs that happened
    at 22:01 UTC, and a verdict depended on the wall clock)."""
    return frozenset(
        time.strftime("D%Y-%m-%dT%H:%M", time.gmtime(t))
        for start, end in windows
        for t in range(int(start) - 1, int(end) + 2)
    )


def read_run(
    status: int | None,
    complete: bool,
    stdout: str,
    changes: dict[str, Change | None],
    processes: tuple[str, ...],
    command: str,
    facts: WorldFacts = WorldFacts(),
    now: frozenset[str] = frozenset(),
    environment: tuple[tuple[str, str | None], ...] = (),
) -> Reading:
    """The semantic view of one run. `stdout` is already normalized as the strict judge normalizes it;
    `now` holds the dated minutes (`D2026-05-30T22:01`) of the run's windows, on the real and the fake
    clock: a date and time printed in them is "now", whatever layout printed it."""
    lines = [line for line in stdout.split("\n") if line.strip()]
    return Reading(
        status,
        complete,
        read := tuple(read_lines(lines, command, now)),
        frozenset(argument_tokens(command)) | facts.names | {t for line in read for t in line.optional},
        tuple(sorted((path, effect(change, facts.digests)) for path, change in changes.items())),
        processes,
        asks_for_order(command),
        facts.paths | frozenset(changes),
        environment,
    )


def effect(change: Change | None, copies: frozenset[str]) -> Change | None:
    """A change as the semantic judge compares it: a new file's mtime counts when the file is a copy of
    one of the world's (cp -p keeps it, cp stamps now; a new archive's own time is incidental)."""
    if change is None or not change.stamp or change.digest in copies:
        return change
    return replace(change, stamp="")


def same_meaning(reference: Reading, prediction: Reading) -> bool:
    """Semantic equivalence; a run not read in full, or one that broke the harness, equals nothing."""
    if not (reference.complete and prediction.complete) or None in (reference.status, prediction.status):
        return False
    if (reference.changes, reference.processes, reference.environment) != (
        prediction.changes,
        prediction.processes,
        prediction.environment,
    ):
        return False
    effects = bool(reference.changes)  # the same effects: lines that only report them are presentation
    ref_lines, pred_lines = said(reference, effects), said(prediction, effects)
    ref_tokens = tuple(t for line in ref_lines for t in line)
    pred_tokens = tuple(t for line in pred_lines for t in line)
    if not same_tokens(ref_tokens, reference.extras, pred_tokens, prediction.extras, reference.ordered):
        return False
    if not same_grouping(ref_lines, pred_lines):
        return False
    if reference.status == prediction.status:
        return True
    return bool(ref_tokens) and {reference.status, prediction.status} == {0, 1}


def said(reading: Reading, effects: bool) -> list[tuple[str, ...]]:
    """The tokens a run's output says, line by line, less the lines that only report its effects (when it
    had some) and lines with no token."""
    kept = [line for line in reading.lines if not (effects and reports_known(line, reading.known))]
    return [line.tokens for line in kept if line.tokens]


def same_grouping(ref: list[tuple[str, ...]], pred: list[tuple[str, ...]]) -> bool:
    """The same values on the same lines, when both answers print one line per thing: `stat -c '%n %a'`
    with two files' modes swapped says the same words and numbers as the right answer, but beside the
    wrong names. Only the tokens both sides print count (one side's extras, labels and sizes in another
    unit are presentation), and only when both print as many lines of them: output laid out otherwise
    (`ls` in columns, `echo $(...)`, a total line) is compared as a bag of words alone."""
    ref, pred = in_units_of(ref, pred), in_units_of(pred, ref)
    common = {t for line in ref for t in line} & {t for line in pred for t in line}
    ref_groups = Counter(tuple(sorted(t for t in line if t in common)) for line in ref)
    pred_groups = Counter(tuple(sorted(t for t in line if t in common)) for line in pred)
    ref_groups.pop((), None)
    pred_groups.pop((), None)
    if ref_groups.total() != pred_groups.total() or ref_groups.total() < 2:
        return True
    return ref_groups == pred_groups


def in_units_of(lines: list[tuple[str, ...]], other: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`lines` with each plain number written as the other side's human-unit size it rounds to (`4` KiB
    blocks as `~4.0K`), so a size is grouped with its name whatever unit printed it."""
    human = {t for line in other for t in line if t.startswith("~")}
    if not human:
        return lines
    printed = {t for line in other for t in line}

    def unit(token: str) -> str:
        if token in printed or not NUMBER.match(token) or len(token) > MAX_SIZE_DIGITS:
            return token  # the other side says this very number (a 4-byte file beside a 4.0K directory)
        try:
            value = Decimal(token)
        except InvalidOperation:
            return token
        return next((f"~{h}" for u in (1, 1024) if f"~{(h := human_size(value * u))}" in human), token)

    return [tuple(unit(t) for t in line) for line in lines]


def reports_known(line: Line, known: frozenset[str]) -> bool:
    """Every path the line names is a path of the world or of the changes: as given, from the working
    directory, or below some other directory (`tar -C /tmp -xv` prints paths relative to /tmp)."""
    return line.reports is not None and all(is_known(path, known) for path in line.reports)


def is_known(path: str, known: frozenset[str]) -> bool:
    if absolute(path) in known:
        return True
    return not path.startswith(("/", "~")) and any(k.endswith("/" + path) for k in known)


def absolute(path: str) -> str:
    if path.startswith("/"):
        return path
    if path == "~" or path.startswith("~/"):
        return HOME + path[1:]
    return f"{CWD}/{path}" if path not in (".", "") else CWD


def same_tokens(
    ref: tuple[str, ...], ref_extras: frozenset[str], pred: tuple[str, ...], pred_extras: frozenset[str], ordered: bool
) -> bool:
    """The same content tokens, one side's own extras aside; in the same order when `ordered`."""
    if bool(ref) != bool(pred):
        return False
    ref_count, pred_count = Counter(ref), Counter(pred)
    only_ref, only_pred = ref_count - pred_count, pred_count - ref_count
    pair_sizes(only_ref, only_pred)
    pair_sizes(only_pred, only_ref)
    if any(t not in ref_extras and t.lower() not in LABELS for t in only_ref):
        return False
    if any(t not in pred_extras and t.lower() not in LABELS for t in only_pred):
        return False
    if other_names(only_ref, only_pred):
        return False  # each side names its own file: `stat -c '%s %n' a` and `... b` agree only on the size
    if not ordered:
        return True
    dropped = set(only_ref) | set(only_pred)
    return [t for t in ref if t not in dropped] == [t for t in pred if t not in dropped]


def names_a_thing(token: str) -> bool:
    """A path or file name (not a number, a size, a digest or a word ending a sentence): what one side may
    print beside its answer when it named it in its own command, but not in place of another name."""
    return (
        ("/" in token or "." in token.rstrip("."))
        and not NUMBER.match(token)
        and token[:1] not in "~#"
        and not token.endswith(".")
    )


def other_names(ref: Counter[str], pred: Counter[str]) -> bool:
    """Each side prints a file name the other does not, and they name different files: not `main.py`
    against `src/main.py` (one ran `cd src` first), but `run.sh` against `backup.sh`."""
    ref_names = {t.rsplit("/", 1)[-1] for t in ref if names_a_thing(t)}
    pred_names = {t.rsplit("/", 1)[-1] for t in pred if names_a_thing(t)}
    return bool(ref_names) and bool(pred_names) and not ref_names & pred_names


def pair_sizes(human: Counter[str], plain: Counter[str]) -> None:
    """Take out of both counters each human-unit size (`~48K`) and a plain number it rounds (48 KiB blocks
    from `du -k`, or bytes), as `du -h`/`ls -h` round: up, one decimal below 10."""
    for token in [t for t in human.elements() if t.startswith("~")]:
        for number in [t for t in plain.elements() if NUMBER.match(t) and len(t) <= MAX_SIZE_DIGITS]:
            value = Decimal(number)
            if any(f"~{human_size(value * unit)}" == token for unit in (1, 1024)):
                human[token] -= 1
                plain[number] -= 1
                break
    human += Counter()  # drop the zero counts
    plain += Counter()


def human_size(size: Decimal) -> str:
    """GNU's --human-readable: 1023 -> 1023, 1536 -> 1.5K, 49152 -> 48K (rounding up)."""
    if size < 1024:
        return format(size.normalize(), "f")
    for unit in "KMGTPE":
        size /= 1024
        if size < 10 and (tenths := math.ceil(size * 10)) < 100:
            return f"{tenths / 10:.1f}{unit}"
        if (whole := math.ceil(size)) < 1024:
            return f"{whole}{unit}"
    return f"{size}E"


# --- reading lines --------------------------------------------------------------------------------------


def read_lines(lines: list[str], command: str, now: frozenset[str] = frozenset()) -> list[Line]:
    """Each output line as canonical tokens, known presentation read away (see the module docstring)."""
    lines = [line for line in lines if not re.fullmatch(r"==> .* <==", line)]
    lines = strip_history_numbers(lines, command)
    lines = strip_numbering(lines)
    lines = strip_file_prefix(lines, command)
    diff = read_diff(lines)
    if diff is not None:
        return [Line(tokens) for tokens in diff]
    listed = any(any(p.match(line) for p in LONG_LISTINGS) for line in lines)
    held_by = [socket_of(line) for line in lines]  # once per line: an lsof line may look its port name up
    sockets = any(held_by)
    out = []
    for line, held in zip(lines, held_by, strict=True):
        if listed and LISTING_NOISE.match(line):
            continue
        if sockets and SOCKET_NOISE.match(line):
            continue
        if held is not None:
            out.append(Line(held))
            continue
        columns = listing_columns(line) if listed else None
        if columns is not None:
            name, optional = columns
            out.append(Line(tokens_of(name, now) + optional, (canonical_path(name),), optional))
            continue
        digest = hash_of(line)
        if digest is not None:
            out.append(Line((digest,)))
            continue
        verbose = verbose_paths(line)
        if verbose is not None:
            out.append(Line(verbose, verbose))
            continue
        out.append(Line(tokens_of(assignment_value(line), now), (canonical_path(line),)))
    return out


def strip_numbering(lines: list[str]) -> list[str]:
    """Drop cat -n / nl numbers (1, 2, 3... on every line that has one) and grep -n's `N:` (increasing, per
    file for grep -rn's `file:N:`)."""
    numbers = [NUMBERED.match(line) for line in lines]
    if len(lines) >= 2 and all(numbers):
        values = [int(m.group("n")) for m in numbers]  # type: ignore[union-attr]
        texts = [m.group("rest") for m in numbers]  # type: ignore[union-attr]
        if values == list(range(1, len(values) + 1)) and sum(t is not None for t in texts) * 2 >= len(texts):
            return [t or "" for t in texts]
    grep = [GREP_NUMBERED.match(line) for line in lines]
    if lines and all(grep) and increasing([int(m.group("n")) for m in grep]):  # type: ignore[union-attr]
        texts = [m.group("rest") for m in grep]  # type: ignore[union-attr]
        if len(lines) >= 2 or not texts[0][:1].isdigit():  # one `12:30 ...` line is a time, not a number
            return texts
    per_file = [GREP_FILE_NUMBERED.match(line) for line in lines]
    if lines and all(per_file):
        files: dict[str, list[int]] = {}
        for m in per_file:
            files.setdefault(m.group("file"), []).append(int(m.group("n")))  # type: ignore[union-attr]
        if all(increasing(v) for v in files.values()):
            return [f"{m.group('file')}:{m.group('rest')}" for m in per_file]  # type: ignore[union-attr]
    return lines


def strip_history_numbers(lines: list[str], command: str) -> list[str]:
    """`history`'s own numbers (`  12  git log`, `*` when edited) say where in the list an entry is: the
    entries are the answer (`history | grep x` against `grep x ~/.bash_history`). Only where history's lines
    reach the output as they are (filtered by grep, head, tail) and their numbers increase: not the counts of
    `history | ... | uniq -c`, nor `history | wc`."""
    last = stages(command)
    at = next((i for i, words in enumerate(last) if words[:1] == ["history"]), None)
    if at is None or any(words[:1] and words[0] not in LINE_FILTERS for words in last[at + 1 :]):
        return lines
    entries = [HISTORY_ENTRY.match(line) for line in lines]
    if lines and all(entries) and increasing([int(m.group("n")) for m in entries]):  # type: ignore[union-attr]
        return [m.group("rest") for m in entries]  # type: ignore[union-attr]
    return lines


def increasing(values: list[int]) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))


def strip_file_prefix(lines: list[str], command: str) -> list[str]:
    """Drop `name:` in front of every line when `name` is one of the command's own arguments, not a program
    (grep -H, file, stat %n: the file the command was asked about)."""
    if not lines:
        return lines
    programs = {words[0] for words in all_stages(command) if words}
    words = set(command_words(command)) - programs
    prefixes = [line.split(":", 1)[0] if ":" in line else None for line in lines]
    if all(p is not None and p in words for p in prefixes):
        return [line.split(":", 1)[1].strip() for line in lines]
    return lines


def read_diff(lines: list[str]) -> list[tuple[str, ...]] | None:
    """Removed and added lines of a normal or unified diff, marked with their side; None if not a diff."""
    if not lines:
        return None
    unified = any(line.startswith("--- ") for line in lines) and any(line.startswith("@@") for line in lines)
    normal = any(DIFF_NORMAL_HUNK.match(line) for line in lines) and all(
        DIFF_NORMAL_HUNK.match(line) or line[:2] in ("< ", "> ") or line == "---" or line[:1] in "<>" for line in lines
    )
    if not (unified or normal):
        return None
    out = []
    for line in lines:
        if unified and DIFF_UNIFIED_HEADER.match(line):
            continue
        if normal and (DIFF_NORMAL_HUNK.match(line) or line == "---"):
            continue
        side = {"<": "-", "-": "-", ">": "+", "+": "+"}.get(line[:1])
        if side is not None:
            out.append(tuple(f"{side}{t}" for t in tokens_of(line[1:])) or (side,))
    return out


def listing_columns(line: str) -> tuple[str, tuple[str, ...]] | None:
    """A long listing's name, and its size and mode as tokens the other answer may leave out (`ls -l` and
    `ls` list the same files) but may not contradict (`ls -lh f` and `stat -c '%s %n' f` agree on a size,
    `ls -l` and `stat -c %a` on a mode)."""
    for pattern in LONG_LISTINGS:
        match = pattern.match(line)
        if match:
            name = unescape_find(match.group("name").split(" -> ")[0])
            columns = match.groupdict()
            optional = tuple(
                canonical(value.replace(",", "")) for value in (columns.get("size"), columns.get("perms")) if value
            )
            return name, optional
    return None


def unescape_find(name: str) -> str:
    """find -ls writes a space as `\\ ` and other bytes as octal escapes."""
    if "\\" not in name:
        return name
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), name.encode()).replace(b"\\ ", b" ")
    return raw.decode("utf-8", errors="replace")


def socket_of(line: str) -> tuple[str, ...] | None:
    """A listening socket's line as (process id, port, LISTEN), whichever tool printed it; None otherwise."""
    for pattern in SOCKETS:
        match = pattern.match(line)
        if match:
            port = match.group("port")
            if not port.isdigit():  # lsof without -P names the port after /etc/services (`*:redis`)
                with contextlib.suppress(OSError):
                    port = str(socket.getservbyname(port, "tcp"))
            return (canonical(match.group("pid")), canonical(port), "LISTEN")
    return None


def hash_of(line: str) -> str | None:
    for pattern in HASH_LINES:
        match = pattern.match(line)
        if match:
            return hex_token(match.group("hex"))
    return None


def verbose_paths(line: str) -> tuple[str, ...] | None:
    for pattern in VERBOSE:
        match = pattern.match(line)
        if match:
            return tuple(canonical_path(v) for v in match.groupdict().values() if v)
    return None


def assignment_value(line: str) -> str:
    for pattern in ASSIGNMENT:
        match = pattern.match(line)
        if match:
            return match.group("value")
    return line


# --- tokens -----------------------------------------------------------------------------------------------


def tokens_of(line: str, now: frozenset[str] = frozenset()) -> tuple[str, ...]:
    line = canonical_dates(line, now)
    words = SEPARATORS.split(line)
    return tuple(canonical(t) for t in words if t and (t in (".", "..") or not PUNCTUATION.fullmatch(t)))


def canonical_dates(line: str, now: frozenset[str] = frozenset()) -> str:
    """Each date (and time) in a known layout becomes one token: `D2026-06-01T09:00` or `D2026-06-01`;
    a time in `now` (or masked as <now>) becomes `now`."""
    for pattern in DATE_LAYOUTS:
        line = pattern.sub(lambda match: date_token(match, now), line)
    return line


def date_token(match: re.Match[str], now: frozenset[str]) -> str:
    groups = match.groupdict()
    month = MONTHS[groups["mon"]] if groups.get("mon") else int(groups["month"])
    if not 1 <= month <= 12:
        return match.group(0)
    day = f"D{int(groups['year']):04d}-{month:02d}-{int(groups['day']):02d}"
    time = groups.get("time")
    if time:
        minute = "now" if time == "<now>" else f"{int(time.split(':')[0]):02d}:{time.split(':')[1]}"
        day += "T" + ("now" if minute == "now" or f"{day}T{minute}" in now else minute)
    return f" {day} "


def hex_token(digest: str) -> str:
    """A digest or object id by its first 7 hex digits: a full git id and its short form, or a checksum
    in upper and lower case, are one token."""
    return "#" + digest.lower()[:7]


def canonical(token: str) -> str:
    if MODE.fullmatch(token):
        return octal_mode(token)
    if NUMBER.match(token):
        try:
            return format(Decimal(token).normalize(), "f")
        except InvalidOperation:
            return token
    human = HUMAN.match(token)
    if human:
        return f"~{human.group('value')}{human.group('unit')}"
    if HEX.match(token):
        return hex_token(token)
    return canonical_path(token)


def octal_mode(perms: str) -> str:
    """`-rwxr-xr-x` as `755`, `-rwsr-xr-x` as `4755`: a mode reads the same in `ls -l`, `stat -c %A` and
    `stat -c %a` (the file type is left out: the path says what it is)."""
    bits, special = 0, 0
    for i, (who, char) in enumerate(zip((0o100, 0o10, 0o1), (perms[3], perms[6], perms[9]), strict=True)):
        triple = perms[1 + 3 * i : 4 + 3 * i]
        bits += (4 * who if triple[0] == "r" else 0) + (2 * who if triple[1] == "w" else 0)
        bits += who if char in "xst" else 0
        special += (0o4000, 0o2000, 0o1000)[i] if char in "sStT" else 0
    return format(bits + special, "o")  # as `stat -c %a` and `find -printf %m` print it: 0, 44, 755, 4755


def canonical_path(path: str) -> str:
    path = path.strip()
    if path.startswith(CWD + "/"):
        path = path[len(CWD) + 1 :]
    elif path.startswith(HOME + "/"):
        path = "~/" + path[len(HOME) + 1 :]
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/") if len(path) > 1 else path


# --- the commands ----------------------------------------------------------------------------------------


def command_words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=False)
    except ValueError:
        return command.split()


def argument_tokens(command: str) -> set[str]:
    """Tokens a command may print beside its answer: its file arguments (anything path-like)."""
    tokens = set()
    for word in command_words(command):
        if word.startswith("-") and len(word) > 1:
            continue
        for token in tokens_of(word):
            if "/" in token or "." in token or token == "-":
                tokens.add(token)
                tokens.add(canonical_path(token))
    return tokens


def stages(command: str) -> list[list[str]]:
    """The simple commands of the last pipeline of a command line, as words."""
    last = re.split(r"&&|\|\||;", command)[-1]
    return [command_words(part) for part in PIPE_STAGES.split(last) if part.strip()]


def all_stages(command: str) -> list[list[str]]:
    """Every simple command of a command line, as words."""
    return [command_words(part) for part in re.split(r"&&|\|\||;|\|", command) if part.strip()]


def asks_for_order(command: str) -> bool:
    """Does this command's output order carry meaning (see the module docstring)?"""
    pipeline = [words for words in stages(command) if words]
    if not pipeline:
        return False
    for words in pipeline:
        name, flags = words[0].rsplit("/", 1)[-1], set()
        for word in words[1:]:
            if word.startswith("-") and not word.startswith("--"):
                flags |= set(word[1:])
            elif word in ("--reverse", "--numeric-sort", "--human-numeric-sort", "--sort=size", "--sort=time"):
                flags.add("r" if word == "--reverse" else "n")
        if name == "tac" or (name in ORDER_FLAGS and flags & ORDER_FLAGS[name]):
            return True
    meaningful = [w for w in pipeline if w[0] not in ("head", "tail", "nl", "cat", "cut", "awk", "column")]
    return bool(meaningful) and meaningful[-1][0] == "sort" and pipeline[0][0] not in LISTINGS
