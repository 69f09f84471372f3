"""Adversarial trees through the execute stage itself: a seeded generator of commands that leave odd
names, deep and wide trees, sparse, huge and many files, special files and locked directories, run as
predictions and as references by `python -m shelltune.stages.execute`. Every run must end with a verdict
within its limits, the stage must finish and write its outputs, and the host must be as it was."""

from __future__ import annotations

import copy
import json
import os
import random
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from shelltune.sandbox.uids import is_sandbox_uid

from conftest import run_module, write_jsonl

LIMIT_NAMES = {None, "tree", "harness_error", "file_size", "output", "wall_clock", "cpu", "memory", "killed"}
LIMIT_NAMES |= {"processes", "open_files"}


def odd_name(rng: random.Random) -> str:
    """A file name of any bytes but NUL and '/', as a bash $'...' word."""
    size = rng.choice([1, 2, 8, 64, 255])
    data = bytes(rng.choice([b for b in range(1, 256) if b != 0x2F]) for _ in range(size))
    if data in (b".", b".."):
        data = b"x" + data
    return "$'" + "".join(f"\\x{b:02x}" for b in data) + "'"


def piece(rng: random.Random) -> str:
    kind = rng.choice(
        ["names", "depth", "sparse", "huge", "many", "special", "locked", "long", "links", "git", "modes", "wide"]
    )
    if kind == "names":
        return "touch " + " ".join(odd_name(rng) for _ in range(rng.randint(1, 6)))
    if kind == "depth":
        return f"mkdir -p $(printf 'd/%.0s' {{1..{rng.choice([20, 127, 200, 1500])}}})"
    if kind == "sparse":
        return f"truncate -s {rng.choice([1, 64, 512])}M s{{1..{rng.choice([10, 300, 1500])}}}"
    if kind == "huge":
        return f"head -c {rng.choice([8, 40, 200])}M /dev/urandom > big.bin"
    if kind == "many":
        rounds = rng.choice([5, 40, 200])
        return f"mkdir -p many && (cd many && for i in $(seq {rounds}); do touch f$i-{{1..500}}; done)"
    if kind == "special":
        return (
            "mkfifo pipe; ln -s . loop; ln -s /etc/shadow shadow; ln -s loop/loop/loop l3; ln -s missing dangling; "
            "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('sock')\""
        )
    if kind == "locked":
        return "mkdir -p locked/in/deeper && touch locked/in/f && chmod 000 locked/in locked && chmod 0 ~/.bashrc"
    if kind == "long":
        return f"(for i in $(seq {rng.choice([5, 20])}); do mkdir {'y' * 250} && cd {'y' * 250}; done; echo x > f)"
    if kind == "links":
        return "touch h && for i in $(seq 300); do ln h h$i; done"
    if kind == "git":
        return (
            "mkdir -p g/.git/logs && printf 'DIRC\\0\\0\\0\\2\\x7f\\xff\\xff\\xff' > g/.git/index && "
            "truncate -s 60M g/.git/index && yes 'aaaa bbbb crafted' | head -c 30M > g/.git/logs/HEAD"
        )
    if kind == "modes":
        return "touch su sg st && chmod 4755 su && chmod 2755 sg && mkdir sticky && chmod 1777 sticky"
    return f"mkdir wide && (cd wide && mkdir d{{1..{rng.choice([100, 2000])}}})"


def adversarial_commands(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["; ".join(piece(rng) for _ in range(rng.randint(1, 3))) + "; echo done" for _ in range(count)]


def host_state() -> dict[str, object]:
    scratch = sorted(n for n in os.listdir(tempfile.gettempdir()) if n.startswith("shelltune-"))
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if "shelltune" in line]
    return {"scratch": scratch, "mounts": mounts, "sandbox_processes": sandbox_processes()}


def sandbox_processes() -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration):
            continue
        if is_sandbox_uid(uid):
            found.append(int(status.parent.name))
    return found


def test_the_generator_covers_every_kind():
    joined = " ".join(adversarial_commands(24, 40))
    for sign in ("$'\\x", "printf 'd/", "truncate", "/dev/urandom", "mkfifo", "chmod 000", "y" * 250, "ln h", "DIRC"):
        assert sign in joined, sign


@pytest.mark.slow
def test_adversarial_trees_through_the_stage(tmp_path, repo_params_raw):
    commands = adversarial_commands(24, 14)
    rows = [(f"adversarial prediction {i}", "ls docs", command) for i, command in enumerate(commands[:10])]
    rows += [(f"adversarial reference {i}", command, "ls docs") for i, command in enumerate(commands[10:])]
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"].update(processed=str(tmp_path / "processed"), reports=str(tmp_path / "reports"))
    raw["execute"]["workers"] = 2
    raw["validate"]["extra_sets"] = []  # the test split's rows alone
    raw["execute"]["judge_pairs"] = None  # the judge's self-check: tests/test_judge.py
    raw["execute"]["limits"].update(wall_s=5, file_size_mb=64, disk_mb=256, tree_entries=20000)
    (tmp_path / "processed").mkdir()
    (tmp_path / "reports").mkdir()
    write_jsonl(
        tmp_path / "processed" / "test.jsonl",
        [{"id": f"t{i}", "instruction": r[0], "command": r[1], "source": "t"} for i, r in enumerate(rows)],
    )
    write_jsonl(
        tmp_path / "reports" / "predictions.jsonl",
        [
            {"id": f"t{i}", "instruction": r[0], "gold": r[1], "base_command": r[2], "tuned_command": r[2]}
            for i, r in enumerate(rows)
        ],
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    before = host_state()
    started = time.monotonic()
    result = run_module("shelltune.stages.execute", "--params", str(tmp_path / "params.yaml"))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    deadline = time.monotonic() + 5
    while host_state() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host_state() == before
    metrics = json.loads((tmp_path / "reports" / "execute.json").read_text())
    lines = (tmp_path / "reports" / "executions.jsonl").read_text().splitlines()
    assert metrics["rows"] == len(rows) == len(lines)
    for line in lines:
        assert len(line) < 100_000 and "\x1b" not in line
        verdict = json.loads(line)
        if verdict["executed"]:
            run = verdict["tuned"]["run"]
            assert run["limit"] in LIMIT_NAMES and (run["status"] is not None or run["limit"]), run
        else:
            assert verdict["skip_reason"] and verdict["skip_detail"] is not None
    # a bounded cost: every run ends by its wall clock, and reading a tree costs a bounded time
    runs = json.loads((tmp_path / "reports" / "runtime" / "execute.json").read_text())["test"]["runs"]
    assert elapsed < 60 + runs * (raw["execute"]["limits"]["wall_s"] + 5), elapsed
