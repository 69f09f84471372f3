"""The embedded dataset is reproducible from code and has the promised size, spread and noise."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from shelltune import embedded as ds
from shelltune.commands.gen_data import main
from shelltune.embedded import DEFAULT_OUT, SUPPLEMENT_OUT, generate, generate_supplement
from shelltune.safety import scan_command

from conftest import ROOT


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in (ROOT / DEFAULT_OUT).read_text().splitlines()]


def test_committed_file_is_exactly_what_the_generator_writes(tmp_path):
    out, supplement = tmp_path / "regen.jsonl", tmp_path / "supplement.jsonl"
    assert main(["--out", str(out), "--supplement-out", str(supplement)]) == 0
    assert out.read_bytes() == (ROOT / DEFAULT_OUT).read_bytes(), "run `shelltune gen-data` and commit the file"
    assert supplement.read_bytes() == (ROOT / SUPPLEMENT_OUT).read_bytes(), "run `shelltune gen-data`"


def test_another_out_never_overwrites_the_committed_supplement(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as if in a checkout: data/raw/ relative to here
    (tmp_path / "data" / "raw").mkdir(parents=True)
    assert main(["--seed", "7", "--per-family", "2", "--out", "x.jsonl"]) == 0
    assert (tmp_path / "x.jsonl").stat().st_size and (tmp_path / "x_supplement.jsonl").stat().st_size
    assert not (tmp_path / SUPPLEMENT_OUT).exists()
    assert main(["--per-family", "2", "--out", "y.jsonl", "--supplement-out", ""]) == 0
    assert not (tmp_path / "y_supplement.jsonl").exists()


def test_size_and_spread(rows):
    distinct = {(r["instruction"], r["command"]) for r in rows}
    assert len(distinct) >= 3000
    safe_families = Counter(r["family"] for r in rows if not r["family"].startswith("danger_"))
    assert len(safe_families) >= 60
    assert min(safe_families.values()) >= 10
    assert len({r["command"].split()[0] for r in rows}) >= 60  # distinct utilities, not only templates


def test_varied_phrasings(rows):
    ls_instructions = {r["instruction"].lower().rstrip("?") for r in rows if r["family"] == "ls"}
    assert len({i.split(" ")[0] for i in ls_instructions}) >= 5


def test_noise_like_scraped_data(rows):
    dangerous = [r for r in rows if r["family"].startswith("danger_")]
    assert 0.01 <= len(dangerous) / len(rows) <= 0.06
    assert all(scan_command(r["command"]) for r in dangerous), "every planted dangerous target is caught"
    pairs = Counter((r["instruction"], r["command"]) for r in rows)
    assert any(n > 1 for n in pairs.values()), "exact duplicates are planted"
    keys = Counter(r["instruction"].strip().lower().rstrip(".?") for r in rows)
    assert sum(n - 1 for n in keys.values()) > sum(n - 1 for n in pairs.values()), "near-duplicates too"


def test_seed_controls_generation():
    assert generate(seed=1, per_family=5) == generate(seed=1, per_family=5)
    assert generate(seed=1, per_family=5) != generate(seed=2, per_family=5)


def test_harmful_requests_are_taught_safe_answers_apart_from_the_red_team_set(rows):
    """Refusals and safer commands for harmful requests are in the training data, none flagged by the scanner,
    and none of their requests is a red-team prompt: the red-team set measures what carries over."""
    from shelltune.fileio import read_jsonl
    from shelltune.metrics import REFUSAL

    taught = [r for r in rows if r["family"].startswith(("refuse_", "safer_"))]
    assert 0.03 <= len(taught) / len(rows) <= 0.08
    assert len({r["family"] for r in taught}) >= 12
    assert all(scan_command(r["command"]) is None for r in taught)
    # (the planted near-duplicates space some of them out: the split stage removes those)
    assert all(REFUSAL.match(r["command"]) for r in taught if r["family"].startswith("refuse_"))

    def key(text: str) -> str:
        return " ".join(text.lower().rstrip(".?!").split())

    redteam = {key(r["prompt"]) for r in read_jsonl(ROOT / "data" / "redteam" / "prompts.jsonl")}
    assert not redteam & {key(r["instruction"]) for r in taught}


def test_replaced_pools_keep_their_size_so_the_split_stays_as_drawn():
    """A family's pool is only replaced by one of the same size with distinct values (rng.choice draws by
    size): every other row, the groups and the split stay as they were. The new pools name what the
    fixture world lacks (users, branches) or holds (gzip'd backups, listening ports)."""
    for old, new in (
        (ds.USERS, ds.NEW_USERS),
        (ds.BRANCHES, ds.NEW_BRANCHES),
        (ds.FILES, ds.GZIPPED),
        (ds.PORTS, ds.LSOF_PORTS),
    ):
        assert len(new) == len(old) == len(set(new)), new
    assert not set(ds.NEW_USERS) & set(ds.USERS) and not set(ds.NEW_BRANCHES) & set(ds.BRANCHES)
    assert not set(ds.GZIPPED) & set(ds.FILES)


def key(text: str) -> str:
    return " ".join(text.lower().rstrip(".?!").split())


def test_the_supplement_is_people_style_and_refusals_and_never_an_evaluation_request():
    """The training-only supplement: the families' commands asked the way people type, and refusals to copy
    secrets off the machine. Its own random stream (the main file does not change with it), no request of
    the red-team or people-written sets, nothing the scanner flags, every refusal a refusal."""
    from shelltune.fileio import read_jsonl
    from shelltune.metrics import REFUSAL

    rows = [json.loads(line) for line in (ROOT / SUPPLEMENT_OUT).read_text().splitlines()]
    assert generate_supplement(seed=1) != generate_supplement(seed=2)
    people = [r for r in rows if r["family"].startswith("people_")]
    assert len({r["family"] for r in people}) >= 100 and len(people) >= 500
    assert sum(r["instruction"] == r["instruction"].lower() for r in people) / len(people) > 0.6
    refusals = [r for r in rows if r["family"] == "refuse_exfiltrate_copy"]
    assert len(refusals) >= 30 and all(REFUSAL.match(r["command"]) for r in refusals)
    assert all(scan_command(r["command"]) is None for r in refusals)
    assert all(scan_command(r["command"]) is None or scan_command(r["command"]).level != "dangerous" for r in people)
    held_out = {key(r["prompt"]) for r in read_jsonl(ROOT / "data" / "redteam" / "prompts.jsonl")}
    held_out |= {key(r["instruction"]) for r in read_jsonl(ROOT / "data" / "eval" / "people.jsonl")}
    assert not held_out & {key(r["instruction"]) for r in rows}
