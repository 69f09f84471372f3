"""One training run in three steps, as the train stage composes them: `setup`, `fit`, `finish`.

`setup` reads the splits, loads the 4-bit base with LoRA on top, and decides whether to resume; `fit`
runs TRL's SFTTrainer with dvclive logging; `finish` writes the adapter with its provenance, and moves
the logs into place only then, so a failed or killed run leaves the tracked reports as they were.
In several processes (`shelltune.distributed`) every rank runs all three; rank 0 alone writes.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelltune.basemodel import read_base_info
from shelltune.chat import end_of_turn_tokens
from shelltune.config import Params
from shelltune.distributed import Ranks, barrier, current_ranks, resolve_backend, shutdown, uses_fsdp
from shelltune.fileio import fresh_dir, publish
from shelltune.modelcard import adapter_card
from shelltune.models import load_quantized_model, load_tokenizer
from shelltune.numerics import bnb_cpu_path, describe_numerics
from shelltune.planning import preflight
from shelltune.training.checkpoints import FINGERPRINT_FILE, check_free_disk, find_resume_checkpoint, run_fingerprint
from shelltune.training.data import load_examples, split_files
from shelltune.training.prefix import SharedPrefixMixin, can_share
from shelltune.training.provenance import (
    code_sha256,
    file_sha256,
    library_versions,
    recorded_params,
    save_adapter,
    write_run_info,
)
from shelltune.training.sampler import trainer_class
from shelltune.training.tracking import DvcLiveCallback, make_trainer_callback, prepare_trackers, tracker_runs
from shelltune.training.trainer import (
    TrainPlacement,
    build_sft_config,
    describe_run,
    final_evaluation,
    mean_train_loss,
    planned_steps,
    prepare_peft_model,
    resolve_train_placement,
    restore_trainable_dtype,
    trainable_dtype,
)


@dataclass
class TrainingRun:
    """Everything `setup` decided, for `fit` and `finish`."""

    params: Params
    ranks: Ranks
    placement: TrainPlacement
    base: dict[str, Any]
    tokenizer: Any
    model: Any
    splits: dict[str, list[dict[str, Any]]]
    overlong: dict[str, int]
    data_sha256: dict[str, str]
    resume: Path | None
    started: float

    def say(self, *args: Any) -> None:
        if self.ranks.is_main:
            print(*args, flush=True)


@dataclass
class Fitted:
    trainer: Any
    logger: DvcLiveCallback | None
    result: Any
    final_eval: dict[str, Any]
    state_dict: Any


def setup(params: Params) -> TrainingRun:
    import torch
    from transformers import set_seed

    from accelerate import PartialState

    started = time.time()
    set_seed(params.seed)
    # before anything slow: a tracker that is not installed stops the run here, not after loading the model
    prepare_trackers(params.train.report_to, Path(params.paths.reports) / "runtime")
    ranks = current_ranks()
    files = split_files(Path(params.paths.processed))
    base = read_base_info(params.paths.base)
    # Before anything loads: a run that cannot fit the GPU stops here, not after downloading the weights.
    warning = preflight(params, base)
    if warning and ranks.is_main:
        print(warning, flush=True)
    placement = resolve_train_placement(params.train, params.quant, torch.cuda.is_available())
    # Joins the process group when launched (the trainer reuses it); a no-op in one process.
    state = PartialState(
        cpu=placement.device == "cpu",
        backend=resolve_backend(params.train.ddp_backend, placement.device) if ranks.world_size > 1 else None,
    )
    tokenizer = load_tokenizer(base, params)
    # Before anything heavy: a template whose turns cannot end (or that refuses the conversation) fails here.
    turn_end = ", ".join(end_of_turn_tokens(tokenizer))
    t = params.train
    splits, lengths, overlong = {}, {}, {}
    for name, path in files.items():
        splits[name], lengths[name], overlong[name] = load_examples(
            path, tokenizer, params.prompt.system, t.max_length, t.overlong, name
        )
    run = TrainingRun(
        params,
        ranks,
        placement,
        base,
        tokenizer,
        None,
        splits,
        overlong,
        {f"{name}_sha256": file_sha256(path) for name, path in files.items()},
        None,
        started,
    )
    run.say(f"chat template: the answer ends with {turn_end}")
    for name, count in overlong.items():
        if count:
            run.say(f"{count} {name} example(s) longer than {t.max_length} tokens: {t.overlong}")
    run.model = prepare_peft_model(load_quantized_model(base, params, placement, training=True), params)
    run.resume = claim_checkpoints(run, state)
    run.say(
        describe_run(
            run.model,
            tokenizer,
            splits["train"],
            lengths["train"],
            params,
            placement,
            planned_steps(t, len(splits["train"]), ranks.world_size),
            ranks.world_size,
        )
    )
    return run


def claim_checkpoints(run: TrainingRun, state) -> Path | None:
    """The checkpoint to resume from, if it belongs to this exact run; rank 0 clears stale ones and stamps
    the directory with this run's fingerprint, then the other ranks look."""
    params, checkpoints = run.params, Path(run.params.paths.checkpoints)
    fingerprint = run_fingerprint(params, run.data_sha256, run.base, code_sha256())
    trainable = sum(p.numel() for p in run.model.parameters() if p.requires_grad)
    with state.main_process_first():
        resume = find_resume_checkpoint(checkpoints, fingerprint)
        if run.ranks.is_main:
            check_free_disk(checkpoints, trainable, params.train.save_total_limit)
            checkpoints.mkdir(parents=True, exist_ok=True)
            (checkpoints / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
    return resume


def live_staging(params: Params) -> Path:
    """dvclive writes in place, so it logs here (git-ignored) until the run has succeeded."""
    return Path(params.paths.reports) / "runtime" / "train.staging"


def fit(run: TrainingRun) -> Fitted:
    from datasets import Dataset
    from dvclive import Live
    from transformers import EarlyStoppingCallback

    params, reports = run.params, Path(run.params.paths.reports)
    callbacks, logger = [], None
    if run.ranks.is_main:  # one writer for the logs and the adapter
        live = Live(str(fresh_dir(live_staging(params))), dvcyaml=False, save_dvc_exp=False, report=None)
        perf = Live(str(reports / "runtime" / "train"), dvcyaml=False, save_dvc_exp=False, report=None)
        logger = DvcLiveCallback(live, perf, run.placement.device)
        callbacks.append(make_trainer_callback(logger))
    if params.train.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=params.train.early_stopping_patience))
    has_eval = bool(run.splits["val"])
    share = params.train.share_prefix and can_share(params.train.gradient_checkpointing, run.ranks.world_size)
    if params.train.share_prefix and not share:
        run.say("train.share_prefix: off for this run (gradient checkpointing or several processes)")
    trainer = trainer_class(params.train.length_window, share)(
        model=run.model,
        processing_class=run.tokenizer,
        args=build_sft_config(
            params, run.placement, Path(params.paths.checkpoints), has_eval=has_eval, resuming=run.resume is not None
        ),
        train_dataset=Dataset.from_list(run.splits["train"]),
        eval_dataset=Dataset.from_list(run.splits["val"]) if has_eval else None,
        callbacks=callbacks,
    )
    recast = restore_trainable_dtype(run.model, run.placement.compute_dtype)
    if recast:
        kept = trainable_dtype(run.placement.compute_dtype)
        run.say(f"trainable parameters kept in {kept} ({recast:,} tensors TRL had cast to bfloat16)")
    if run.resume is not None:
        run.say(f"resuming from {run.resume}")
        if logger is not None:
            logger.replay(json.loads((run.resume / "trainer_state.json").read_text())["log_history"])
    with tracker_runs(params.train.report_to, run.ranks.is_main):
        result = trainer.train(resume_from_checkpoint=str(run.resume) if run.resume else None)
        final_eval = final_evaluation(trainer) if has_eval else {}
    state_dict = None
    if uses_fsdp():  # gather the sharded weights; every process takes part
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
        state_dict = trainer.accelerator.get_state_dict(trainer.model)
    return Fitted(trainer, logger, result, final_eval, state_dict)


def build_provenance(run: TrainingRun, fitted: Fitted) -> dict[str, Any]:
    """What made the adapter; saved with it, and hashed by DVC with it (so nothing machine-specific)."""
    params, trainer = run.params, fitted.trainer
    return {
        "base": run.base,
        "dataset": {
            **run.data_sha256,
            "train_examples": len(run.splits["train"]),
            "val_examples": len(run.splits["val"]),
            "overlong_train": run.overlong["train"],
            "overlong_val": run.overlong["val"],
            "overlong_policy": params.train.overlong,
        },
        "params": recorded_params(params),
        "runtime": {
            "device": run.placement.device,
            "compute_dtype": run.placement.compute_dtype,
            "optimizer": run.placement.optimizer,
            "num_processes": run.ranks.world_size,
            "distributed_type": str(trainer.accelerator.distributed_type.value),
            "shared_prefix": isinstance(trainer, SharedPrefixMixin),
        },
        "libraries": library_versions(),
        "code_sha256": code_sha256(),
        "results": {
            "global_step": trainer.state.global_step,
            "epoch": round(trainer.state.epoch, 6),
            "train_loss": mean_train_loss(trainer.state.log_history),
            "first_eval_loss": fitted.logger.first_eval_loss if fitted.logger else None,
            "final_eval_loss": fitted.final_eval.get("eval_loss"),
            "trainable_parameters": sum(p.numel() for p in run.model.parameters() if p.requires_grad),
        },
    }


def finish(run: TrainingRun, fitted: Fitted) -> dict[str, Any]:
    """Save the adapter, then publish the logs and the run information; clean the checkpoints up."""
    params, reports = run.params, Path(run.params.paths.reports)
    provenance = build_provenance(run, fitted)
    if run.ranks.is_main:
        fitted.logger.live.end()
        card = adapter_card(provenance, params.card)
        save_adapter(run.model, run.tokenizer, provenance, card, Path(params.paths.adapter), fitted.state_dict)
        publish(live_staging(params), reports / "train")
        write_run_info(
            reports,
            run.started,
            fitted.result,
            run.resume,
            run.placement.device,
            run.ranks.world_size,
            describe_numerics(params.runtime, bnb_cpu_path(run.model)),
        )
        fitted.logger.perf.end()
    barrier()  # the adapter is complete before any process reports success
    if run.ranks.is_main and not params.train.keep_checkpoints:
        shutil.rmtree(params.paths.checkpoints, ignore_errors=True)
    shutdown()
    return provenance
