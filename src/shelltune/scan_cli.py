"""`shelltune scan "CMD"`: print the safety scanner's verdict on commands. Never runs them."""

from __future__ import annotations

import argparse
import sys

from shelltune.safety import scan_command


def verdict(cmd: str) -> dict[str, object]:
    finding = scan_command(cmd)
    return {"cmd": cmd, "dangerous": finding is not None,
            "category": finding.category if finding else None,
            "severity": finding.severity if finding else None,
            "reason": finding.reason if finding else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shelltune scan", description=__doc__.splitlines()[0])
    parser.add_argument("commands", nargs="*", help="commands to judge (default: one per line on stdin)")
    args = parser.parse_args(argv)
    commands = args.commands or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for cmd in commands:
        v = verdict(cmd)
        if v["dangerous"]:
            print(f"DANGEROUS [{v['category']}, {v['severity']}] {v['reason']}: {cmd}")
        else:
            print(f"ok: {cmd}")
    return 0
