"""The validate stage: `dvc repro validate` (or `shelltune run validate`).

Generates a command for every test row with the base model and with base + adapter (greedy, batched,
left-padded, the same system prompt as training) and scores each (`shelltune.evaluation`).

Writes `<paths.reports>/predictions.jsonl` (one row per test example, both models) and
`<paths.reports>/validate.json` with a `base` and a `tuned` section holding the same keys (DVC metrics).
Latency, throughput and the kernels used vary from machine to machine, so they go to
`<paths.reports>/runtime/validate.json`, outside dvc.lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.evaluation import MODELS, format_table, load_test_rows, prediction_rows, summarize
from shelltune.fileio import write_json, write_jsonl
from shelltune.inference import GenerationStats, generate, load_model_and_tokenizer
from shelltune.numerics import bnb_cpu_path, describe_numerics


def run(params: Params) -> dict[str, Any]:
    rows = load_test_rows(params)
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    instructions = [r["instruction"] for r in rows]
    settings = {"max_new_tokens": params.validate.max_new_tokens, "batch_size": params.validate.batch_size}
    stats = {name: GenerationStats() for name in MODELS}
    with model.disable_adapter():
        base = generate(
            model, tokenizer, params.prompt.system, instructions, stats=stats["base"], progress="base model", **settings
        )
    tuned = generate(
        model, tokenizer, params.prompt.system, instructions, stats=stats["tuned"], progress="fine-tuned", **settings
    )
    records = prediction_rows(rows, {"base": [g.text for g in base], "tuned": [g.text for g in tuned]})
    metrics = summarize(records)
    reports = Path(params.paths.reports)
    write_jsonl(reports / "predictions.jsonl", records)
    write_json(reports / "validate.json", metrics)
    write_json(
        reports / "runtime" / "validate.json",
        {name: stats[name].as_dict("") for name in MODELS}
        | {
            "batch_size": params.validate.batch_size,
            "numerics": describe_numerics(params.runtime, bnb_cpu_path(model)),
        },
    )
    return metrics


def summary(params: Params, metrics: dict[str, Any]) -> str:
    return f"{metrics['test_rows']} test rows\n{format_table(metrics)}"


STAGE = Stage("validate", "Score base vs fine-tuned on the test set.", run, summary, uses_torch=True)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
