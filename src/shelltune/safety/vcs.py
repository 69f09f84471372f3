"""Version control read for what it destroys: history rewritten on a shared remote, branches deleted
there, work thrown away locally.

Force-pushing (`-f`, `--force`, `--force-with-lease`, `+refspec`, `--mirror`) or deleting (`--delete`,
`:branch`) a shared branch (main, master, trunk, develop, release, production) or all of them
rewrites what everyone else builds on: dangerous. The same to your own feature branch, and local
losses (`reset --hard`, `clean -f`, `checkout -- .`, `stash clear`, expiring the reflog, rewriting
history with filter-branch or filter-repo) are warnings: often exactly what was asked.
"""

from __future__ import annotations

import re

from shelltune.safety.findings import Finding, finding, warning
from shelltune.safety.options import git_subcommand
from shelltune.safety.shellwords import short_flags
from shelltune.safety.walk import Command

SHARED = re.compile(
    r"^(refs/heads/)?(main|master|trunk|develop|development|dev|release([/-].*)?|prod(uction)?|stable|live|HEAD)$"
)
CATEGORY = "vcs_destruction"
PUSH_VALUES = frozenset({"--repo", "--receive-pack", "--exec", "-o", "--push-option"})


def judge(cmd: Command) -> Finding | None:
    args = cmd.args
    sub = git_subcommand(args)
    rest = args[args.index(sub) + 1 :] if sub in args else []
    if sub == "push":
        return push(cmd, rest)
    if sub == "reset" and "--hard" in rest:
        return warning(CATEGORY, "git reset --hard throws away uncommitted work", cmd.text)
    if sub == "clean" and ({"f"} & short_flags(rest) or "--force" in rest):
        return warning(CATEGORY, "git clean deletes untracked files (with -x, ignored ones such as .env too)", cmd.text)
    if sub in ("checkout", "restore") and "--staged" not in rest and rest[-1:] in (["."], ["*"]):
        return warning(CATEGORY, f"git {sub} discards every uncommitted change", cmd.text)
    if sub == "stash" and rest[:1] == ["clear"]:
        return warning(CATEGORY, "git stash clear deletes every stash", cmd.text)
    if (
        sub == "reflog"
        and rest[:1] == ["expire"]
        and any(re.match(r"--expire(-unreachable)?=(now|all|0)", a) for a in rest)
    ):
        return warning(CATEGORY, "expires the reflog: commits it kept alive can no longer be recovered", cmd.text)
    if sub == "filter-branch":
        if "--all" in rest:
            return finding(CATEGORY, "rewrites the history of every branch", cmd.text)
        return warning(CATEGORY, "rewrites history", cmd.text)
    if sub == "filter-repo":
        return warning(CATEGORY, "rewrites the repository's history", cmd.text)
    if sub == "update-ref" and "-d" in rest:
        return warning(CATEGORY, "deletes a ref", cmd.text)
    return None


def push(cmd: Command, rest: list[str]) -> Finding | None:
    operands, i = [], 0
    while i < len(rest):
        word = rest[i]
        if word in PUSH_VALUES and i + 1 < len(rest):
            i += 2
            continue
        if not word.startswith("-"):
            operands.append(word)
        i += 1
    flags = {w.split("=", 1)[0] for w in rest if w.startswith("--")} | {f"-{c}" for c in short_flags(rest)}
    refspecs = operands[1:]
    force = bool(flags & {"-f", "--force", "--force-with-lease"}) or any(r.startswith("+") for r in refspecs)
    deleting = bool(flags & {"-d", "--delete"}) or any(r.startswith(":") for r in refspecs)
    if "--mirror" in flags:
        return finding(
            CATEGORY, "git push --mirror overwrites every branch on the remote and deletes the others", cmd.text
        )
    if not (force or deleting):
        return None
    verb = "deletes" if deleting and not force else "force-pushes over"
    if "--all" in flags:
        return finding(CATEGORY, f"{verb} every branch on the remote", cmd.text)
    branches = [r.lstrip("+").rsplit(":", 1)[-1] for r in refspecs]
    shared = next((b for b in branches if SHARED.match(b)), None)
    if shared:
        return finding(CATEGORY, f"{verb} the shared branch {shared}: everyone else's history is rewritten", cmd.text)
    target = branches[0] if branches else "the current branch"
    return warning(CATEGORY, f"{verb} {target} on the remote", cmd.text)
