"""params.yaml validation: every problem at once, with key paths, and a clean non-zero exit."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from pydantic import ValidationError

from shelltune.config import Params, load_params, parse_params
from shelltune.errors import ShelltuneError

from conftest import ROOT, run_module, set_key, write_params


def problems(raw) -> str:
    with pytest.raises(ShelltuneError) as info:
        parse_params(raw)
    return str(info.value)


def test_repository_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params, Params)
    assert params.split.fractions.train == 0.8
    assert params.data.schema_ == "auto"


def test_tiny_architecture_is_one_of_the_built_in_pairs(params_raw):
    set_key(params_raw, "model.tiny.architecture", "gpt2")
    assert problems(params_raw) == (
        "params.yaml: model.tiny.architecture: Input should be 'qwen2' or 'llama' (got 'gpt2')"
    )
    del params_raw["model"]["tiny"]["architecture"]
    assert problems(params_raw) == "params.yaml: model.tiny.architecture: missing key"


def test_config_is_frozen(params_raw):
    params = parse_params(params_raw)
    with pytest.raises(ValidationError, match="frozen"):
        params.seed = 1  # type: ignore[misc]


def test_unknown_keys_are_named_with_allowed_keys(params_raw):
    params_raw["colour"] = "blue"
    params_raw["split"]["shuffle"] = True
    message = problems(params_raw)
    allowed = (
        "card, data, execute, export, lora, model, paths, prompt, quant, runtime, scan, seed, split, train, validate"
    )
    assert f"params.yaml: colour: unknown key (allowed here: {allowed})" in message
    assert "split.shuffle: unknown key (allowed here: dedup, drop_unsafe, fractions)" in message


def test_every_problem_is_reported_at_once(params_raw):
    set_key(params_raw, "seed", "forty-two")
    set_key(params_raw, "data.format", "xml")
    set_key(params_raw, "data.max_command_chars", 0)
    set_key(params_raw, "split.fractions.train", 0.5)
    del params_raw["split"]["dedup"]
    message = problems(params_raw)
    assert message.startswith("5 problems in params.yaml:")
    lines = message.splitlines()[1:]
    assert len(lines) == 5
    text = "\n".join(lines)
    assert "seed: expected a number" in text and "(got 'forty-two')" in text
    assert "data.format: Input should be 'auto', 'jsonl', 'csv', 'parquet', 'nl2bash' or 'hf'" in text
    assert "data.max_command_chars: Input should be greater than 0 (got 0)" in text
    assert "split.fractions: train + val + test must sum to 1 (they sum to 0.7)" in text
    assert "split.dedup: missing key" in text


@pytest.mark.parametrize("value,ok", [("8e-1", True), (0.8, True), ("abc", False), ([0.8], False), (True, False)])
def test_floats_written_in_yaml_exponent_form_are_accepted(params_raw, value, ok):
    # PyYAML reads 8e-1 as the string "8e-1"; it must count as a number, but "abc" must not.
    set_key(params_raw, "split.fractions.train", value)
    if ok:
        assert parse_params(params_raw).split.fractions.train == pytest.approx(0.8)
    else:
        assert "split.fractions.train" in problems(params_raw)


def test_checks_on_one_key_or_across_keys_are_one_short_line(params_raw):
    """`-S train.max_steps=0` names the key and the value, not the whole `train` section."""
    set_key(params_raw, "train.max_steps", 0)
    assert problems(params_raw) == (
        "params.yaml: train.max_steps: must be positive, or -1 to train for `epochs` (got 0)"
    )
    set_key(params_raw, "train.max_steps", 10)
    set_key(params_raw, "train.group_by_length", True)
    message = problems(params_raw)
    assert message == (
        "params.yaml: train: group_by_length and length_window both group rows by length: set one of them"
    )
    set_key(params_raw, "split.fractions.train", 0.5)
    assert all("{" not in line for line in problems(params_raw).splitlines())


def test_wrong_container_type(params_raw):
    set_key(params_raw, "data.fields", "instruction")
    assert "data.fields: Input should be a valid dictionary" in problems(params_raw)


def test_top_level_must_be_a_mapping():
    assert "expected a mapping" in problems(["seed", 1])


def test_cli_reports_problems_without_traceback(params_raw, tmp_path):
    set_key(params_raw, "split.fractions.val", -0.1)
    set_key(params_raw, "data.on_bad_row", "ignore")
    path = write_params(tmp_path / "bad.yaml", params_raw)
    result = run_module("shelltune.stages.split", "--params", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: 2 problems in")  # the sum check waits for valid fields
    assert "split.fractions.val: Input should be greater than or equal to 0" in result.stderr
    assert "data.on_bad_row: Input should be 'error' or 'skip'" in result.stderr
    assert not (tmp_path / "processed").exists()


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\ndata:\n  path: [unclosed\n")
    with pytest.raises(ShelltuneError, match=r"params.yaml:\d+: invalid YAML"):
        load_params(path)


def test_missing_params_file(tmp_path):
    with pytest.raises(ShelltuneError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_debug_env_shows_traceback(params_raw, tmp_path):
    set_key(params_raw, "seed", -1)
    path = write_params(tmp_path / "bad.yaml", params_raw)
    result = run_module("shelltune.stages.split", "--params", str(path), env={"SHELLTUNE_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize(
    "value,expect",
    [
        ("2026-06-01T09:00:00Z", "2026-06-01T09:00:00Z"),
        ("2026-06-01T11:00:00+02:00", "2026-06-01T09:00:00Z"),
        # an unquoted timestamp (DVC's -S writes one) reaches the validator as a datetime
        (datetime(2026, 6, 1, 9, tzinfo=timezone.utc), "2026-06-01T09:00:00Z"),
        ("2026-06-01T09:00:00", "give the time zone"),
        (date(2026, 6, 1), "a date without a time of day"),
        ("June 1st", "expected an ISO 8601 timestamp"),
        ("2026-06-01T09:00:00.5Z", "whole seconds only"),
        ("2999-01-01T00:00:00Z", "must be at least a day before now"),
    ],
)
def test_execute_clock_is_a_past_instant_with_a_time_zone(params_raw, value, expect):
    set_key(params_raw, "execute.clock", value)
    if expect.startswith("20"):
        params = parse_params(params_raw)
        assert params.execute.clock == expect and params.execute.clock_seconds == 1780304400
    else:
        assert f"execute.clock: {expect}" in problems(params_raw)
