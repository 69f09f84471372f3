"""What a command does to files: what it writes, removes, empties or overwrites, and where its input
comes from. Shared by every rule module (rules.py, system.py) so they all read a command the same way.
"""

from __future__ import annotations

from shelltune.safety.shellwords import long_flags, operands, short_flags
from shelltune.safety.walk import Command, Context, input_of, output


def writes(cmd: Command) -> list[tuple[str, str]]:
    """(path, verb) for every file this command writes or replaces (computed once per command)."""
    cached = cmd.__dict__.get("_writes")
    if cached is None:
        cached = cmd.__dict__["_writes"] = find_writes(cmd)
    return cached


# Programs that write the files they are given (beyond redirections, which any program has).
WRITERS = frozenset({"tee", "cp", "mv", "install", "ln", "dd", "truncate", "sed", "perl"})
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
        files = operands(cmd.args, frozenset({"-e", "-f"}))
        found += [(t, "edits") for t in (files if "-e" in cmd.args or name == "perl" else files[1:])]
    return found


def written_text(cmd: Command) -> str | None:
    """The text this command writes into files, when it can be known."""
    data = input_of(cmd).text if cmd.name in ("tee", "crontab") else output(cmd).text
    return data.decode("utf-8", "replace") if data is not None else None


def removes(cmd: Command) -> list[str]:
    if cmd.name in REMOVERS:
        return operands(cmd.args, frozenset({"-n", "--iterations", "-s", "--size"}))
    return []


def is_recursive(cmd: Command) -> bool:
    return bool({"r", "R"} & short_flags(cmd.args)) or "--recursive" in long_flags(cmd.args) or cmd.recursive


ERASING_SOURCES = frozenset({"if=/dev/zero", "if=/dev/urandom", "if=/dev/random"})


def emptied(cmd: Command) -> list[str]:
    """Files this command leaves empty or overwritten with nothing of their own: `> f`, `: > f`,
    `cat /dev/null > f`, `truncate`, `cp /dev/null f`, `dd if=/dev/zero of=f`. Writing new content
    (`echo KEY > f`) is configuring a file, not erasing it."""
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
    return found


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
