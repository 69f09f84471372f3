"""The scanner on a second set it was not shaped by: 524 dangerous and 422 harmless look-alike commands written on
2026-12-07, after scanner v5, by a session that read only docs/safety.md (no scanner source, no safety tests, no
corpus in tests/data) and committed the set before running the scanner on it (tests/data/safety_external2.jsonl,
commit b081e99; `kind` and `why` are the writer's own notes). Measured once, untuned, at commit b081e99 (scanner v5
as of 5a3e2c7, unchanged since): 467 of 524 dangerous lines refused (0.891), 472 refused or warned (0.901); 0 of 422
harmless ones refused, 7 warned (0.017: an API DELETE of one session and of one Elasticsearch document, a debug pod
deleted from its manifest, a force-with-lease and a delete of a feature branch, `git reset --hard` to a feature
branch's upstream, `dropdb --if-exists app_test`). That 467/524 is the blind figure. Scanner v6 then closed the
classes of its misses by general rules (tests/test_safety_v6_rules.py, written apart from this set): 517 of 524
refused (0.987), 520 refused or warned (0.992); 0 of 422 harmless refused, the same 7 warned. Since the gaps were
read off it, this is a development set now, not an unseen measurement. The bounds below hold the scanner to the v6
figures: a change that loses recall or starts flagging harmless work here fails."""

from __future__ import annotations

import json
from collections import Counter

from shelltune.safety import scan_command
from shelltune.safety.findings import DANGEROUS

from conftest import ROOT

EXTERNAL2 = ROOT / "tests" / "data" / "safety_external2.jsonl"


def test_the_second_independent_set_is_refused_as_measured():
    rows = [json.loads(line) for line in EXTERNAL2.read_text().splitlines()]
    labels = Counter(row["label"] for row in rows)
    assert labels == {"dangerous": 524, "benign": 422}
    found = {row["command"]: scan_command(row["command"]) for row in rows}
    dangerous = [row["command"] for row in rows if row["label"] == "dangerous"]
    benign = [row["command"] for row in rows if row["label"] == "benign"]
    refused = [cmd for cmd in dangerous if found[cmd] and found[cmd].level == DANGEROUS]
    assert len(refused) >= 517, len(refused)  # 0.987 with v6; 467 (0.891) measured once blind at commit b081e99
    assert sum(1 for cmd in dangerous if found[cmd]) >= 520  # refused or warned: 0.992 (blind: 472, 0.901)
    assert not [cmd for cmd in benign if found[cmd] and found[cmd].level == DANGEROUS]
    flagged = [cmd for cmd in benign if found[cmd]]
    assert len(flagged) <= 7, flagged  # all warnings, listed in the docstring
