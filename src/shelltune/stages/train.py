"""The train stage: `dvc repro train` (or `shelltune run train`).

QLoRA: the base loaded in 4-bit (NF4, double quantization) through bitsandbytes, prepared for k-bit
training, LoRA adapters from peft, and TRL's SFTTrainer on conversational prompt/completion examples,
so the loss covers the command tokens only (`shelltune.training`). With `train.num_processes: N > 1` the
stage re-runs itself under `accelerate launch` (`shelltune.distributed`).

Outputs
- `<paths.adapter>/`: adapter_config.json, adapter_model.safetensors, tokenizer and chat template,
  provenance.json (base and revision, dataset fingerprint, params, library versions, code hash,
  losses), and README.md, the model card with what training knows (`shelltune.modelcard`).
  `PeftModel.from_pretrained(base, path)` loads it as is. A DVC output.
- `<paths.reports>/train/`: dvclive metrics and loss curves, steps aligned with the trainer's global
  step; written only when the run succeeds.
- `<paths.reports>/runtime/train.json` and `runtime/train/`: what differs on every run (tokens/s, peak
  memory, wall time, git commit, CPU and kernels). Not DVC outputs, ignored by git.
- with `train.report_to`: the same run in W&B, MLflow or TensorBoard (transformers' integrations), their
  local files under `<paths.reports>/runtime/` unless the environment points them elsewhere.
- `<paths.checkpoints>/`: resumable checkpoints every `save_steps`. If the stage dies (even by
  `kill -9`), running it again resumes from the newest complete checkpoint of the same run.
"""

from __future__ import annotations

import os
from typing import Any

from shelltune.config import Params
from shelltune.distributed import current_ranks, relaunch
from shelltune.entrypoint import Stage
from shelltune.training.run import finish, fit, setup


def run(params: Params) -> dict[str, Any]:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    training = setup(params)
    return finish(training, fit(training))


def summary(params: Params, provenance: dict[str, Any]) -> str:
    if not current_ranks().is_main:  # rank 0 reports for all
        return ""
    results = provenance["results"]
    return (
        f"adapter → {params.paths.adapter}: {results['global_step']} steps, train loss "
        f"{results['train_loss']:.4f}, eval loss {results['first_eval_loss']} → {results['final_eval_loss']}"
    )


STAGE = Stage("train", "QLoRA fine-tuning.", run, summary, uses_torch=True, launch=relaunch)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
