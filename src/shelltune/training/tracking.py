"""Training logs: dvclive (the metrics in dvc.lock), with the trainer's global step as dvclive's step;
and the trackers people already use (`train.report_to`: W&B, MLflow, TensorBoard) through transformers'
own integrations, their files kept under `reports/runtime/` unless the user points them elsewhere."""

from __future__ import annotations

import importlib.util
import os
import resource
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shelltune.errors import ShelltuneError

# train.report_to value → the package transformers' integration imports
TRACKER_PACKAGES = {"wandb": "wandb", "mlflow": "mlflow", "tensorboard": "tensorboard"}


class DvcLiveCallback:
    """Logs to two dvclive directories with the trainer's global step as the dvclive step.

    `live` gets what is the same on every run (losses, learning rate, grad norm): a DVC output.
    `perf` gets throughput and memory, which vary from run to run: kept out of dvc.lock.
    """

    KEYS = {
        "loss": "train/loss",
        "eval_loss": "eval/loss",
        "learning_rate": "train/learning_rate",
        "grad_norm": "train/grad_norm",
        "mean_token_accuracy": "train/token_accuracy",
        "eval_mean_token_accuracy": "eval/token_accuracy",
    }

    def __init__(self, live, perf, device: str):
        self.live, self.perf, self.device = live, perf, device
        self._last_time = time.perf_counter()
        self._last_tokens = 0
        self.first_eval_loss: float | None = None

    def replay(self, log_history: list[dict[str, Any]]) -> None:
        """Re-log the history kept in a checkpoint, so a resumed run has complete curves."""
        for entry in log_history:
            self.log_entry(int(entry.get("step", 0)), entry)

    def log_entry(self, step: int, logs: dict[str, Any]) -> None:
        self.live.step = step
        for key, name in self.KEYS.items():
            if key in logs and isinstance(logs[key], (int, float)):
                self.live.log_metric(name, round(float(logs[key]), 6))
        if "eval_loss" in logs and self.first_eval_loss is None:
            self.first_eval_loss = float(logs["eval_loss"])
        self.live.make_summary()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self.log_entry(state.global_step, logs)
        now = time.perf_counter()
        tokens = state.num_input_tokens_seen
        if "loss" in logs and now > self._last_time and tokens > self._last_tokens:
            self.perf.step = state.global_step
            self.perf.log_metric("train/tokens_per_s", round((tokens - self._last_tokens) / (now - self._last_time), 1))
            self.perf.log_metric("train/peak_memory_mb", round(peak_memory_mb(self.device), 1))
            self.perf.make_summary()
        self._last_time, self._last_tokens = now, tokens


def make_trainer_callback(callback: DvcLiveCallback):
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            callback.on_log(args, state, control, logs=logs, **kwargs)

    return _Callback()


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def tracker_settings(report_to: Sequence[str], runtime_dir: Path) -> dict[str, str]:
    """The environment each tracker reads, pointed at `runtime_dir` (git-ignored, inside no DVC output).

    Without these, W&B writes `./wandb/` into the repository, MLflow `./mlruns/` (or refuses: recent
    MLflow wants MLFLOW_ALLOW_FILE_STORE for a local directory), and TensorBoard writes into the checkpoint
    directory, which the stage deletes after a successful run. Names link a tracker's run to the DVC
    experiment: `dvc exp run -n NAME` sets DVC_EXP_NAME.
    """
    runtime_dir = runtime_dir.resolve()
    settings: dict[str, str] = {}
    if "wandb" in report_to:
        settings |= {"WANDB_DIR": str(runtime_dir), "WANDB_PROJECT": "shelltune"}
    if "mlflow" in report_to:
        settings |= {
            "MLFLOW_TRACKING_URI": (runtime_dir / "mlruns").as_uri(),
            "MLFLOW_ALLOW_FILE_STORE": "true",
            "MLFLOW_EXPERIMENT_NAME": "shelltune",
        }
    if "tensorboard" in report_to:
        settings["TENSORBOARD_LOGGING_DIR"] = str(runtime_dir / "tensorboard")
    return settings


def prepare_trackers(
    report_to: Sequence[str], runtime_dir: Path, environ: MutableMapping[str, str] = os.environ
) -> dict[str, str]:
    """Check that each tracker is installed, and set its defaults where the user has set nothing (a
    tracking server, a W&B entity and project, another directory all win). Returns what it set."""
    missing = [name for name in report_to if importlib.util.find_spec(TRACKER_PACKAGES[name]) is None]
    if missing:
        raise ShelltuneError(
            f"train.report_to: {', '.join(missing)} not installed; "
            "pip install -c constraints.txt -e '.[tracking]' (or remove it from train.report_to)"
        )
    chosen = tracker_settings(report_to, runtime_dir)
    if "MLFLOW_TRACKING_URI" in environ:  # the user's own store or server: leave its options alone
        chosen.pop("MLFLOW_ALLOW_FILE_STORE", None)
    applied = {key: value for key, value in chosen.items() if key not in environ}
    environ.update(applied)
    for key in ("WANDB_DIR", "TENSORBOARD_LOGGING_DIR"):
        if key in applied:
            Path(applied[key]).mkdir(parents=True, exist_ok=True)
    return applied


def run_name(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """The trackers' run name: the DVC experiment's name when `dvc exp run -n NAME` runs the stage."""
    return environ.get("DVC_EXP_NAME") or None


@contextmanager
def tracker_runs(report_to: Sequence[str], is_main: bool) -> Iterator[None]:
    """The trackers' runs span training and the final evaluation, which may come after training ends.

    transformers' MLflow integration ends a run it started at the end of training, so a later
    `trainer.evaluate()` would open a second run; a run that is already active it leaves to its owner.
    W&B's it leaves open until the process exits. Both are closed here, marked failed on an error.
    """
    if not is_main or not report_to:
        yield
        return
    if "mlflow" in report_to:
        import mlflow

        mlflow.start_run(run_name=run_name())  # store and experiment from MLFLOW_TRACKING_URI/EXPERIMENT_NAME
    failed = True
    try:
        yield
        failed = False
    finally:
        if "mlflow" in report_to:
            mlflow.end_run(status="FAILED" if failed else "FINISHED")
        if "wandb" in report_to:
            import wandb

            if wandb.run is not None:
                wandb.finish(exit_code=1 if failed else 0)
