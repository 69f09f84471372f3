"""Training logs through dvclive, with the trainer's global step as dvclive's step."""

from __future__ import annotations

import resource
import time
from typing import Any


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
