"""Dangerous-command scanner: one judge for training targets, generated commands and predictions.

`scan_command(cmd)` returns the most severe `Finding` (category, severity, reason, matched part) or None.
The line is parsed with bashlex (walk.py) into the simple commands it would run, obfuscation undone
(decode.py), containers that reach the host opened up (containers.py), and each command judged by the
rules that declared they read it (rules.py) against the paths and packages that matter (paths.py,
packages.py). Nothing is ever executed. docs/safety.md describes what it catches and what it misses;
evaluate.py and mutate.py measure it.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from shelltune.safety.findings import CATEGORIES, CRITICAL, HIGH, MEDIUM, Finding, finding, most_severe
from shelltune.safety.options import inert
from shelltune.safety.rules import rules_for
from shelltune.safety.walk import Context, collect

__all__ = ["CATEGORIES", "CRITICAL", "HIGH", "MEDIUM", "Finding", "scan_all", "scan_command", "scan_line"]


def scan_command(cmd: str) -> Finding | None:
    """Judge one shell command line; None means no dangerous action was found."""
    return most_severe(scan_all(cmd))


def scan_all(cmd: str) -> list[Finding]:
    """Every finding in the line, in the order its commands would run."""
    return list(scan_cached(cmd))


def scan_line(cmd: str) -> tuple[Finding, ...]:
    """Every finding in the line, computed afresh (no cache): what throughput measurements time."""
    ctx = collect(cmd, Context(judge=scan_command))
    found = [finding(category, reason, matched) for category, reason, matched in ctx.structural]
    for command in ctx.commands:
        if inert(command.name, command.args):
            continue  # help, version or a dry run: it only prints
        for rule in rules_for(command, ctx):
            result = rule(command, ctx)
            if result is not None:
                found.append(annotate(result, command.via))
    return tuple(found)


# Datasets repeat commands and the split, scan and predict paths judge the same lines more than once.
scan_cached = lru_cache(maxsize=4096)(scan_line)


def annotate(result: Finding, via: str) -> Finding:
    """The finding of a command reached through other code, saying how; code that runs later (a trap,
    a job for `at`) is planted, whatever it does."""
    if not via:
        return result
    category = "persistence" if "in a trap" in via or "scheduled by at" in via else result.category
    return replace(result, category=category, severity=CATEGORIES[category], reason=f"{result.reason} ({via})")
