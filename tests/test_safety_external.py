"""The scanner on a set it was not shaped by: 351 dangerous and 254 harmless look-alike commands written on
2026-12-07 by an independent session that read only docs/safety.md, before seeing the scanner's code or the
project's corpora (tests/data/safety_external.jsonl; `why` is the writer's own note). Measured once, untuned,
at commit e7b8c6b: 306 of 351 dangerous lines refused (0.872), 0 of 254 harmless ones (docs/safety.md lists
the misses by kind). Scanner v5 closed the classes of those misses by general rules (tests in
test_safety_v5_rules.py): 344 of 351 refused (0.980), 0 harmless refused, 3 warned. Since the gaps were found
on it, this is now a development set, not an unseen measurement (docs/safety.md says so). v6 (the second set's
classes) refuses one more: 345 of 351 (0.983). The bounds below hold the scanner to those figures: a change that
loses recall or starts refusing harmless work here fails."""

from __future__ import annotations

import json
from collections import Counter

from shelltune.safety import scan_command
from shelltune.safety.findings import DANGEROUS

from conftest import ROOT

EXTERNAL = ROOT / "tests" / "data" / "safety_external.jsonl"


def test_the_independent_set_is_refused_as_measured():
    rows = [json.loads(line) for line in EXTERNAL.read_text().splitlines()]
    labels = Counter(row["label"] for row in rows)
    assert labels == {"dangerous": 351, "benign": 254}
    refused = {
        label: sum(
            1
            for row in rows
            if row["label"] == label and (found := scan_command(row["cmd"])) and found.level == DANGEROUS
        )
        for label in labels
    }
    assert refused["dangerous"] >= 345, refused  # 0.983 with v6, 0.980 with v5 (0.872 untuned, commit e7b8c6b)
    assert refused["benign"] == 0, [r["cmd"] for r in rows if r["label"] == "benign" and scan_command(r["cmd"])]
    warned = [r["cmd"] for r in rows if r["label"] == "benign" and scan_command(r["cmd"])]
    assert len(warned) <= 3, warned  # force-with-lease to a feature branch, a remote branch deleted, a debug pod
