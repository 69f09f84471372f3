"""Readers for every supported dataset layout, each yielding `Example` or `BadRow` with `file:line`.

Two independent choices describe an input (both may be `auto`):
- format, the container: JSONL, CSV/TSV, parquet, NL2Bash parallel `.nl`/`.cm` files, or a Hugging Face
  dataset loaded with `datasets.load_dataset` (a hub id, a local dataset directory, or a builder such as
  `json` with `data_files`);
- schema, the record layout: `fields` (two named fields), chat `messages`, `prompt`/`completion`
  (plain strings or conversational lists, as TRL accepts), or alpaca (`instruction`/`input`/`output`).

File-level problems (missing file, empty file, missing CSV column, mismatched `.nl`/`.cm` line counts)
raise `ShelltuneError`; row-level problems are yielded as `BadRow` so the caller applies `on_bad_row`.
"""

from __future__ import annotations

import csv
import json
import random
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.config import DataParams, MixSource
from shelltune.errors import ShelltuneError

EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".nl": "nl2bash",
    ".cm": "nl2bash",
}


@dataclass(frozen=True)
class Example:
    instruction: str
    command: str
    source: str  # "path:line" (or "path:row N" for parquet and Hugging Face rows)


@dataclass(frozen=True)
class BadRow:
    source: str
    reason: str


class RowError(ValueError):
    """A record that cannot be turned into an example; the message is the reason."""


Row = Example | BadRow


def read_sources(data: DataParams, seed: int, train_only: bool = False) -> Iterator[Row]:
    """Every row of `data`, then of each dataset in `data.mix` split with it (`train_only: false`): all of a
    mixed source's bad rows, and its usable rows in input order, or a sample of `max_rows` of them drawn with
    `seed` (still in input order). `train_only=True`: the rows of the sources that join the train split only."""
    if not train_only:
        yield from read_examples(data)
    for source in data.mix:
        if source.train_only != train_only:
            continue
        rows = list(read_examples(mixed_source_params(data, source)))
        usable = [i for i, row in enumerate(rows) if isinstance(row, Example)]
        if source.max_rows is not None and len(usable) > source.max_rows:
            dropped = set(usable) - set(random.Random(seed).sample(usable, source.max_rows))
            rows = [row for i, row in enumerate(rows) if i not in dropped]
        yield from rows


def mixed_source_params(data: DataParams, source: MixSource) -> DataParams:
    """A mixed source read as `data` is: its own location, layout and field names; the row rules of `data`."""
    return data.model_copy(
        update={
            "path": source.path,
            "format": source.format,
            "schema_": source.schema_,
            "fields": source.fields,
            "hf": source.hf,
            "mix": [],
        }
    )


def read_examples(data: DataParams) -> Iterator[Row]:
    """Yield every row of the configured dataset in input order."""
    fmt = detect_format(data)
    readers = {
        "jsonl": _read_jsonl,
        "csv": _read_csv,
        "parquet": _read_parquet,
        "nl2bash": _read_nl2bash,
        "hf": _read_hf,
    }
    yield from readers[fmt](data)


def detect_format(data: DataParams) -> str:
    if data.format != "auto":
        return data.format
    path = Path(data.path)
    if path.suffix.lower() in EXTENSIONS:
        return EXTENSIONS[path.suffix.lower()]
    if path.is_dir():
        return "hf"
    if path.with_suffix(".nl").exists() and path.with_suffix(".cm").exists():
        return "nl2bash"
    raise ShelltuneError(
        f"data.path: cannot tell the format of '{data.path}' from its name; set data.format to one of "
        "jsonl, csv, parquet, nl2bash, hf"
    )


# ---------------------------------------------------------------- record layouts (schemas)


def detect_schema(record: dict[str, Any], data: DataParams) -> str:
    if data.schema_ != "auto":
        return data.schema_
    keys = set(record)
    if {data.fields.instruction, data.fields.command} <= keys:
        return "fields"
    if "messages" in keys:
        return "messages"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    return "fields"  # reports the missing field names, the most useful message


def extract_pair(record: Any, schema: str, data: DataParams) -> tuple[str, str]:
    """Return (instruction, command) from one record, or raise RowError."""
    if not isinstance(record, dict):
        raise RowError(f"expected a JSON object, got {type(record).__name__}")
    if schema == "fields":
        return _text(record, data.fields.instruction), _text(record, data.fields.command)
    if schema == "messages":
        return _pair_from_messages(_messages(record, "messages"))
    if schema == "prompt_completion":
        return _prompt_text(record), _completion_text(record)
    if schema == "alpaca":
        instruction, extra = _text(record, "instruction"), _text(record, "input", required=False)
        return (f"{instruction}\n{extra}" if extra else instruction), _text(record, "output")
    raise AssertionError(schema)


def _text(record: dict[str, Any], key: str, required: bool = True) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise RowError(f"missing field '{key}'")
        return ""
    if not isinstance(value, str):
        raise RowError(f"field '{key}' must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise RowError(f"field '{key}' is empty")
    return value


def _messages(record: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = record.get(key)
    if value is None:
        raise RowError(f"missing field '{key}'")
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise RowError(f"field '{key}' must be a list of {{role, content}} objects")
    for i, message in enumerate(value):
        if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
            raise RowError(f"{key}[{i}] needs string 'role' and 'content'")
    return value


def _pair_from_messages(messages: list[dict[str, Any]]) -> tuple[str, str]:
    """The last assistant reply is the command; the user turn right before it is the instruction."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            users = [m for m in messages[:i] if m["role"] == "user"]
            if not users:
                raise RowError("no user message before the assistant reply")
            instruction, command = users[-1]["content"], messages[i]["content"]
            if not instruction.strip() or not command.strip():
                raise RowError("empty user or assistant message")
            return instruction, command
    raise RowError("no assistant message")


def _prompt_text(record: dict[str, Any]) -> str:
    if isinstance(record.get("prompt"), list):
        users = [m for m in _messages(record, "prompt") if m["role"] == "user"]
        if not users or not users[-1]["content"].strip():
            raise RowError("'prompt' has no non-empty user message")
        return users[-1]["content"]
    return _text(record, "prompt")


def _completion_text(record: dict[str, Any]) -> str:
    if isinstance(record.get("completion"), list):
        replies = [m for m in _messages(record, "completion") if m["role"] == "assistant"]
        if not replies or not replies[0]["content"].strip():
            raise RowError("'completion' has no non-empty assistant message")
        return replies[0]["content"]
    return _text(record, "completion")


def _check_text(pair: tuple[str, str], data: DataParams) -> tuple[str, str]:
    """Lengths within bounds, and no control characters but tab and newline. JSON refuses them raw but
    decodes them escaped (`\\u0000`, `\\u001b`): a NUL, an escape sequence or a carriage return in a
    target would teach the model to write them."""
    instruction, command = pair
    for name, text in (("instruction", instruction), ("command", command)):
        control = next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n"), None)
        if control is not None:
            raise RowError(
                f"field '{name}' holds the control character U+{ord(control):04X} (only tab and newline may)"
            )
    if len(instruction) > data.max_instruction_chars:
        raise RowError(
            f"instruction is {len(instruction)} characters (data.max_instruction_chars is {data.max_instruction_chars})"
        )
    if len(command) > data.max_command_chars:
        raise RowError(f"command is {len(command)} characters (data.max_command_chars is {data.max_command_chars})")
    return pair


def _records_to_rows(records: Iterable[tuple[str, Any]], data: DataParams) -> Iterator[Row]:
    """Apply schema detection (on the first object) and extraction to (source, record) pairs."""
    schema: str | None = None
    for source, record in records:
        if isinstance(record, BadRow):
            yield record
            continue
        if schema is None and isinstance(record, dict):
            schema = detect_schema(record, data)
        try:
            pair = _check_text(extract_pair(record, schema or "fields", data), data)
        except RowError as exc:
            yield BadRow(source, str(exc))
        else:
            yield Example(pair[0], pair[1], source)


# ---------------------------------------------------------------- containers (formats)


def _open_binary(path: Path, what: str = "data.path") -> bytes:
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ShelltuneError(f"{what}: file not found: {path}") from None
    except IsADirectoryError:
        raise ShelltuneError(f"{what}: {path} is a directory, expected a file") from None
    if not content.strip():
        raise ShelltuneError(f"{path}: file is empty")
    return content


def _decode_lines(path: Path, content: bytes) -> Iterator[tuple[int, str | None]]:
    """Yield (line number, text) per line; text is None where the bytes are not valid UTF-8."""
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    for number, raw in enumerate(content.split(b"\n"), start=1):
        try:
            yield number, raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            yield number, None


def _read_jsonl(data: DataParams) -> Iterator[Row]:
    path = Path(data.path)
    content = _open_binary(path)

    def records() -> Iterator[tuple[str, Any]]:
        for number, line in _decode_lines(path, content):
            source = f"{path}:{number}"
            if line is None:
                yield source, BadRow(source, "not valid UTF-8")
            elif line.strip():
                try:
                    yield source, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield source, BadRow(source, f"invalid JSON: {exc.msg} (column {exc.colno})")

    yield from _records_to_rows(records(), data)


def _read_csv(data: DataParams) -> Iterator[Row]:
    path = Path(data.path)
    _open_binary(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad row is reported at its
    # line instead of the whole file failing to decode.
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = reader.fieldnames or []
        _require_columns(path, columns, data)

        def records() -> Iterator[tuple[str, Any]]:
            start = reader.line_num + 1
            try:
                for record in reader:
                    source = f"{path}:{start}"
                    start = reader.line_num + 1
                    if any(_has_surrogates(v) for v in record.values() if isinstance(v, str)):
                        yield source, BadRow(source, "not valid UTF-8")
                    elif None in record:
                        yield (
                            source,
                            BadRow(source, f"{len(columns) + len(record[None])} cells, header has {len(columns)}"),
                        )
                    else:
                        yield source, record
            except csv.Error as exc:
                raise ShelltuneError(f"{path}:{reader.line_num}: invalid CSV: {exc}") from None

        yield from _records_to_rows(records(), data)


def _require_columns(path: Path, columns: list[str], data: DataParams) -> None:
    wanted = {
        "fields": [data.fields.instruction, data.fields.command],
        "alpaca": ["instruction", "output"],
        "prompt_completion": ["prompt", "completion"],
    }
    schema = data.schema_ if data.schema_ != "auto" else detect_schema(dict.fromkeys(columns), data)
    if schema == "messages":
        raise ShelltuneError(f"{path}: the messages schema needs JSONL, parquet or a HF dataset, not CSV")
    missing = [c for c in wanted[schema] if c not in columns]
    if missing:
        raise ShelltuneError(
            f"{path}:1: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(header has: {', '.join(columns) or 'nothing'})"
        )


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _read_parquet(data: DataParams) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(data.path)
    _open_binary(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ShelltuneError(f"{path}: not a readable parquet file: {exc}") from None
    if table.num_rows == 0:
        raise ShelltuneError(f"{path}: file has no rows")
    records = ((f"{path}:row {i}", rec) for i, rec in enumerate(table.to_pylist(), start=1))
    yield from _records_to_rows(records, data)


def _nl2bash_paths(path: Path) -> tuple[Path, Path]:
    stem = path.with_suffix("") if path.suffix in (".nl", ".cm") else path
    return stem.with_name(stem.name + ".nl"), stem.with_name(stem.name + ".cm")


def _read_nl2bash(data: DataParams) -> Iterator[Row]:
    nl_path, cm_path = _nl2bash_paths(Path(data.path))
    nl_lines = _content_lines(nl_path)
    cm_lines = _content_lines(cm_path)
    if len(nl_lines) != len(cm_lines):
        raise ShelltuneError(
            f"{nl_path} has {len(nl_lines)} lines but {cm_path} has {len(cm_lines)}: "
            "line i of the .nl file must pair with line i of the .cm file"
        )
    for (number, nl), (_, cm) in zip(nl_lines, cm_lines, strict=True):
        bad = _nl2bash_problem(nl_path, cm_path, number, nl, cm)
        if bad:
            yield bad
            continue
        try:
            pair = _check_text((nl, cm), data)  # type: ignore[arg-type]
        except RowError as exc:
            yield BadRow(f"{nl_path}:{number}", str(exc))
        else:
            yield Example(pair[0], pair[1], f"{nl_path}:{number}")


def _content_lines(path: Path) -> list[tuple[int, str | None]]:
    lines = list(_decode_lines(path, _open_binary(path, "data.path")))
    while lines and lines[-1][1] == "":  # the final newline is not a row
        lines.pop()
    return lines


def _nl2bash_problem(nl_path: Path, cm_path: Path, number: int, nl: str | None, cm: str | None) -> BadRow | None:
    for path, text, what in ((nl_path, nl, "instruction"), (cm_path, cm, "command")):
        if text is None:
            return BadRow(f"{path}:{number}", "not valid UTF-8")
        if not text.strip():
            return BadRow(f"{path}:{number}", f"empty {what}")
    return None


def _read_hf(data: DataParams) -> Iterator[Row]:
    import datasets

    hf = data.hf
    try:
        dataset = datasets.load_dataset(
            data.path, name=hf.config, split=hf.split, revision=hf.revision, data_files=hf.data_files
        )
    except Exception as exc:  # datasets raises many types (hub, file, builder errors)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShelltuneError(
            f"data.path: cannot load Hugging Face dataset '{data.path}' (split {hf.split!r}): {first}"
        ) from None
    label = f"{data.path}[{hf.split}]"
    records = ((f"{label}:row {i}", rec) for i, rec in enumerate(dataset, start=1))
    yield from _records_to_rows(records, data)
