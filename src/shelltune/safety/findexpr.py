"""`find` expressions read for what they select: does a test narrow the tree, or still match everything?

`find ~ -name '*.pyc' -delete` deletes what a filter selected; `find ~ -mtime -100000 -delete`,
`find / -perm -0 -delete`, `find ~ -not -name .keep -delete` and `find ~ \\( -name x -o -true \\) -delete`
have filters too, and delete everything. A test narrows only when its value selects a part of the tree;
a negated test does not narrow, and alternatives (`-o`) narrow only when every alternative does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EXEC_ACTIONS = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
NAME_TESTS = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-lname", "-ilname"})
AGE_TESTS = {"-mtime": 3650, "-atime": 3650, "-ctime": 3650, "-mmin": 5_000_000, "-amin": 5_000_000,
             "-cmin": 5_000_000}  # fmt: skip
OWNER_TESTS = frozenset({"-user", "-uid", "-group", "-gid"})
# Tests that select a part of the tree whatever their value (a named file, an inode, emptiness).
ALWAYS_NARROW = frozenset(
    {"-newer", "-anewer", "-cnewer", "-empty", "-inum", "-samefile", "-used", "-nouser", "-nogroup", "-links",
     "-regex", "-iregex", "-size", "-perm", "-newermt", "-newerct", "-newerat", "-newerBt"}
    | NAME_TESTS | OWNER_TESTS | set(AGE_TESTS)
)  # fmt: skip
TAKES_VALUE = ALWAYS_NARROW - {"-empty", "-nouser", "-nogroup"} | {
    "-type", "-xtype", "-maxdepth", "-mindepth", "-fstype", "-printf", "-fprint", "-fprintf", "-context",
}  # fmt: skip
MATCH_ALL_NAMES = frozenset({"*", "**", "*/*", "/*"})
MATCH_ALL_REGEX = re.compile(r"\^?(\.\*)+\$?")
YOU = re.compile(r"\$\{?(USER|LOGNAME|UID|EUID)\}?|\$\(\s*(whoami|id -u(n)?)\s*\)|`(whoami|id -un?)`|root|0")


@dataclass
class FindSpec:
    roots: list[str]
    narrowed: bool
    deletes: bool
    execs: list[list[str]]
    names: list[str] = field(default_factory=list)  # the -name / -iname patterns


def parse_find(words: list[str]) -> FindSpec:
    """Roots, whether the expression narrows the tree, `-delete`, the `-exec` commands and `-name`s."""
    args = words[1:]
    i = 0
    while i < len(args) and args[i] in ("-H", "-L", "-P"):
        i += 1
    roots = []
    while i < len(args) and not args[i].startswith(("-", "(", "!", "\\(")):
        roots.append(args[i])
        i += 1
    execs, deletes, names = [], False, []
    alternatives: list[bool] = [False]
    negated = False
    while i < len(args):
        arg = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if arg in EXEC_ACTIONS:
            end = next((j for j in range(i + 1, len(args)) if args[j] in (";", "+", "\\;")), len(args))
            execs.append(args[i + 1 : end])
            i = end + 1
            continue
        if arg in ("-o", "-or"):
            alternatives.append(False)
        elif arg in ("!", "-not", "\\!"):
            negated = True
            i += 1
            continue
        elif arg in ALWAYS_NARROW and not negated and narrows(arg, value):
            alternatives[-1] = True
        deletes |= arg == "-delete"
        if arg in ("-name", "-iname") and value:
            names.append(value)
        negated = False
        i += 2 if arg in TAKES_VALUE else 1
    return FindSpec(roots or ["."], all(alternatives), deletes, execs, names)


def narrows(test: str, value: str) -> bool:
    """Whether `test value` leaves out a real part of a tree (not: `-name '*'`, `-mtime -100000`,
    `-newermt 1970-01-01`, `-perm -0`, `-size +0`, `-user $USER`, `-regex '.*'`)."""
    if test in NAME_TESTS:
        return value not in MATCH_ALL_NAMES
    if test in ("-regex", "-iregex"):
        return MATCH_ALL_REGEX.fullmatch(value) is None
    if test in AGE_TESTS:
        number = re.fullmatch(r"([-+]?)(\d+)", value)
        if number is None:
            return True
        sign, amount = number.group(1), int(number.group(2))
        return not ((sign == "-" and amount >= AGE_TESTS[test]) or (sign == "+" and amount == 0))
    if test.startswith("-newer") and test[-1] in "mt" or test in ("-newerct", "-newerat", "-newerBt"):
        year = re.match(r"@?(\d{1,4})", value)
        return not (value.startswith("@") or (year is not None and int(year.group(1)) < 1990))
    if test == "-perm":
        return re.fullmatch(r"[-/]0+", value) is None
    if test in ("-size", "-links"):
        return re.fullmatch(r"\+0[bcwkMG]?", value) is None
    if test in OWNER_TESTS:
        return YOU.fullmatch(value) is None
    return True
