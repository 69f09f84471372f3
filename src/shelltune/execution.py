"""Execution-based evaluation, from params to the sandbox: which rows to judge, in which world, and the
summary a person reads (`shelltune.sandbox` does the running and judging).

The rows and both models' commands come from the validate stage's predictions: the test split's and
each extra set's (`validate.extra_sets`).
"""

from __future__ import annotations

from pathlib import Path

from shelltune.config import Params
from shelltune.errors import ShelltuneError
from shelltune.evaluation import EXTRA_PREDICTIONS, MODELS
from shelltune.fileio import read_jsonl
from shelltune.sandbox.evaluate import EvalRow, Report
from shelltune.sandbox.fixture import build_world
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.pairs import PairCheck, check_judge, load_pairs
from shelltune.sandbox.runner import Sandbox
from shelltune.sandbox.world import World


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
    return [as_eval_row(r) for r in records]


def extra_rows(params: Params) -> dict[str, list[EvalRow]]:
    """The validate stage's answers to each extra set (`validate.extra_sets`), grouped by set."""
    path = Path(params.paths.reports) / EXTRA_PREDICTIONS
    names = [spec.name for spec in params.validate.extra_sets]
    if not names:
        return {}
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; run the validate stage first (dvc repro validate)")
    sets: dict[str, list[EvalRow]] = {name: [] for name in names}
    for r in read_jsonl(path):
        if r["set"] in sets:
            sets[r["set"]].append(as_eval_row(r))
    missing = [name for name, rows in sets.items() if not rows]
    if missing:
        raise ShelltuneError(f"{path}: no answers to {', '.join(missing)}; run dvc repro validate")
    return sets


def as_eval_row(record: dict) -> EvalRow:
    return EvalRow(record["id"], record["instruction"], record["gold"], {m: record[f"{m}_command"] for m in MODELS})


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
