"""Every input layout reads to the same examples; every bad row is named by file and line."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.formats import BadRow, Example, read_examples

from conftest import pairs, set_key, write_jsonl

EXPECTED = [(p["instruction"], p["command"]) for p in pairs(3)]


def read(params_raw, path, **data):
    set_key(params_raw, "data.path", str(path))
    for key, value in data.items():
        set_key(params_raw, f"data.{key}", value)
    return list(read_examples(parse_params(params_raw).data))


def good(rows):
    assert all(isinstance(r, Example) for r in rows), rows
    return [(r.instruction, r.command) for r in rows]


def bad(rows):
    return [(r.source, r.reason) for r in rows if isinstance(r, BadRow)]


# ---------------------------------------------------------------- formats and schemas


def test_jsonl_with_custom_field_names(params_raw, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"nl": p["instruction"], "cmd": p["command"], "x": 1} for p in pairs(3)])
    rows = read(params_raw, path, fields={"instruction": "nl", "command": "cmd"})
    assert good(rows) == EXPECTED
    assert rows[1].source == f"{path}:2"


def test_csv_and_tsv(params_raw, tmp_path):
    for name, delimiter in (("d.csv", ","), ("d.tsv", "\t")):
        path = tmp_path / name
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["instruction", "command"], delimiter=delimiter)
            writer.writeheader()
            writer.writerows(pairs(3))
        assert good(read(params_raw, path)) == EXPECTED


def test_csv_multiline_cell_keeps_line_numbers(params_raw, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('instruction,command\n"two\nlines",ls\nempty,\n')
    rows = read(params_raw, path, on_bad_row="skip")
    assert rows[0].instruction == "two\nlines"
    assert bad(rows) == [(f"{path}:4", "field 'command' is empty")]


def test_parquet(params_raw, tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(pairs(3)), path)
    rows = read(params_raw, path)
    assert good(rows) == EXPECTED
    assert rows[2].source == f"{path}:row 3"


def test_chat_messages(params_raw, tmp_path):
    rows = [
        {
            "messages": [
                {"role": "system", "content": "be safe"},
                {"role": "user", "content": p["instruction"]},
                {"role": "assistant", "content": p["command"]},
            ]
        }
        for p in pairs(3)
    ]
    assert good(read(params_raw, write_jsonl(tmp_path / "m.jsonl", rows))) == EXPECTED


def test_chat_messages_in_parquet(params_raw, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": p["instruction"]}, {"role": "assistant", "content": p["command"]}]}
        for p in pairs(3)
    ]
    path = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert good(read(params_raw, path)) == EXPECTED


def test_prompt_completion_plain_and_conversational(params_raw, tmp_path):
    plain = [{"prompt": p["instruction"], "completion": p["command"]} for p in pairs(3)]
    assert good(read(params_raw, write_jsonl(tmp_path / "p.jsonl", plain))) == EXPECTED
    chat = [
        {
            "prompt": [{"role": "user", "content": p["instruction"]}],
            "completion": [{"role": "assistant", "content": p["command"]}],
        }
        for p in pairs(3)
    ]
    assert good(read(params_raw, write_jsonl(tmp_path / "c.jsonl", chat))) == EXPECTED


def test_alpaca_joins_input_to_instruction(params_raw, tmp_path):
    rows = [
        {"instruction": "count lines", "input": "file: a.txt", "output": "wc -l a.txt"},
        {"instruction": "list files", "input": "", "output": "ls"},
    ]
    got = good(read(params_raw, write_jsonl(tmp_path / "a.jsonl", rows)))
    assert got == [("count lines\nfile: a.txt", "wc -l a.txt"), ("list files", "ls")]


def test_explicit_schema_overrides_detection(params_raw, tmp_path):
    rows = [{"instruction": "list files", "output": "ls", "command": "not this"}]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    assert good(read(params_raw, path, schema="alpaca")) == [("list files", "ls")]
    assert good(read(params_raw, path, schema="fields")) == [("list files", "not this")]


def test_nl2bash_parallel_files(params_raw, tmp_path):
    (tmp_path / "all.nl").write_text("".join(p["instruction"] + "\n" for p in pairs(3)))
    (tmp_path / "all.cm").write_text("".join(p["command"] + "\n" for p in pairs(3)))
    for path in (tmp_path / "all", tmp_path / "all.nl", tmp_path / "all.cm"):
        rows = read(params_raw, path)
        assert good(rows) == EXPECTED
        assert rows[0].source == f"{tmp_path / 'all.nl'}:1"


def test_hf_dataset_from_local_files_with_json_builder(params_raw, tmp_path):
    path = write_jsonl(tmp_path / "hf.jsonl", pairs(3))
    rows = read(
        params_raw,
        "json",
        format="hf",
        hf={"config": None, "split": "train", "revision": None, "data_files": str(path)},
    )
    assert good(rows) == EXPECTED
    assert rows[0].source == "json[train]:row 1"


def test_hf_dataset_from_a_local_directory(params_raw, tmp_path):
    directory = tmp_path / "my_dataset"
    directory.mkdir()
    pq.write_table(pa.Table.from_pylist(pairs(3)), directory / "train-00000.parquet")
    assert good(read(params_raw, directory)) == EXPECTED  # format auto: a directory is a HF dataset


def test_hf_dataset_missing_is_a_clear_error(params_raw, tmp_path):
    with pytest.raises(ShelltuneError, match="cannot load Hugging Face dataset 'acme/does-not-exist'"):
        read(params_raw, "acme/does-not-exist", format="hf")


# ---------------------------------------------------------------- bad rows


@pytest.mark.parametrize(
    "line,reason",
    [
        ('{"instruction": "a", "command": ', "invalid JSON: Expecting value (column 33)"),
        ('{"instruction": "a"}', "missing field 'command'"),
        ('{"instruction": "  ", "command": "ls"}', "field 'instruction' is empty"),
        ('{"instruction": "a", "command": 5}', "field 'command' must be a string, got int"),
        ('{"instruction": null, "command": "ls"}', "missing field 'instruction'"),
        ('["a", "ls"]', "expected a JSON object, got list"),
        ('{"messages": "hi"}', "field 'messages' must be a list of {role, content} objects"),
        ('{"messages": [{"role": "user", "content": "a"}]}', "no assistant message"),
        ('{"messages": [{"role": "assistant", "content": "ls"}]}', "no user message before the assistant reply"),
        (
            '{"instruction": "a", "command": "ls\\u0000 /"}',
            "field 'command' holds the control character U+0000 (only tab and newline may)",
        ),
        (
            '{"instruction": "a\\u001b[2J", "command": "ls"}',
            "field 'instruction' holds the control character U+001B (only tab and newline may)",
        ),
        (
            '{"instruction": "a", "command": "ls\\r"}',
            "field 'command' holds the control character U+000D (only tab and newline may)",
        ),
        ('{"instruction": "a", "command": "ls \u0000"}', "invalid JSON: Invalid control character at (column 37)"),
    ],
)
def test_bad_jsonl_rows_are_named_by_line(params_raw, tmp_path, line, reason):
    schema = "messages" if "messages" in line else "fields"
    first = (
        '{"messages": [{"role": "user", "content": "list"}, {"role": "assistant", "content": "ls"}]}'
        if schema == "messages"
        else '{"instruction": "list", "command": "ls"}'
    )
    path = tmp_path / "d.jsonl"
    path.write_text(first + "\n" + line + "\n")
    assert bad(read(params_raw, path, schema=schema)) == [(f"{path}:2", reason)]


def test_escaped_control_characters_in_every_format(params_raw, tmp_path):
    """Tab and newline are text; a NUL is not, however it is spelled or stored."""
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "a\\tb", "command": "printf \'x\\\\n\'\\nls"}\n')
    assert good(read(params_raw, path)) == [("a\tb", "printf 'x\\n'\nls")]
    table = pa.table({"instruction": ["list", "wipe"], "command": ["ls", "echo \x00"]})
    pq.write_table(table, tmp_path / "d.parquet")
    assert bad(read(params_raw, tmp_path / "d.parquet")) == [
        (
            f"{tmp_path / 'd.parquet'}:row 2",
            "field 'command' holds the control character U+0000 (only tab and newline may)",
        )
    ]


def test_truncated_last_line(params_raw, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "list", "command": "ls"}\n{"instruction": "count", "comm')
    assert bad(read(params_raw, path))[0][0] == f"{path}:2"


def test_non_utf8_rows(params_raw, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"instruction": "list", "command": "ls"}\n{"instruction": "caf\xe9", "command": "ls"}\n')
    assert bad(read(params_raw, path)) == [(f"{path}:2", "not valid UTF-8")]
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes(b"instruction,command\nlist,ls\ncaf\xe9,ls\n")
    assert bad(read(params_raw, csv_path)) == [(f"{csv_path}:3", "not valid UTF-8")]
    (tmp_path / "x.nl").write_bytes(b"list\n\xff\xfe\n")
    (tmp_path / "x.cm").write_bytes(b"ls\npwd\n")
    assert bad(read(params_raw, tmp_path / "x")) == [(f"{tmp_path / 'x.nl'}:2", "not valid UTF-8")]


def test_huge_rows(params_raw, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "x" * 20, "command": "echo " + "y" * 600}])
    assert bad(read(params_raw, path)) == [(f"{path}:1", "command is 605 characters (data.max_command_chars is 500)")]


def test_csv_with_a_missing_column_is_a_file_error(params_raw, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("instruction,cmd\nlist,ls\n")
    with pytest.raises(
        ShelltuneError, match=r"d.csv:1: missing column\(s\) 'command' \(header has: instruction, cmd\)"
    ):
        read(params_raw, path)


def test_csv_row_with_extra_cells(params_raw, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("instruction,command\nlist,ls,extra\n")
    assert bad(read(params_raw, path)) == [(f"{path}:2", "3 cells, header has 2")]


def test_mismatched_nl_cm_counts(params_raw, tmp_path):
    (tmp_path / "x.nl").write_text("a\nb\nc\n")
    (tmp_path / "x.cm").write_text("ls\npwd\n")
    with pytest.raises(ShelltuneError, match=r"x.nl has 3 lines but .*x.cm has 2"):
        read(params_raw, tmp_path / "x")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(params_raw, tmp_path, content):
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    with pytest.raises(ShelltuneError, match="file is empty"):
        read(params_raw, path)


def test_missing_file_and_unknown_extension(params_raw, tmp_path):
    with pytest.raises(ShelltuneError, match="data.path: file not found"):
        read(params_raw, tmp_path / "nope.jsonl")
    with pytest.raises(ShelltuneError, match="cannot tell the format"):
        read(params_raw, tmp_path / "data.xml")


def test_corrupt_parquet(params_raw, tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ShelltuneError, match="not a readable parquet file"):
        read(params_raw, path)
