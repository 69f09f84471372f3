"""The validate stage: `dvc repro validate` (or `python -m shelltune.validate`).

Generates a command for every test row with the base model and with base + adapter (greedy, batched,
left-padded, the same system prompt as training), extracts the command from each output and scores it:
exact match, normalized match, command-name accuracy, token F1, command-only rate, shell parse rate.

Writes `<paths.reports>/predictions.jsonl` (one row per test example, both models), and
`<paths.reports>/validate.json` with a `base` and a `tuned` section holding the same keys: DVC metrics.
Latency and throughput vary from run to run, so they go to `<paths.reports>/runtime/validate.json`,
outside dvc.lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.errors import ShelltuneError, run_cli, stage_parser
from shelltune.fileio import read_jsonl, write_json, write_jsonl
from shelltune.inference import Generation, GenerationStats, generate, load_model_and_tokenizer
from shelltune.metrics import aggregate, extract_command, score
from shelltune.numerics import bnb_cpu_path, describe_numerics, load_params_for_torch

MODELS = ("base", "tuned")


def prediction_rows(rows: list[dict[str, Any]], outputs: dict[str, list[Generation]]) -> list[dict[str, Any]]:
    """One record per test row: the request, the gold command, each model's raw output, command and scores."""
    records = []
    for i, row in enumerate(rows):
        record: dict[str, Any] = {"id": row["id"], "instruction": row["instruction"], "gold": row["command"]}
        for name in MODELS:
            text = outputs[name][i].text
            record[f"{name}_output"] = text
            record[f"{name}_command"] = extract_command(text)
            record[f"{name}_scores"] = score(text, row["command"])
        records.append(record)
    return records


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    metrics: dict[str, Any] = {name: aggregate([r[f"{name}_scores"] for r in records]) for name in MODELS}
    metrics["test_rows"] = len(records)
    metrics["exact_match_gain"] = round(metrics["tuned"]["exact_match"] - metrics["base"]["exact_match"], 4)
    return metrics


def load_test_rows(params: Params) -> list[dict[str, Any]]:
    path = Path(params.paths.processed) / "test.jsonl"
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; run the split stage first (dvc repro split)")
    rows = read_jsonl(path)
    if params.validate.limit:
        rows = rows[: params.validate.limit]
    if not rows:
        raise ShelltuneError(f"{path}: the test split is empty (split.fractions.test is 0?)")
    return rows


def validate(params: Params) -> dict[str, Any]:
    rows = load_test_rows(params)
    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    instructions = [r["instruction"] for r in rows]
    settings = dict(max_new_tokens=params.validate.max_new_tokens, batch_size=params.validate.batch_size)
    stats = {name: GenerationStats() for name in MODELS}
    with model.disable_adapter():
        base = generate(model, tokenizer, params.prompt.system, instructions, stats=stats["base"],
                        progress="base model", **settings)
    tuned = generate(model, tokenizer, params.prompt.system, instructions, stats=stats["tuned"],
                     progress="fine-tuned", **settings)
    records = prediction_rows(rows, {"base": base, "tuned": tuned})
    metrics = summarize(records)
    reports = Path(params.paths.reports)
    write_jsonl(reports / "predictions.jsonl", records)
    write_json(reports / "validate.json", metrics)
    write_json(reports / "runtime" / "validate.json",
               {name: stats[name].as_dict("") for name in MODELS} | {"batch_size": params.validate.batch_size,
                "numerics": describe_numerics(params.runtime, bnb_cpu_path(model))})
    return metrics


def format_table(metrics: dict[str, Any]) -> str:
    keys = list(metrics["base"])
    lines = [f"{'metric':<24}{'base':>8}{'tuned':>8}"]
    lines += [f"{key:<24}{metrics['base'][key]:>8.3f}{metrics['tuned'][key]:>8.3f}" for key in keys]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("shelltune validate", "Score base vs fine-tuned on the test set.")
    args = parser.parse_args(argv)

    def entry() -> int:
        metrics = validate(load_params_for_torch(args.params))
        print(f"{metrics['test_rows']} test rows\n{format_table(metrics)}")
        return 0

    return run_cli(entry, argv)


if __name__ == "__main__":
    raise SystemExit(main())
