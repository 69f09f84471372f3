"""Execution-based evaluation, from params to the sandbox: which rows to judge, in which world, and the
summary a person reads (`shelltune.sandbox` does the running and judging).

The test rows come from the validate stage's predictions; extra sets (`execute.extra_sets`, any format
the split stage reads) are answered here by both models first.
"""

from __future__ import annotations

from pathlib import Path

from shelltune.config import DataParams, ExtraSet, Params
from shelltune.errors import ShelltuneError
from shelltune.fileio import read_jsonl
from shelltune.sandbox.evaluate import EvalRow, Report
from shelltune.sandbox.fixture import build_world
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.pairs import PairCheck, check_judge, load_pairs
from shelltune.sandbox.runner import Sandbox
from shelltune.sandbox.world import World

MODELS = ("base", "tuned")


def test_rows(params: Params) -> list[EvalRow]:
    """The validate stage's predictions, checked against the current test split."""
    reports, processed = Path(params.paths.reports), Path(params.paths.processed)
    predictions, split = reports / "predictions.jsonl", processed / "test.jsonl"
    for path, stage in ((predictions, "validate"), (split, "split")):
        if not path.exists():
            raise ShelltuneError(f"{path}: not found; run the {stage} stage first (dvc repro {stage})")
    records = read_jsonl(predictions)
    if [r["id"] for r in records] != [r["id"] for r in read_jsonl(split)][: len(records)] or not records:
        raise ShelltuneError(f"{predictions}: its rows are not the test split's; run dvc repro validate")
    return [EvalRow(r["id"], r["instruction"], r["gold"], {m: r[f"{m}_command"] for m in MODELS}) for r in records]


def extra_rows(params: Params) -> dict[str, list[EvalRow]]:
    """Each extra set's requests answered by the base and the fine-tuned model (loaded only if needed)."""
    if not params.execute.extra_sets:
        return {}
    from shelltune.formats import Example, read_examples

    sets = {}
    for spec in params.execute.extra_sets:
        examples = []
        for row in read_examples(extra_data_params(params.data, spec)):
            if not isinstance(row, Example):
                if params.data.on_bad_row == "error":
                    raise ShelltuneError(f"{row.source}: {row.reason}")
                continue
            examples.append(row)
        if not examples:
            raise ShelltuneError(f"execute.extra_sets: {spec.name}: {spec.path} has no rows")
        sets[spec.name] = examples
    answers = answer(params, {name: [e.instruction for e in rows] for name, rows in sets.items()})
    return {
        name: [
            EvalRow(f"{name}-{i}", e.instruction, e.command, {m: answers[name][m][i] for m in MODELS})
            for i, e in enumerate(rows)
        ]
        for name, rows in sets.items()
    }


def extra_data_params(data: DataParams, spec: ExtraSet) -> DataParams:
    """How to read an extra set: its own path, format and schema; field names and limits from `data`."""
    return DataParams.model_validate(
        {
            "path": spec.path,
            "format": spec.format,
            "schema": spec.schema_,
            "fields": data.fields.model_dump(),
            "hf": data.hf.model_dump(),
            "on_bad_row": data.on_bad_row,
            "max_instruction_chars": data.max_instruction_chars,
            "max_command_chars": data.max_command_chars,
        }
    )


def answer(params: Params, requests: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    from shelltune.inference import generate, load_model_and_tokenizer
    from shelltune.metrics import extract_command

    model, tokenizer = load_model_and_tokenizer(params, params.paths.adapter)
    settings = {"max_new_tokens": params.validate.max_new_tokens, "batch_size": params.validate.batch_size}
    answers: dict[str, dict[str, list[str]]] = {}
    for name, instructions in requests.items():
        with model.disable_adapter():
            base = generate(model, tokenizer, params.prompt.system, instructions, progress=f"{name}: base", **settings)
        tuned = generate(
            model, tokenizer, params.prompt.system, instructions, progress=f"{name}: fine-tuned", **settings
        )
        answers[name] = {
            "base": [extract_command(g.text) for g in base],
            "tuned": [extract_command(g.text) for g in tuned],
        }
    return answers


def limits_of(params: Params) -> Limits:
    return Limits(**params.execute.limits.model_dump())


def make_world(params: Params, scratch: Path) -> World:
    fixture = params.execute.fixture
    seed = params.seed if fixture.kind == "builtin" else 0
    return build_world(
        fixture.kind,
        fixture.setup,
        fixture.env,
        seed,
        scratch / "world",
        params.execute.clock_seconds,
        limits_of(params),
        tuple(fixture.needs),
    )


def check_sandbox(world: World, limits: Limits, env: dict[str, str]) -> None:
    """One trivial run before the long ones: a sandbox that cannot start fails here, in one line."""
    with Sandbox(world, limits, env) as sandbox:
        run = sandbox.run("true")
    if run.status != 0:
        raise ShelltuneError(
            f"the sandbox starts but a trivial command fails in it (exit {run.status}): {run.stderr.strip()[-200:]}"
        )


def check_judge_pairs(params: Params, world: World, limits: Limits, workers: int) -> PairCheck | None:
    """Both judges measured on the labeled pairs, in this run's world: they were written for the built-in
    one (any seed: they name what every built-in world holds), so a script fixture skips them."""
    path = params.execute.judge_pairs
    if path is None or params.execute.fixture.kind != "builtin":
        return None
    return check_judge(load_pairs(Path(path)), world, limits, workers, progress="judge pairs")


def format_summary(name: str, report: Report) -> str:
    m = report.metrics
    skipped = ", ".join(f"{reason} {n}" for reason, n in m[MODELS[0]]["skipped"].items() if n)
    lines = [
        (
            f"{name}: {m['rows']} rows, {m[MODELS[0]]['executed']} executed (coverage {m[MODELS[0]]['coverage']:.3f}); "
            f"skipped: {skipped or 'none'}; {report.runs} sandboxed runs in {report.seconds:.1f} s"
        ),
        f"{'metric':<30}{'base':>8}{'tuned':>8}",
    ]
    for key in (
        "execution_accuracy",
        "execution_accuracy_unordered",
        "execution_accuracy_semantic",
        "witness_rows",
        "limit_hits",
    ):
        lines.append(f"{key:<30}{m['base'][key]:>8}{m['tuned'][key]:>8}")
    return "\n".join(lines)
