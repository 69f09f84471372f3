"""What a command does to files: what it writes, removes, empties or overwrites, and where its input
comes from. Shared by every rule module (rules.py, system.py) so they all read a command the same way.
"""

from __future__ import annotations

import re

from shelltune.safety.shellwords import long_flags, operands, option_value, short_flags, short_option_value
from shelltune.safety.walk import Command, Context, input_of, output


def writes(cmd: Command) -> list[tuple[str, str]]:
    """(path, verb) for every file this command writes or replaces (computed once per command)."""
    cached = cmd.__dict__.get("_writes")
    if cached is None:
        cached = cmd.__dict__["_writes"] = find_writes(cmd)
    return cached


# Programs that write the files they are given (beyond redirections, which any program has).
WRITERS = frozenset({"tee", "cp", "mv", "install", "ln", "dd", "truncate", "sed", "perl", "sort", "tar"})
REMOVERS = frozenset({"rm", "shred", "unlink", "srm"})


def find_writes(cmd: Command) -> list[tuple[str, str]]:
    found = [
        (target, "appends to" if op == ">>" else "overwrites")
        for op, target in cmd.redirects
        if op in (">", ">>", ">|", "&>", ">&") and not target.startswith("&")
    ]
    name, ops = cmd.name, operands(cmd.args)
    if name == "tee":
        found += [(t, "writes to") for t in ops if t != "-"]
    elif name in ("cp", "mv", "install", "ln") and len(ops) >= 2:
        found.append((ops[-1], "replaces"))
    elif name == "dd":
        found += [(w[3:], "overwrites") for w in cmd.args if w.startswith("of=")]
    elif name == "truncate":
        found += [(t, "empties") for t in operands(cmd.args, frozenset({"-s", "--size", "-r", "--reference"}))]
    elif name in ("sed", "perl") and ("i" in short_flags(cmd.args) or "--in-place" in long_flags(cmd.args)):
        found += [(t, "edits") for t in edited_files(cmd)]
    elif name == "sort":
        out = option_value(cmd.args, "-o", "--output")
        # `sort -u -o f f` keeps the lines it sorts; only another input (or /dev/null) replaces them
        found += [(out, "overwrites")] if out and out not in sort_inputs(cmd) else []
    elif name == "tar" and tar_creates(cmd.args):
        archive = option_value(cmd.args, "--file") or short_option_value(cmd.args, "f", TAR_VALUE_LETTERS)
        if re.fullmatch(r"[A-Za-z]*f[A-Za-z]*", cmd.args[0]) and len(cmd.args) > 1:
            archive = cmd.args[1]  # the old style, `tar cf ARCHIVE DIR`
        tape = archive is not None and re.match(r"^/dev/(n?st\d|rmt)", archive) is not None  # backups go to tape
        found += [(archive, "overwrites")] if archive and archive != "-" and not tape else []
    return found


def edited_files(cmd: Command) -> list[str]:
    files = operands(cmd.args, frozenset({"-e", "-f"}))
    return files if "-e" in cmd.args or cmd.name == "perl" else files[1:]


# tar's single-letter options that take a value, so `-cf ARCHIVE` and `-C DIR -cf ARCHIVE` read right.
TAR_VALUE_LETTERS = "fCTXbgHKLNV"


def tar_creates(args: list[str]) -> bool:
    """Whether tar writes an archive (create, append, update, concatenate), in any option style (`cf`,
    `-cf`, `--create`)."""
    first = args[0] if args else ""
    letters = first.lstrip("-") if re.fullmatch(r"-?[A-Za-z]+", first) else ""
    letters += "".join(a[1:] for a in args[1:] if re.fullmatch(r"-[A-Za-z]+", a))
    modes = {"--create", "--append", "--update", "--concatenate", "--catenate"}
    return bool(set("cruA") & set(letters)) or bool(modes & set(long_flags(args)))


def written_text(cmd: Command) -> str | None:
    """The text this command writes into files, when it can be known."""
    data = input_of(cmd).text if cmd.name in ("tee", "crontab") else output(cmd).text
    return data.decode("utf-8", "replace") if data is not None else None


def removes(cmd: Command) -> list[str]:
    """Files this command deletes: a remover's operands, and what `mv` throws into /dev/null."""
    if cmd.name in REMOVERS:
        return operands(cmd.args, frozenset({"-n", "--iterations", "-s", "--size"}))
    if cmd.name == "mv" and operands(cmd.args)[-1:] == ["/dev/null"]:
        return moved_away(cmd)
    return []


def is_recursive(cmd: Command) -> bool:
    return bool({"r", "R"} & short_flags(cmd.args)) or "--recursive" in long_flags(cmd.args) or cmd.recursive


ERASING_SOURCES = frozenset({"if=/dev/zero", "if=/dev/urandom", "if=/dev/random", "if=/dev/null"})
# A sed script that deletes every line: `d`, `1,$d`, `/.*/d`, `/^/d`.
SED_DELETE_ALL = re.compile(r"^\s*(1\s*,\s*\$\s*|/(\.\*|\^|\$|)/\s*)?d\s*;?\s*$")


def emptied(cmd: Command) -> list[str]:
    """Files this command leaves empty or overwritten with nothing of their own: `> f`, `: > f`,
    `cat /dev/null > f`, `truncate`, `cp /dev/null f`, `dd if=/dev/zero of=f`, `sed -i d f`, `sort -o f
    /dev/null`, `tee f </dev/null`. Writing new content (`echo KEY > f`) is configuring a file, not erasing
    it. Computed once per command: several rules ask."""
    cached = cmd.__dict__.get("_emptied")
    if cached is None:
        cached = cmd.__dict__["_emptied"] = find_emptied(cmd)
    return cached


def find_emptied(cmd: Command) -> list[str]:
    found = [t for t, verb in writes(cmd) if verb == "empties"]
    redirected = [t for op, t in cmd.redirects if op in (">", ">|", "&>") and not t.startswith("&")]
    if redirected and (
        not cmd.words or output(cmd).text == b"" or (cmd.name == "cat" and operands(cmd.args) == ["/dev/null"])
    ):
        found += redirected
    ops = operands(cmd.args)
    if cmd.name in ("cp", "mv", "ln", "install") and len(ops) >= 2 and ops[0] == "/dev/null":
        found.append(ops[-1])
    if cmd.name == "dd" and ERASING_SOURCES & set(cmd.args):
        found += [w[3:] for w in cmd.args if w.startswith("of=")]
    if cmd.name == "sed" and any(verb == "edits" for _, verb in writes(cmd)) and deletes_every_line(cmd):
        found += edited_files(cmd)
    if cmd.name in ("sort", "tee") and reads_nothing(cmd):
        found += [t for t, _ in writes(cmd) if t not in redirected]
    return found


def deletes_every_line(cmd: Command) -> bool:
    scripts = [cmd.args[i + 1] for i, a in enumerate(cmd.args[:-1]) if a in ("-e", "--expression")]
    if not scripts:
        files = operands(cmd.args, frozenset({"-f"}))
        scripts = files[:1]
    return bool(scripts) and any(SED_DELETE_ALL.match(s) for s in scripts)


def reads_nothing(cmd: Command) -> bool:
    """`sort -o f /dev/null`, `tee f < /dev/null`, `: | tee f`: the input is empty, so what is written is."""
    if cmd.name == "sort":
        inputs = sort_inputs(cmd)
        if inputs:
            return all(i == "/dev/null" for i in inputs)
    if any(op == "<" and t == "/dev/null" for op, t in cmd.redirects):
        return True
    source = input_of(cmd)
    return source.text == b"" or (cmd.upstream is not None and cmd.upstream.name in (":", "true"))


def sort_inputs(cmd: Command) -> list[str]:
    return operands(cmd.args, frozenset({"-o", "--output", "-k", "--key", "-t", "--field-separator", "-S", "-T"}))


def moved_away(cmd: Command) -> list[str]:
    """What `mv` takes from its place: its sources (only the last operand is the destination)."""
    ops = operands(cmd.args, frozenset({"-t", "--target-directory", "-S", "--suffix"}))
    return ops[:-1] if cmd.name == "mv" and len(ops) >= 2 else []


def fed_stdin(cmd: Command) -> bool:
    """Whether the command's stdin is scripted (a pipe, a here-document or a file) instead of a person."""
    return cmd.upstream is not None or cmd.stdin_text is not None or any(op == "<" for op, _ in cmd.redirects)


def from_network(cmd: Command, ctx: Context) -> bool:
    """Whether what this command writes came from the network: piped from a download, or a file
    downloaded earlier on the line."""
    if output(cmd).kind == "download" or input_of(cmd).kind == "download":
        return True
    return any(o.removeprefix("./") in ctx.downloaded for o in operands(cmd.args))


def erased_by_writing(cmd: Command) -> list[str]:
    """Files whose contents this command destroys: overwritten, emptied or edited in place, or replaced
    by /dev/null. Copying or moving something *into* a path (`cp -r a /var/log`) erases nothing."""
    erased = [t for t, verb in writes(cmd) if verb in ("overwrites", "empties", "edits")]
    ops = operands(cmd.args)
    if cmd.name in ("cp", "mv", "ln", "install") and len(ops) >= 2 and ops[0] == "/dev/null":
        erased.append(ops[-1])
    return erased
