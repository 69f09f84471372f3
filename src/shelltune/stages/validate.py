"""The validate stage: `dvc repro validate` (or `shelltune run validate`).

Generates a command for every test row, and for every row of the extra evaluation sets
(`validate.extra_sets`: by default the project's own set written the way people type,
`data/eval/people.jsonl`), with the base model and with base + adapter (greedy, batched, left-padded, the
same system prompt as training) and scores each (`shelltune.evaluation`).

Writes `<paths.reports>/predictions.jsonl` (one row per test example, both models),
`<paths.reports>/extra_predictions.jsonl` (the same per extra-set row, with its `set`) and
`<paths.reports>/validate.json` with a `base` and a `tuned` section holding the same keys, and the same
per extra set under `extra` (DVC metrics). Latency, throughput and the kernels used vary from machine to
machine, so they go to `<paths.reports>/runtime/validate.json`, outside dvc.lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.evaluation import (
    EXTRA_PREDICTIONS,
    MODELS,
    format_table,
    load_extra_sets,
    load_test_rows,
    load_train_rows,
    mark_seen_utilities,
    prediction_rows,
    summarize,
)
from shelltune.fileio import write_json, write_jsonl
from shelltune.inference import GenerationStats, generate, load_model_and_tokenizer
from shelltune.numerics import bnb_cpu_path, describe_numerics


def run(params: Params) -> dict[str, Any]:
    sets = {"test": load_test_rows(params), **load_extra_sets(params)}
    train_rows = load_train_rows(params)
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    # One generation per model over every set: batches of similar length across sets pad least.
    instructions = [row["instruction"] for rows in sets.values() for row in rows]
    settings = {"max_new_tokens": params.validate.max_new_tokens, "batch_size": params.validate.batch_size}
    stats = {name: GenerationStats() for name in MODELS}
    with model.disable_adapter():
        base = generate(
            model, tokenizer, params.prompt.system, instructions, stats=stats["base"], progress="base model", **settings
        )
    tuned = generate(
        model, tokenizer, params.prompt.system, instructions, stats=stats["tuned"], progress="fine-tuned", **settings
    )
    records, start = {}, 0
    for name, rows in sets.items():
        part = slice(start, start + len(rows))
        outputs = {"base": [g.text for g in base[part]], "tuned": [g.text for g in tuned[part]]}
        records[name] = prediction_rows(rows, outputs)
        mark_seen_utilities(records[name], train_rows)
        start += len(rows)
    metrics = summarize(records["test"])
    metrics["extra"] = {name: summarize(records[name], "rows") for name in sets if name != "test"}
    reports = Path(params.paths.reports)
    write_jsonl(reports / "predictions.jsonl", records["test"])
    write_jsonl(
        reports / EXTRA_PREDICTIONS, [{"set": name, **r} for name in sets if name != "test" for r in records[name]]
    )
    write_json(reports / "validate.json", metrics)
    write_json(
        reports / "runtime" / "validate.json",
        {name: stats[name].as_dict("") for name in MODELS}
        | {
            "batch_size": params.validate.batch_size,
            "rows": len(instructions),
            "numerics": describe_numerics(params.runtime, bnb_cpu_path(model)),
        },
    )
    return metrics


def summary(params: Params, metrics: dict[str, Any]) -> str:
    parts = [f"{metrics['test_rows']} test rows\n{format_table(metrics)}"]
    parts += [f"{name}: {m['rows']} rows\n{format_table(m)}" for name, m in metrics["extra"].items()]
    return "\n".join(parts)


STAGE = Stage("validate", "Score base vs fine-tuned on the test set.", run, summary, uses_torch=True)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
