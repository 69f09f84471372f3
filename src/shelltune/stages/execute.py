"""The execute stage: `dvc repro execute` (or `shelltune run execute`).

Runs every test row's reference command twice and each model's prediction once in a bubblewrap sandbox,
over fresh copies of a fixture world (`execute.fixture`: the built-in seeded world, or one a setup script
builds) with a fake clock starting at `execute.clock` whatever the real date, and compares what they did:
exit status, normalized stdout, the resulting file tree and the background processes left
(`shelltune.execution`, `shelltune.sandbox`). Rows the sandbox cannot judge are skipped with a reason.
The extra evaluation sets the validate stage answered (`validate.extra_sets`) are run the same way.

Writes `<paths.reports>/execute.json` (per model: execution accuracy over the executed rows, strict,
order-insensitive and semantic, coverage, skips by reason, the safety witness; the same per extra set; and
`judge`: both judges' accuracy, recall and specificity on the labeled pairs `execute.judge_pairs`, all
and per part, measured in the same world) and
`<paths.reports>/executions.jsonl` (one verdict per row and set; reproducible from day to day). Wall time
goes to `<paths.reports>/runtime/execute.json` and each run's output text and time to
`<paths.reports>/runtime/executions_detail.jsonl`, outside dvc.lock. Fails with one line when the sandbox
cannot start or libfaketime is missing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.execution import (
    check_judge_pairs,
    check_sandbox,
    extra_rows,
    format_summary,
    limits_of,
    make_world,
    test_rows,
)
from shelltune.fileio import write_json, write_jsonl
from shelltune.sandbox.evaluate import Report, evaluate


def run(params: Params) -> dict[str, Any]:
    """Every set's Report; the judge's check on the labeled pairs, when made, is under "judge_pairs"."""
    sets = {"test": test_rows(params), **extra_rows(params)}
    limits, env, workers = limits_of(params), dict(params.execute.fixture.env), params.execute.workers
    reports: dict[str, Report] = {}
    with tempfile.TemporaryDirectory(prefix="shelltune-execute-") as scratch:
        world = make_world(params, Path(scratch))
        check_sandbox(world, limits, env)
        for name, rows in sets.items():
            reports[name] = evaluate(rows, world, limits, env, workers, progress=f"executing {name}")
        judge = check_judge_pairs(params, world, limits, workers)
    metrics: dict[str, Any] = reports["test"].metrics | {
        "extra": {name: r.metrics for name, r in reports.items() if name != "test"},
        "judge": judge.metrics() if judge else None,
    }
    out = Path(params.paths.reports)
    write_jsonl(out / "executions.jsonl", [{"set": name, **v} for name, r in reports.items() for v in r.verdicts])
    write_json(out / "execute.json", metrics)
    runtime = {
        name: {"seconds": round(r.seconds, 2), "runs": r.runs, "workers": workers} for name, r in reports.items()
    }
    if judge:
        runtime["judge_pairs"] = {"seconds": round(judge.seconds, 2), "pairs": judge.pairs, "workers": workers}
    write_json(out / "runtime" / "execute.json", runtime)
    write_jsonl(
        out / "runtime" / "executions_detail.jsonl",
        [{"set": name, **d} for name, r in reports.items() for d in r.details],
    )
    return reports | ({"judge_pairs": judge} if judge else {})


def summary(params: Params, reports: dict[str, Any]) -> str:
    lines = [format_summary(name, r) for name, r in reports.items() if isinstance(r, Report)]
    if "judge_pairs" in reports:
        lines.append(reports["judge_pairs"].summary())
    return "\n".join(lines)


STAGE = Stage("execute", "Execution-based evaluation in a sandbox.", run, summary)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
