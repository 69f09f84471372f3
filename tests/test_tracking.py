"""Trackers besides dvclive (`train.report_to`): W&B, MLflow and TensorBoard get the run's metrics through
transformers' own integrations, each in its offline or local mode, and nothing they write reaches a
tracked output."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.stages.base import run as build_base
from shelltune.stages.train import run as train
from shelltune.training.tracking import TRACKER_PACKAGES, prepare_trackers, tracker_settings

from conftest import set_key, tiny_raw

TRACKERS = ["wandb", "mlflow", "tensorboard"]
TRACKER_ENV = sorted(tracker_settings(TRACKERS, Path("x")))
EVAL_STEPS = [0, 4, 8, 10]  # every eval_steps=4 during training, and the final evaluation after it


# ---------------------------------------------------------------- params and settings


def test_report_to_accepts_the_three_trackers_and_nothing_else(repo_params_raw, tmp_path):
    assert parse_params(repo_params_raw).train.report_to == []  # the default run logs to dvclive only
    raw = tiny_raw(repo_params_raw, tmp_path)
    assert parse_params(set_key(raw, "train.report_to", TRACKERS)).train.report_to == TRACKERS
    with pytest.raises(
        ShelltuneError, match=r"train\.report_to\.0: Input should be 'wandb', 'mlflow' or 'tensorboard'"
    ):
        parse_params(set_key(raw, "train.report_to", ["dvclive"]))  # dvclive is always on, through our callback
    with pytest.raises(ShelltuneError, match="report_to names a tracker twice"):
        parse_params(set_key(raw, "train.report_to", ["mlflow", "mlflow"]))


def test_trackers_default_to_the_runtime_directory_and_yield_to_the_user(tmp_path):
    runtime = tmp_path / "reports" / "runtime"
    env: dict[str, str] = {}
    applied = prepare_trackers(TRACKERS, runtime, env)
    assert applied == env
    assert env["WANDB_DIR"] == str(runtime) and env["TENSORBOARD_LOGGING_DIR"] == str(runtime / "tensorboard")
    assert env["MLFLOW_TRACKING_URI"] == (runtime / "mlruns").as_uri() and env["MLFLOW_ALLOW_FILE_STORE"] == "true"
    assert (runtime / "tensorboard").is_dir()

    users = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "WANDB_PROJECT": "theirs"}
    env = dict(users)
    prepare_trackers(["mlflow", "wandb"], runtime, env)
    assert {k: env[k] for k in users} == users  # a server or project the user chose wins
    assert "MLFLOW_ALLOW_FILE_STORE" not in env  # and its store's options are left alone
    assert prepare_trackers([], runtime, {}) == {}


def test_a_tracker_that_is_not_installed_stops_the_run_before_anything_loads(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, TRACKER_PACKAGES["wandb"], None)  # what `import wandb` fails on
    with pytest.raises(ShelltuneError, match=r"train.report_to: wandb not installed; pip install .*\[tracking\]"):
        prepare_trackers(["wandb", "tensorboard"], tmp_path, {})


# ---------------------------------------------------------------- a tiny run with all three


def wandb_records(path: Path):
    """The records of a W&B transaction log (`run-ID.wandb`): a LevelDB log (32 KiB blocks, 7-byte record
    headers) of `Record` protobufs in wandb's own schema, after a 7-byte `:W&B` header."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        room = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if room >= 7 else (0, 0, 0)
        if length == 0 and kind == 0:  # a block's zero trailer
            pos += room
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a record is complete
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def dvclive_series(reports: Path, name: str) -> dict[int, float]:
    lines = (reports / "train" / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()[1:]
    return {int(step): float(value) for step, value in (line.split("\t") for line in lines)}


def tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def tracked_runs(tmp_path_factory, repo_params_raw):
    """The same tiny training twice: without trackers, and with all three in offline/local mode, run as
    `dvc exp run -n tracked-run` would (DVC_EXP_NAME), from the run's own directory. 10 steps with an
    evaluation every 4: the last one (step 10) comes after training has ended."""
    monkeypatch = pytest.MonkeyPatch()
    runs = {}
    try:
        for name, report_to in (("plain", []), ("tracked", TRACKERS)):
            root = tmp_path_factory.mktemp(name)
            for key in TRACKER_ENV:  # set by the previous run's stage; undo() restores the machine's values
                monkeypatch.setenv(key, "")
                monkeypatch.delenv(key)
            monkeypatch.setenv("WANDB_MODE", "offline")
            monkeypatch.setenv("WANDB_SILENT", "true")
            monkeypatch.setenv("DVC_EXP_NAME", "tracked-run")
            monkeypatch.chdir(root)  # where W&B and MLflow would write by default
            params = parse_params(tiny_raw(repo_params_raw, root, max_steps=10, report_to=report_to))
            build_base(params)
            train(params)
            runs[name] = root
    finally:
        monkeypatch.undo()
    return runs


@pytest.mark.slow
def test_wandb_offline_run_holds_the_metrics_dvclive_logged(tracked_runs):
    root = tracked_runs["tracked"]
    reports = root / "reports"
    (log,) = (reports / "runtime" / "wandb").glob("offline-run-*/run-*.wandb")
    records = list(wandb_records(log))
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.display_name, run.project) == ("tracked-run", "shelltune")
    history = [
        {item.key or "/".join(item.nested_key): float(item.value_json) for item in r.history.item}
        for r in records
        if r.HasField("history")
    ]
    eval_loss = {int(h["train/global_step"]): h["eval/loss"] for h in history if "eval/loss" in h}
    train_loss = {int(h["train/global_step"]): h["train/loss"] for h in history if "train/loss" in h}
    assert eval_loss == pytest.approx(dvclive_series(reports, "eval/loss"), abs=1e-6)
    assert train_loss == pytest.approx(dvclive_series(reports, "train/loss"), abs=1e-6)
    assert sorted(eval_loss) == EVAL_STEPS


@pytest.mark.slow
def test_mlflow_local_store_holds_the_metrics_dvclive_logged(tracked_runs):
    import mlflow
    from mlflow.tracking import MlflowClient

    reports = tracked_runs["tracked"] / "reports"
    store = (reports / "runtime" / "mlruns").as_uri()
    mlflow.set_tracking_uri(store)
    try:
        runs = mlflow.search_runs(experiment_names=["shelltune"])
        assert len(runs) == 1 and runs.loc[0, "tags.mlflow.runName"] == "tracked-run"
        assert runs.loc[0, "params.learning_rate"] == "0.005"  # the trainer's arguments come along
        history = MlflowClient(store).get_metric_history(runs.loc[0, "run_id"], "eval_loss")
    finally:
        mlflow.set_tracking_uri(None)
    assert {m.step: m.value for m in history} == pytest.approx(dvclive_series(reports, "eval/loss"), abs=1e-6)
    assert sorted(m.step for m in history) == EVAL_STEPS  # the final evaluation in the same run


@pytest.mark.slow
def test_tensorboard_events_hold_the_metrics_dvclive_logged(tracked_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reports = tracked_runs["tracked"] / "reports"
    events = EventAccumulator(str(reports / "runtime" / "tensorboard")).Reload()
    for tag in ("eval/loss", "train/loss"):
        logged = {e.step: e.value for e in events.Scalars(tag)}
        assert logged == pytest.approx(dvclive_series(reports, tag), abs=1e-5)  # float32 in the event file
    assert sorted(e.step for e in events.Scalars("eval/loss")) == EVAL_STEPS


@pytest.mark.slow
def test_trackers_change_no_tracked_output_and_write_only_under_runtime(tracked_runs):
    """Byte for byte the same adapter (provenance included) and dvclive reports as the run without
    trackers; the trackers' files only under reports/runtime/, none in the working directory."""
    plain, tracked = tracked_runs["plain"], tracked_runs["tracked"]
    for out in ("adapter", "reports/train"):
        files = tree(plain / out)
        assert files == tree(tracked / out)
        for name in files:  # the base's path is each run's own directory (models/base in the repository)
            expected = (plain / out / name).read_bytes().replace(str(plain).encode(), b"RUN")
            assert (tracked / out / name).read_bytes().replace(str(tracked).encode(), b"RUN") == expected, name
    assert sorted(p.name for p in tracked.iterdir()) == sorted(p.name for p in plain.iterdir())
    assert sorted(p.name for p in (tracked / "reports").iterdir()) == ["runtime", "train"]
    runtime = {name: {p.name for p in (root / "reports" / "runtime").iterdir()} for name, root in tracked_runs.items()}
    assert runtime["tracked"] - runtime["plain"] == {"wandb", "mlruns", "tensorboard"}
