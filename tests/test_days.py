"""The execute stage's tracked outputs do not depend on the day it runs.

dvc.lock commits the hashes of reports/execute.json and reports/executions.jsonl, and a fresh clone must
reproduce them on any day. Here the whole stage runs twice with its own process under libfaketime, on
two different (fake) days years apart, over rows whose output shows dates and times; the two runs must
write the same bytes. The kernel's clock cannot be faked: it stamps the files commands write with the
real date in both runs, so the test also checks that the real date shows nowhere in what was compared
(the normalized output excerpts in the untracked detail file), and tests/test_clock.py checks that
kernel timestamps of any two days normalize alike.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from conftest import run_module, write_jsonl

# (reference, prediction of "tuned", prediction of "base"): outputs that show the date, times of day,
# mtimes of the fixture and of files the command writes itself (stamped by the kernel's real clock).
ROWS = [
    ("date", "date -u", "date -d yesterday"),
    ("date +%F", "date +%Y-%m-%d", "date +%d/%m/%Y"),
    ("ls -l docs", "ls -l docs/", "ls -la docs"),
    ("find . -mtime -7 -type f | sort", "find . -type f -mtime -7 | sort", "find . -mtime -30 -type f | sort"),
    ("stat todo.txt", "stat ./todo.txt", "stat -c %y todo.txt"),
    ("git log --format='%h %ad %s' -n 3", "git log -n 3 --format='%h %ad %s'", "git log --oneline -n 3"),
    ("touch f && ls -l f", "touch f; ls -l f", "touch -d 2020-01-01 f; ls -l f"),
    (
        "echo x > f && ls -l --time-style=+%F f",
        "echo x >f; ls -l --time-style=+%F f",
        "echo xy > f; ls -l --time-style=+%F f",
    ),
    ("touch app.log", "touch ./app.log", "touch -d yesterday app.log"),
    ("mkdir fresh && ls -ld --full-time fresh", "mkdir ./fresh; ls -ld --full-time fresh", "mkdir fresh; ls -d fresh"),
    ("printf '%(%F %H)T\\n' -1", "printf '%(%Y-%m-%d %H)T\\n' -1", "printf '%(%F)T\\n' -1"),
    ("python3 -c 'import time; print(time.strftime(\"%F\"))'", "date +%F", "date +%F -d tomorrow"),
    (
        "touch app.log && stat -c '%y|%z|%w' app.log",
        "touch ./app.log; stat -c '%y|%z|%w' app.log",
        "touch -d '1 hour ago' app.log; stat -c '%y|%z|%w' app.log",
    ),
]
DAYS = ("2027-03-01 10:00:00", "2031-11-20 23:30:00")


def faketime_library() -> str:
    """libfaketime.so.1 from the libfaketime wheel (a dependency of the project)."""
    spec = importlib.util.find_spec("libfaketime")
    assert spec is not None and spec.origin, "the libfaketime package is missing: make setup"
    library = Path(spec.origin).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    assert library.is_file(), library
    return str(library)


def stage_on(day: str, root: Path, repo_params_raw: dict) -> dict[str, bytes]:
    """Run the execute stage with its whole process tree believing it is `day`; return its tracked outputs
    and the detail file (output excerpts, after normalization)."""
    raw = copy.deepcopy(repo_params_raw)
    raw["paths"].update(processed=str(root / "processed"), reports=str(root / "reports"))
    raw["validate"]["extra_sets"] = []  # the test split's rows alone
    raw["execute"]["judge_pairs"] = None  # the judge's self-check (tests/test_judge.py) is not a day's business
    (root / "processed").mkdir(parents=True)
    (root / "reports").mkdir()
    write_jsonl(
        root / "processed" / "test.jsonl",
        [{"id": f"d{i}", "instruction": ref, "command": ref, "source": "t"} for i, (ref, _, _) in enumerate(ROWS)],
    )
    write_jsonl(
        root / "reports" / "predictions.jsonl",
        [
            {"id": f"d{i}", "instruction": ref, "gold": ref, "base_command": base, "tuned_command": tuned}
            for i, (ref, tuned, base) in enumerate(ROWS)
        ],
    )
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    # The harness's own clock is faked from its first instruction; its monotonic clock is left alone
    # (timeouts and sleeps keep working).
    env = {"LD_PRELOAD": faketime_library(), "FAKETIME": f"@{day}", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    result = run_module("shelltune.stages.execute", "--params", str(params), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = root / "reports"
    return {
        name: (reports / name).read_bytes()
        for name in ("execute.json", "executions.jsonl", "runtime/executions_detail.jsonl")
    }


def real_date_forms(stamp: Path) -> set[str]:
    """Today's date, read from the kernel (not this process's clock), as the tools print dates."""
    stamp.touch()
    os.utime(stamp)
    day = time.gmtime(stamp.stat().st_mtime)
    return {time.strftime(layout, day) for layout in ("%Y-%m-%d", "%b %e", "%b %d", "%d %b", "%m-%d-%Y")}


@pytest.mark.slow
def test_tracked_outputs_are_the_same_on_any_day(tmp_path, repo_params_raw):
    forms = real_date_forms(tmp_path / "stamp")
    first, second = (stage_on(day, tmp_path / f"day{n}", repo_params_raw) for n, day in enumerate(DAYS))
    forms |= real_date_forms(tmp_path / "stamp")
    for name in ("execute.json", "executions.jsonl"):
        if first[name] != second[name]:
            a, b = first[name].decode().splitlines(), second[name].decode().splitlines()
            changed = [(x, y) for x, y in zip(a, b, strict=False) if x != y][:3]
            pytest.fail(
                f"{name} differs between {DAYS[0]} and {DAYS[1]}:\n"
                + "\n".join(f"- {x[:400]}\n+ {y[:400]}" for x, y in changed)
            )
    # The real date was masked wherever the kernel's clock showed through, and the commands never saw it.
    details = [json.loads(line) for line in first["runtime/executions_detail.jsonl"].decode().splitlines()]
    shown = [(d["id"], role, d[role]["stdout"]) for d in details for role in ("reference", "base", "tuned")]
    leaks = [(row, role, text) for row, role, text in shown for form in forms if form in " ".join(text.split())]
    assert not leaks, leaks
    masked = {d["id"] for d in details if "<now>" in d["reference"]["stdout"]}
    now_shown = (
        "date",
        "touch f && ls -l f",
        "echo x > f && ls -l --time-style=+%F f",
        "mkdir fresh && ls -ld --full-time fresh",
        "touch app.log && stat -c '%y|%z|%w' app.log",
    )
    assert {f"d{i}" for i, (ref, _, _) in enumerate(ROWS) if ref in now_shown} <= masked
    # ...and not because nothing ran: every row is judged, and the verdicts are the right ones.
    verdicts = [json.loads(line) for line in first["executions.jsonl"].decode().splitlines()]
    skipped = {v["gold"]: (v["skip_reason"], v["skip_detail"]) for v in verdicts if not v["executed"]}
    assert not skipped, skipped
    assert [v["tuned"]["match"] for v in verdicts] == [True] * len(ROWS), [
        (v["gold"], v["tuned"]["differs"]) for v in verdicts if not v["tuned"]["match"]
    ]
    assert [v["base"]["match"] for v in verdicts] == [False] * len(ROWS), [
        v["gold"] for v in verdicts if v["base"]["match"]
    ]
