"""Command extraction and each task metric on hand-made cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelltune.fileio import read_jsonl
from shelltune.metrics import aggregate, canonical, extract_command, is_command_only, parses, score, token_f1, utility


@pytest.mark.parametrize(
    "output,command",
    [
        ("ls -la", "ls -la"),
        ("  ls -la \n", "ls -la"),
        ("```bash\nfind . -name '*.py'\n```", "find . -name '*.py'"),
        ("Here is the command:\n```sh\ndu -sh logs\n```\nThis shows the size.", "du -sh logs"),
        ("You can use:\n$ df -h /", "df -h /"),
        ("`wc -l a.txt`", "wc -l a.txt"),
        ("Sure! To count lines, run:\nwc -l a.txt", "wc -l a.txt"),
        ("", ""),
    ],
)
def test_extract_command(output, command):
    assert extract_command(output) == command


@pytest.mark.parametrize(
    "output,command",
    [
        ("#!/bin/bash\n# list them\nls -la\n", "ls -la"),
        ("```bash\n# Usage\ngrep -c x a.txt", "grep -c x a.txt"),  # a block cut off by the token limit
        ("```python\nimport os\n```\n```bash\nwc -l a.py\n```", "wc -l a.py"),
        ("I'm ready to help. What kind of help do you need?", ""),
        ("I'm ready", ""),
        ("To count lines, you can use `wc -l a.txt` in a terminal.", "wc -l a.txt"),
        ("You can use the `-D` option.", ""),
        ("user@host:~$ df -h", "df -h"),
        ("```\n<!DOCTYPE html>\n```", ""),
        ("# refused: destroys every file on /dev/sda", "# refused: destroys every file on /dev/sda"),
        ("#!/bin/bash\n# refused: deletes your home", "# refused: deletes your home"),
    ],
)
def test_extract_command_from_chatty_answers(output, command):
    assert extract_command(output) == command


def test_extract_command_on_real_smollm2_base_answers():
    """Answers the SmolLM2-135M-Instruct base gave to test requests (4-bit, our system prompt), with the
    command a reader finds in each, or "" where there is none: shebangs, comments, unclosed fences, prose."""
    rows = read_jsonl(Path(__file__).parent / "data" / "smollm2_base_answers.jsonl")
    assert len(rows) >= 15
    assert [extract_command(r["output"]) for r in rows] == [r["command"] for r in rows]


def test_command_only():
    assert is_command_only("ls -la")
    assert not is_command_only("```\nls -la\n```")
    assert not is_command_only("ls -la\nThis lists files")
    assert not is_command_only("$ ls -la")
    assert not is_command_only("")


@pytest.mark.parametrize(
    "a,b,equal",
    [
        ("ls -la /tmp", "ls -al /tmp", True),
        ("ls -la /tmp", "ls -l -a /tmp", True),
        ("grep 'x y' f", 'grep "x y" f', True),
        ("ls  -la   /tmp", "ls -la /tmp", True),
        ("tar -czf a.tgz d", "tar -zcf a.tgz d", True),
        ("head -n 5 f", "head -n 6 f", False),
        ("ls -la /tmp", "ls -la /var", False),
        ("sort f | uniq -c", "sort f | uniq", False),
    ],
)
def test_canonical_equivalence(a, b, equal):
    assert (canonical(a) == canonical(b)) is equal


def test_utility_unwraps_wrappers():
    assert utility("sudo apt-get install -y jq") == "apt-get"
    assert utility("env X=1 /usr/bin/python3 x.py") == "python3"
    assert utility("cat f | grep x") == "cat"
    assert utility("") == ""


def test_token_f1():
    assert token_f1("ls -la /tmp", "ls -la /tmp") == 1.0
    assert token_f1("ls /tmp", "ls -la /tmp") == pytest.approx(0.8)
    assert token_f1("pwd", "ls") == 0.0
    assert token_f1("", "ls") == 0.0


def test_parses():
    assert parses("find . -name '*.py' | xargs wc -l")
    assert not parses("echo 'unclosed")
    assert not parses("")


def test_score_and_aggregate():
    exact = score("ls -la /tmp", "ls -la /tmp")
    assert exact == {
        "exact_match": 1.0,
        "normalized_match": 1.0,
        "command_name_accuracy": 1.0,
        "token_f1": 1.0,
        "command_only": 1.0,
        "parse_rate": 1.0,
    }
    fenced = score("```\nls -al /tmp\n```", "ls -la /tmp")
    assert fenced["exact_match"] == 0.0 and fenced["normalized_match"] == 1.0 and fenced["command_only"] == 0.0
    wrong = score("pwd", "ls -la /tmp")
    assert wrong["command_name_accuracy"] == 0.0 and wrong["token_f1"] == 0.0
    assert aggregate([exact, fenced, wrong])["normalized_match"] == pytest.approx(0.6667)
    assert aggregate([])["exact_match"] == 0.0
