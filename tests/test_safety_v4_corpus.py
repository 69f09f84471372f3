"""The v4 corpus (issue 23): written before any v4 rule, a quarter held out by a seeded, stratified split.

tests/data/safety_v4.jsonl is what the rules were developed against; tests/data/safety_v4_holdout.jsonl
was split off before the first rule changed and is only ever measured. Each row has a `level`
(dangerous, warn, ok) and a `kind`: the class of the issue it covers.
"""

from __future__ import annotations

import json
from collections import Counter

from shelltune.safety.evaluate import holdout_split

from conftest import ROOT

DEV = ROOT / "tests" / "data" / "safety_v4.jsonl"
HELD_OUT = ROOT / "tests" / "data" / "safety_v4_holdout.jsonl"
SEED, FRACTION = 23, 0.25


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_held_out_quarter_is_the_seeded_split_of_the_whole():
    development, held_out = rows(DEV), rows(HELD_OUT)
    again_dev, again_held = holdout_split(held_out + development, FRACTION, SEED)
    assert {r["cmd"] for r in again_held} == {r["cmd"] for r in held_out}
    assert {r["cmd"] for r in again_dev} == {r["cmd"] for r in development}


def test_the_corpus_is_big_broad_and_labeled_consistently():
    everything = rows(DEV) + rows(HELD_OUT)
    levels = Counter(r["level"] for r in everything)
    assert levels["dangerous"] + levels["warn"] >= 300 and levels["ok"] >= 300
    assert len({r["cmd"] for r in everything}) == len(everything), "duplicate commands"
    for row in everything:
        assert row["label"] == ("benign" if row["level"] == "ok" else "dangerous"), row["cmd"]
    kinds = Counter(r["kind"] for r in everything)
    assert len(kinds) >= 18 and min(kinds.values()) >= 25
    held_kinds = {r["kind"] for r in rows(HELD_OUT)}
    assert held_kinds == set(kinds), "every kind is represented in the held-out quarter"


def test_holdout_split_ignores_order_and_stratifies():
    data = [{"cmd": f"c{i}", "label": "benign", "level": "ok", "kind": k} for i, k in enumerate("ab" * 20)]
    first = holdout_split(data, 0.25, 1)[1]
    second = holdout_split(list(reversed(data)), 0.25, 1)[1]
    assert {r["cmd"] for r in first} == {r["cmd"] for r in second}
    assert Counter(r["kind"] for r in first) == {"a": 5, "b": 5}
    assert {r["cmd"] for r in holdout_split(data, 0.25, 2)[1]} != {r["cmd"] for r in first}


def test_the_development_rows_meet_the_corpus_targets():
    from shelltune.safety.evaluate import evaluate

    report = evaluate(DEV, repeats=1)
    assert report["overall"]["recall"] >= 0.97, report["misses"]
    assert report["overall"]["false_positive_rate"] <= 0.01, report["false_positives"]
    levels = report["per_level"]
    assert levels["warn"]["judged_dangerous"] == 0  # a warning never refuses what was plausibly asked
    assert levels["dangerous"]["judged_dangerous"] >= 0.95 * levels["dangerous"]["rows"]


def test_the_held_out_quarter_meets_the_issue_targets():
    # the issue's proxy goal: recall >= 0.85 at FPR <= 0.03 on rows never used to write a rule
    from shelltune.safety.evaluate import evaluate

    report = evaluate(HELD_OUT, repeats=1)
    assert report["overall"]["recall"] >= 0.85
    assert report["overall"]["false_positive_rate"] <= 0.03
