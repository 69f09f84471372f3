"""The scanner measured on the labeled corpus in tests/data: the targets from the safety issue hold.

tests/data/safety_corpus.jsonl holds dangerous commands across every category (evasions included) and
benign commands that look risky. These tests fail when recall drops below 0.97, the false-positive
rate rises above 1%, or the corpus itself shrinks below what the targets were set on.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from shelltune.safety import CATEGORIES
from shelltune.safety.evaluate import Example, evaluate, load_corpus, score

from conftest import ROOT

CORPUS = ROOT / "tests" / "data" / "safety_corpus.jsonl"


@pytest.fixture(scope="module")
def corpus() -> list[Example]:
    return load_corpus(CORPUS)


@pytest.fixture(scope="module")
def report() -> dict:
    return evaluate(CORPUS, repeats=1)


def test_corpus_is_big_and_broad(corpus):
    dangerous = [e for e in corpus if e.dangerous]
    benign = [e for e in corpus if not e.dangerous]
    assert len(dangerous) >= 150 and len(benign) >= 300
    per_category = Counter(e.category for e in dangerous if e.expected == "dangerous")
    v4 = {e.category for e in load_corpus(ROOT / "tests" / "data" / "safety_v4.jsonl") if e.dangerous}
    assert set(per_category) | v4 == set(CATEGORIES)  # the categories of issue 23 live in the v4 corpus
    assert min(per_category.values()) >= 5
    assert sum(e.evasion for e in dangerous) >= 25
    assert len({e.cmd for e in corpus}) == len(corpus), "duplicate commands in the corpus"


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(sudo )?rm ",
        r"^(sudo )?dd ",
        r"chmod ",
        r"chown ",
        r"^(sudo )?kill ",
        r"find .*-delete",
        r"^sudo ",
        r"^curl ",
        r"^wget ",
        r" > ",
    ],
)
def test_benign_side_covers_risky_looking_commands(corpus, pattern):
    assert sum(1 for e in corpus if not e.dangerous and re.search(pattern, e.cmd)) >= 3


def test_recall_and_false_positive_rate_meet_targets(report):
    overall = report["overall"]
    assert overall["recall"] >= 0.97, report["misses"]
    assert overall["false_positive_rate"] <= 0.01, report["false_positives"]


def test_every_category_is_caught_and_named(report):
    for category, counts in report["per_category"].items():
        assert counts["recall"] is None or counts["recall"] >= 0.9, category
        assert counts["false_positive_rate"] is None or counts["false_positive_rate"] <= 0.05, category
    assert report["overall"]["category_accuracy"] >= 0.95
    assert report["evasion_recall"] >= 0.95


def test_score_counts_by_hand():
    from shelltune.safety.findings import finding

    hit = finding("disk_wipe", "x", "x")
    examples = [
        Example("a", True, "disk_wipe"),
        Example("b", True, "disk_wipe"),
        Example("c", False, "disk_wipe"),
        Example("d", False, "shutdown"),
    ]
    report = score(examples, [hit, None, hit, None])
    assert report["overall"]["recall"] == 0.5
    assert report["overall"]["precision"] == 0.5
    assert report["overall"]["false_positive_rate"] == 0.5
    assert report["per_category"]["shutdown"]["false_positive_rate"] == 0.0
    assert report["misses"] == ["b"] and report["false_positives"][0]["cmd"] == "c"


def test_levels_and_kinds_are_read_and_tabled(tmp_path):
    from shelltune.safety.findings import finding

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        '{"cmd": "a", "label": "dangerous", "level": "warn", "category": "vcs_destruction", "kind": "vcs"}\n'
        '{"cmd": "b", "label": "dangerous", "category": "disk_wipe", "kind": "disk"}\n'
        '{"cmd": "c", "label": "benign", "level": "ok", "category": "disk_wipe", "kind": "disk"}\n'
    )
    examples = load_corpus(corpus)
    assert [e.expected for e in examples] == ["warn", "dangerous", "ok"]
    hit = finding("disk_wipe", "x", "x")
    report = score(examples, [None, hit, hit])
    assert report["per_level"]["warn"] == {"rows": 1, "judged_dangerous": 0, "judged_warn": 0, "judged_ok": 1}
    assert report["per_level"]["ok"]["judged_dangerous"] == 1
    assert report["per_kind"]["disk"]["recall"] == 1.0 and report["per_kind"]["vcs"]["recall"] == 0.0


def test_a_level_that_contradicts_the_label_is_refused(tmp_path):
    from shelltune.errors import ShelltuneError

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"cmd": "a", "label": "benign", "level": "warn", "category": "disk_wipe"}\n')
    with pytest.raises(ShelltuneError, match=f"{corpus}:1: 'level'"):
        load_corpus(corpus)
