"""What the scanner knows about programs that run code: shells, interpreters and downloaders.

One place for these names, because the walk (which code a command runs), the rules (what that code
does) and the rule index (which rules a command can trigger) must agree on them.
"""

from __future__ import annotations

import re

# `$SHELL` stays a word when the line does not set it: it names the user's shell all the same.
SHELLS = frozenset(
    {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "$SHELL", "${SHELL}", "$BASH"}
)
# Python is matched by PYTHON (python, python3, python3.12, ...), the others by name.
INTERPRETERS = frozenset({"perl", "ruby", "php", "node", "nodejs", "lua"})
PYTHON = re.compile(r"python(\d(\.\d+)?)?")
# The option letters after which each interpreter family reads a program text (`python -c CODE`).
CODE_FLAGS = {"python": "c", "perl": "eE", "ruby": "e", "php": "r", "node": "ep", "lua": "e"}
AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "lwp-request", "GET", "http", "https", "xh", "curlie"})


def is_python(name: str) -> bool:
    return PYTHON.fullmatch(name) is not None


def is_interpreter(name: str) -> bool:
    """A scripting language runtime that takes code on its command line or stdin."""
    return name in INTERPRETERS or is_python(name)


def interpreter_family(name: str) -> str:
    """`python3.12` -> `python`, `perl5.36` -> `perl`: the key into CODE_FLAGS."""
    if is_python(name):
        return "python"
    return "node" if name == "nodejs" else re.sub(r"\d.*$", "", name) or name
