"""Each rule declares the commands it reads, and the index built from those declarations is complete."""

from __future__ import annotations

import json

from conftest import ROOT
from shelltune.safety import scan_command
from shelltune.safety.rules import RULES, rules_for
from shelltune.safety.walk import Context, collect


def corpus_and_dataset() -> list[str]:
    corpus = [json.loads(line)["cmd"] for line in (ROOT / "tests/data/safety_corpus.jsonl").open()]
    dataset = [json.loads(line)["command"] for line in (ROOT / "data/raw/shelltune_nl2bash.jsonl").open()]
    return list(dict.fromkeys(corpus + dataset))


def test_no_rule_fires_on_a_command_it_did_not_declare():
    # Run every rule on every command, declared or not: a finding from an undeclared rule means the
    # index would have hidden it from the scanner.
    undeclared, checked = [], 0
    for line in corpus_and_dataset():
        ctx = collect(line, Context(judge=scan_command))
        for command in ctx.commands:
            chosen = rules_for(command, ctx)
            for rule in RULES:
                if rule not in chosen:
                    checked += 1
                    if rule(command, ctx) is not None:
                        undeclared.append((rule.judge.__name__, command.name, line))
    assert checked > 50_000
    assert not undeclared, undeclared[:10]


def test_plain_commands_meet_no_rule():
    ctx = collect("ls -la | grep x; git status")
    assert all(rules_for(c, ctx) == () for c in ctx.commands)
    assert [r.judge.__name__ for r in rules_for(collect("mkfs.ext4 /dev/sdb").commands[0], Context())] == \
        ["rule_disk_wipe"]
