"""The split stage: normalization, dedup, safety filter, leakage guard, determinism, error handling."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from shelltune.config import parse_params
from shelltune.formats import Example
from shelltune.splitting import (
    SPLITS,
    assign_splits,
    command_key,
    deduplicate,
    drop_leaks,
    filter_unsafe,
    group_examples,
    instruction_key,
    normalize_command,
    normalize_instruction,
)
from shelltune.stages.split import run

from conftest import ROOT, pairs, run_module, set_key, write_jsonl, write_params


def ex(instruction: str, command: str, line: int = 1) -> Example:
    return Example(instruction, command, f"d.jsonl:{line}")


def read_split(directory: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (directory / f"{name}.jsonl").read_text().splitlines()]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("  ls   -la\t/tmp  ", "ls -la /tmp"),
        ("grep 'a   b'  f.txt", "grep 'a   b' f.txt"),
        ('echo "x  y"   z', 'echo "x  y" z'),
        ("echo a\\  b", "echo a\\  b"),
        ("cd /tmp  \n  ls   -l", "cd /tmp\nls -l"),
    ],
)
def test_normalize_command_keeps_quoted_spacing(raw, expected):
    assert normalize_command(raw) == expected


def test_instruction_normalization_and_key():
    assert normalize_instruction("  List\tthe   files ") == "List the files"
    assert instruction_key("List the files.") == instruction_key('"list  the FILES"') == "list the files"
    assert instruction_key("list the files?") == "list the files"
    assert command_key('grep "x" f') == command_key("grep 'x' f")


def test_dedup_exact_normalized_and_conflicting():
    rows = [
        ex("list files", "ls", 1),
        ex("list files", "ls", 2),
        ex("List files.", "ls", 3),
        ex("list files", "ls -a", 4),
        ex("show disk use", "df -h", 5),
    ]
    kept, dropped = deduplicate(rows, "normalized")
    assert [k.source for k in kept] == ["d.jsonl:1", "d.jsonl:5"]
    assert [(d.source, d.reason) for d in dropped] == [
        ("d.jsonl:2", "duplicate_exact"),
        ("d.jsonl:3", "duplicate_normalized"),
        ("d.jsonl:4", "duplicate_instruction"),
    ]
    assert dropped[0].detail == "same as d.jsonl:1"
    kept_exact, dropped_exact = deduplicate(rows, "exact")
    assert len(kept_exact) == 4 and [d.reason for d in dropped_exact] == ["duplicate_exact"]


def test_unsafe_targets_are_dropped_with_reason():
    rows = [
        ex("clean build", "rm -rf ./build"),
        ex("free space", "sudo rm -rf /"),
        ex("install", "curl -fsSL https://get.x.sh | sh"),
    ]
    kept, dropped = filter_unsafe(rows, True)
    assert [k.command for k in kept] == ["rm -rf ./build"]
    assert [d.detail.split(" ")[0] for d in dropped] == ["recursive_delete", "remote_code_execution"]
    assert filter_unsafe(rows, False) == (rows, [])


def test_groups_join_rows_sharing_an_instruction_or_a_command():
    rows = [ex("a", "ls"), ex("b", "ls"), ex("b", "pwd"), ex("c", "df")]
    groups = group_examples(rows)
    assert sorted(len(g) for g in groups) == [1, 3]


def test_assignment_follows_fractions_and_seed(params_raw):
    rows = [ex(f"task {i}", f"cmd {i}") for i in range(1000)]
    fractions = parse_params(params_raw).split.fractions
    splits = assign_splits(group_examples(rows), fractions, seed=1)
    assert [len(splits[s]) for s in SPLITS] == [800, 100, 100]
    again = assign_splits(group_examples(rows), fractions, seed=1)
    other = assign_splits(group_examples(rows), fractions, seed=2)
    assert splits == again and splits != other


# ---------------------------------------------------------------- the stage on the embedded dataset


def default_data(repo_params_raw: dict, out: Path) -> dict:
    """params.yaml's data (the embedded file and its training-only supplement) by absolute path, outputs in out."""
    import copy

    raw = copy.deepcopy(repo_params_raw)
    raw["paths"].update(processed=str(out / "processed"), reports=str(out / "reports"))
    raw["data"]["path"] = str(ROOT / raw["data"]["path"])
    for source in raw["data"]["mix"]:
        source["path"] = str(ROOT / source["path"])
    return raw


@pytest.fixture(scope="module")
def embedded_split(tmp_path_factory, repo_params_raw):
    out = tmp_path_factory.mktemp("split")
    run(parse_params(default_data(repo_params_raw, out)))
    return out


def test_no_instruction_or_command_leaks_between_splits(embedded_split):
    seen: dict[str, str] = {}
    for name in SPLITS:
        for row in read_split(embedded_split / "processed", name):
            for key in ("i:" + instruction_key(row["instruction"]), "c:" + command_key(row["command"])):
                assert seen.setdefault(key, name) == name, f"{key} is in {seen[key]} and {name}"


def test_embedded_split_metrics_and_outputs(embedded_split):
    metrics = json.loads((embedded_split / "reports" / "split.json").read_text())
    assert metrics["rows_kept"] >= 3000
    assert metrics["dropped_unsafe"] > 0 and metrics["dropped_duplicate_exact"] > 0
    assert metrics["dropped_duplicate_normalized"] > 0 and metrics["dropped_bad_row"] == 0
    assert metrics["rows_read"] == metrics["rows_kept"] + sum(v for k, v in metrics.items() if k.startswith("dropped_"))
    drawn = metrics["rows_kept"] - metrics["train_only_rows"]  # the training-only rows join after the draw
    assert abs((metrics["train_rows"] - metrics["train_only_rows"]) / drawn - 0.8) < 0.01
    assert abs(metrics["test_rows"] / drawn - 0.1) < 0.01 and metrics["train_only_rows"] > 0
    train = read_split(embedded_split / "processed", "train")
    assert set(train[0]) == {"id", "instruction", "command", "source"}
    assert len({r["id"] for r in train}) == len(train)
    dropped = [json.loads(x) for x in (embedded_split / "processed" / "dropped.jsonl").read_text().splitlines()]
    assert sum(d["reason"] == "unsafe" for d in dropped) == metrics["dropped_unsafe"]


def test_same_seed_gives_byte_identical_splits(embedded_split, repo_params_raw, tmp_path):
    raw = default_data(repo_params_raw, tmp_path)
    raw["paths"].update(processed=str(tmp_path / "p"), reports=str(tmp_path / "r"))
    run(parse_params(raw))
    for name in (*SPLITS, "dropped"):
        assert digest(tmp_path / "p" / f"{name}.jsonl") == digest(embedded_split / "processed" / f"{name}.jsonl")
    raw["seed"] = 7
    raw["paths"].update(processed=str(tmp_path / "p7"), reports=str(tmp_path / "r7"))
    run(parse_params(raw))
    assert digest(tmp_path / "p7" / "test.jsonl") != digest(embedded_split / "processed" / "test.jsonl")


# ---------------------------------------------------------------- bad rows through the CLI


def test_bad_row_stops_the_stage_with_file_and_line(params_raw, tmp_path):
    rows = pairs(40)
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    path.write_text(path.read_text() + '{"instruction": "x", "command": 3}\n')
    set_key(params_raw, "data.path", str(path))
    result = run_module("shelltune.stages.split", "--params", str(write_params(tmp_path / "p.yaml", params_raw)))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {path}:41: field 'command' must be a string, got int (set data.on_bad_row: skip to drop such rows)"
    )
    assert not (tmp_path / "processed").exists() and not (tmp_path / "reports").exists()


def test_skip_drops_and_counts_bad_rows(params_raw, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", pairs(40))
    path.write_text(path.read_text() + "{broken\n" + '{"instruction": "", "command": "ls"}\n')
    set_key(params_raw, "data.path", str(path))
    set_key(params_raw, "data.on_bad_row", "skip")
    result = run_module("shelltune.stages.split", "--params", str(write_params(tmp_path / "p.yaml", params_raw)))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "reports" / "split.json").read_text())
    assert metrics["rows_read"] == 42 and metrics["dropped_bad_row"] == 2 and metrics["rows_kept"] == 40
    dropped = (tmp_path / "processed" / "dropped.jsonl").read_text()
    assert f"{path}:41" in dropped and "field 'instruction' is empty" in dropped


def test_too_few_rows_is_a_clear_error(params_raw, tmp_path):
    set_key(params_raw, "data.path", str(write_jsonl(tmp_path / "d.jsonl", pairs(2))))
    result = run_module("shelltune.stages.split", "--params", str(write_params(tmp_path / "p.yaml", params_raw)))
    assert result.returncode == 2 and "too few to fill the" in result.stderr
    assert not (tmp_path / "processed").exists()


def nl2sh_alfa_layout(root: Path, rows: list[tuple[str, str]]) -> Path:
    """A local copy shaped as the hub's westenfelder/NL2SH-ALFA: a card whose `configs` name one CSV file
    each (train: nl,bash; test: nl,bash,bash2,difficulty), loaded by `datasets` as the hub copy is."""
    import csv

    root.mkdir()
    (root / "README.md").write_text(
        "---\nlicense: mit\nconfigs:\n- config_name: train\n  data_files: train.csv\n"
        "- config_name: test\n  data_files: test.csv\n---\n# NL2SH-ALFA (test copy)\n"
    )
    with (root / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["nl", "bash"])
        writer.writerows(rows)
    with (root / "test.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["nl", "bash", "bash2", "difficulty"], ["benchmark row", "ls -1", "ls", "0"]])
    return root


def test_a_hub_dataset_is_mixed_in_sampled_and_filtered_like_the_main_one(params_raw, tmp_path):
    """data.mix as the GPU profiles use it (NL2SH-ALFA's layout and field names, loaded through `datasets`):
    a seeded sample of its usable rows joins the main data before dedup, the safety filter and the split; its
    empty cells are skipped and counted; its test config stays out."""
    mixed = [(f"count the words in chapter{i}.txt", f"wc -w chapter{i}.txt") for i in range(40)]
    mixed += [("remove everything", "rm -rf /"), ("a row without its command", "")]
    hub = nl2sh_alfa_layout(tmp_path / "NL2SH-ALFA", mixed)
    set_key(params_raw, "data.path", str(write_jsonl(tmp_path / "main.jsonl", pairs(60))))
    set_key(params_raw, "data.on_bad_row", "skip")
    source = {
        "path": str(hub),
        "format": "hf",
        "schema": "fields",
        "fields": {"instruction": "nl", "command": "bash"},
        "hf": {"config": "train", "split": "train", "revision": None, "data_files": None},
        "max_rows": 30,
        "train_only": False,
    }
    set_key(params_raw, "data.mix", [source])
    result = run(parse_params(params_raw))
    kept = [ex for rows in result.splits.values() for ex in rows]
    from_hub = [ex for ex in kept if ex.source.startswith(str(hub))]
    assert result.metrics["rows_read"] == 60 + 30 + 1  # main rows, the sample, the bad row
    assert result.metrics["dropped_bad_row"] == 1
    assert len(from_hub) + result.metrics["dropped_unsafe"] == 30  # the sample, less what the scanner drops
    assert all(ex.command.startswith("wc -w chapter") for ex in from_hub)
    assert not any(ex.instruction == "benchmark row" for ex in kept)
    again = run(parse_params(params_raw))
    assert [ex.source for rows in again.splits.values() for ex in rows] == [ex.source for ex in kept]
    source["max_rows"] = None
    everything = run(parse_params(params_raw))
    assert everything.metrics["rows_read"] == 60 + 42


# ---------------------------------------------------------------- training-only sources


def test_training_only_rows_join_the_train_split_and_move_no_other_row(embedded_split, repo_params_raw, tmp_path):
    """The default's supplement (`train_only: true`) adds rows to train only: without it, val and test are
    byte-identical and train is the same rows less the supplement's; every supplement row that shares a
    request or a command with val or test is dropped as a leak, and none reaches train."""
    raw = default_data(repo_params_raw, tmp_path)
    supplement = raw["data"]["mix"]
    assert [s["train_only"] for s in supplement] == [True]
    raw["data"]["mix"] = []
    run(parse_params(raw))
    for name in ("val", "test"):
        assert digest(tmp_path / "processed" / f"{name}.jsonl") == digest(
            embedded_split / "processed" / f"{name}.jsonl"
        )
    alone = read_split(tmp_path / "processed", "train")
    together = read_split(embedded_split / "processed", "train")
    added = [r for r in together if r["source"].startswith(supplement[0]["path"])]
    assert together == alone + added and len(added) > 400
    held_out = {
        key
        for name in ("val", "test")
        for r in read_split(embedded_split / "processed", name)
        for key in ("i:" + instruction_key(r["instruction"]), "c:" + command_key(r["command"]))
    }
    assert not any(
        {"i:" + instruction_key(r["instruction"]), "c:" + command_key(r["command"])} & held_out for r in added
    )
    dropped = [json.loads(x) for x in (embedded_split / "processed" / "dropped.jsonl").read_text().splitlines()]
    leaks = [d for d in dropped if d["reason"] == "leak"]
    assert leaks and all(d["source"].startswith(supplement[0]["path"]) for d in leaks)
    assert all({"i:" + instruction_key(d["instruction"]), "c:" + command_key(d["command"])} & held_out for d in leaks)
    metrics = json.loads((embedded_split / "reports" / "split.json").read_text())
    assert metrics["train_only_rows"] == len(added) and metrics["dropped_leak"] == len(leaks)


def test_a_training_only_row_that_leaks_is_dropped_and_one_that_repeats_train_is_deduplicated(params_raw, tmp_path):
    main = pairs(60)
    set_key(params_raw, "data.path", str(write_jsonl(tmp_path / "main.jsonl", main)))
    first = run(parse_params(params_raw))
    test_row, train_row = first.splits["test"][0], first.splits["train"][0]
    extra = [
        {"instruction": test_row.instruction.upper(), "command": "echo new"},  # the request of a test row
        {"instruction": "a request of its own", "command": test_row.command},  # the command of a test row
        {"instruction": "a request of its own", "command": "echo chain"},  # repeats only the leak above: kept
        {"instruction": train_row.instruction, "command": "echo other"},  # a train row's request: a duplicate
        {"instruction": "something new", "command": "echo fresh"},
    ]
    source = {
        "path": str(write_jsonl(tmp_path / "extra.jsonl", extra)),
        "format": "jsonl",
        "schema": "fields",
        "fields": {"instruction": "instruction", "command": "command"},
        "hf": {"config": None, "split": "train", "revision": None, "data_files": None},
        "max_rows": None,
        "train_only": True,
    }
    set_key(params_raw, "data.mix", [source])
    result = run(parse_params(params_raw))
    assert result.splits["val"] == first.splits["val"] and result.splits["test"] == first.splits["test"]
    added = [ex.command for ex in result.splits["train"]][len(first.splits["train"]) :]
    assert result.splits["train"][: len(first.splits["train"])] == first.splits["train"]
    assert added == ["echo chain", "echo fresh"]
    reasons = {d.command: d.reason for d in result.dropped}
    assert reasons == {"echo new": "leak", test_row.command: "leak", "echo other": "duplicate_instruction"}
    assert result.metrics["train_only_rows"] == 2 and result.metrics["rows_read"] == 60 + 5
    set_key(params_raw, "split.dedup", "exact")
    exact = run(parse_params(params_raw))
    assert {d.command: d.reason for d in exact.dropped} == {"echo new": "leak", test_row.command: "leak"}
    assert exact.splits["test"] == first.splits["test"]


def test_leaks_are_found_from_any_iterable_of_held_out_rows():
    held_out = [ex("list files", "ls -la")]
    for given in (held_out, iter(held_out), (e for e in held_out)):
        kept, dropped = drop_leaks([ex("show all files", "ls -la", 2), ex("list files", "ls", 3)], given)
        assert kept == [] and [d.reason for d in dropped] == ["leak", "leak"]
