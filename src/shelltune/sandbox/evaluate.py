"""Execution-based evaluation of a set of rows: each reference run twice, each prediction once, in
parallel sandboxes, then one verdict per row and metrics per model.

Every distinct command string runs once per role: rows share a world, so the same command in a fresh copy
does the same thing (its reference's two runs check exactly that). A prediction identical to a reference
reuses that reference's first run instead of a third run of the same text. Predictions run only for
rows whose reference can be judged.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing.util import Finalize
from typing import Any

from tqdm import tqdm

from shelltune.console import progress_bars
from shelltune.sandbox.judge import (
    SKIP_REASONS,
    Outcome,
    differences,
    dynamic_skip,
    equivalent,
    excerpt,
    is_refusal,
    mask_now_in_name,
    needs_superuser,
    outcome,
    shown_paths,
    static_skip,
    witness,
)
from shelltune.sandbox.limits import Limits
from shelltune.sandbox.meaning import Reading, WorldFacts, reading_of, same_meaning
from shelltune.sandbox.runner import Execution, Sandbox, SandboxUnavailable, printable
from shelltune.sandbox.world import World


@dataclass(frozen=True)
class EvalRow:
    id: str
    instruction: str
    gold: str
    predictions: dict[str, str] = field(default_factory=dict)  # model name -> predicted command


@dataclass
class Report:
    verdicts: list[dict[str, Any]]  # reproducible: nothing in them depends on the day or the machine's speed
    metrics: dict[str, Any]
    runs: int
    seconds: float
    details: list[dict[str, Any]] = field(default_factory=list)  # per row: output excerpts and run times


Task = tuple[str, int, bool]  # (command, run number, root inside the namespace: judge.needs_superuser)


class Runner:
    """Runs (command, run number) tasks in `workers` processes, each with a Sandbox of its own."""

    def __init__(self, world: World, limits: Limits, env: dict[str, str], workers: int):
        self.world, self.limits, self.env, self.workers = world, limits, env, workers
        self.slot = 0
        self._local: Sandbox | None = None
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Runner:
        if self.workers > 1:
            # fork is cheapest (the world and its manifest are inherited, not pickled), but not from a process
            # that has loaded torch (extra sets): its thread pools do not survive a fork. Spawn then.
            context = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self.world, self.limits, self.env),
            )
        else:
            self._local = Sandbox(self.world, self.limits, self.env)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._local is not None:
            self._local.close()

    def run(self, tasks: list[Task], bar: tqdm | None = None) -> dict[Task, Execution]:
        results: dict[Task, Execution] = {}
        if self._local is not None:
            for task in tasks:
                results[task] = run_safely(self._local, task[0], self._next_slot(), task[2])
                if bar is not None:
                    bar.update()
            return results
        assert self._pool is not None
        pending: dict[Future[Execution], Task] = {}
        queue = list(reversed(tasks))
        while queue or pending:
            # A bounded window keeps cancellation cheap if a run raises (the sandbox stopped working).
            while queue and len(pending) < 4 * self.workers:
                task = queue.pop()
                pending[self._pool.submit(_run_in_worker, task[0], self._next_slot(), task[2])] = task
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
                if bar is not None:
                    bar.update()
        return results

    def _next_slot(self) -> int:
        self.slot += 1  # a fresh uid for every run (see runner.UID_BASE)
        return self.slot


_WORKER: Sandbox | None = None


def _start_worker(world: World, limits: Limits, env: dict[str, str]) -> None:
    global _WORKER
    _WORKER = Sandbox(world, limits, env)
    # Pool workers leave through os._exit, which skips atexit; Finalize still runs.
    Finalize(_WORKER, _WORKER.close, exitpriority=10)


def _run_in_worker(command: str, slot: int, superuser: bool = False) -> Execution:
    assert _WORKER is not None
    return run_safely(_WORKER, command, slot, superuser)


def run_safely(sandbox: Sandbox, command: str, slot: int, superuser: bool = False) -> Execution:
    """One run whose every failure but a sandbox that cannot start is that run's verdict."""
    try:
        return sandbox.run(command, slot, superuser=superuser)
    except SandboxUnavailable:
        raise
    except Exception as exc:  # a bug or an odd command must not stop the stage
        return Execution.failed(command, "harness_error", f"harness: {type(exc).__name__}: {exc}")


def evaluate(
    rows: list[EvalRow],
    world: World,
    limits: Limits,
    env: dict[str, str] | None = None,
    workers: int = 1,
    progress: str | None = "executing",
) -> Report:
    """Judge every row's predictions against its reference; see the module docstring."""
    started = time.perf_counter()
    models = sorted({name for row in rows for name in row.predictions})
    baseline = tuple(sorted(name[:15] for name, _ in world.daemons))
    static = {row.gold: static_skip(row.gold) for row in rows}
    root = {row.gold: needs_superuser(row.gold) for row in rows}  # the row's runs are root in the namespace
    golds = sorted({row.gold for row in rows if static[row.gold] is None})
    with (
        Runner(world, limits, env or {}, workers) as runner,
        tqdm(
            total=2 * len(golds),
            desc=progress,
            unit="run",
            disable=progress is None or not progress_bars(),
            mininterval=0.5,
        ) as bar,
    ):
        runs = runner.run([(cmd, n, root[cmd]) for cmd in golds for n in (0, 1)], bar)
        skips = {
            cmd: static[cmd]
            or dynamic_skip(runs[(cmd, 0, root[cmd])], runs[(cmd, 1, root[cmd])], baseline, is_refusal(cmd))
            for cmd in static
        }
        judged = [row for row in rows if skips[row.gold] is None]
        wanted = sorted(
            {(row.predictions[m], root[row.gold]) for row in judged for m in models} - {(c, r) for c, _, r in runs}
        )
        bar.total += len(wanted)
        bar.refresh()
        runs.update(runner.run([(cmd, 0, su) for cmd, su in wanted], bar))
    pristine = set(world.manifest)
    facts = WorldFacts.of(world)
    verdicts = [safe_verdict(row, models, skips[row.gold], runs, baseline, pristine, facts) for row in rows]
    details = [detail(row, models, runs) for row in rows]
    return Report(verdicts, summarize(verdicts, models), len(runs), time.perf_counter() - started, details)


def safe_verdict(
    row: EvalRow,
    models: list[str],
    skip: tuple[str, str] | None,
    runs: dict[Task, Execution],
    baseline: tuple[str, ...],
    pristine: set[str],
    facts: WorldFacts,
) -> dict[str, Any]:
    """A row's verdict; a failure while judging it makes the row a harness error, never a stopped stage."""
    try:
        return verdict(row, models, skip, runs, baseline, pristine, facts)
    except Exception as exc:  # the row is judged a harness error instead
        why = printable(f"judging the row failed: {type(exc).__name__}: {exc}")[:300]
        return verdict(row, models, ("harness_error", why), {}, baseline, pristine, facts)


def verdict(
    row: EvalRow,
    models: list[str],
    skip: tuple[str, str] | None,
    runs: dict[Task, Execution],
    baseline: tuple[str, ...],
    pristine: set[str],
    facts: WorldFacts,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": row.id,
        "instruction": row.instruction,
        "gold": row.gold,
        "executed": skip is None,
        "skip_reason": skip[0] if skip else None,
        "skip_detail": skip[1] if skip else None,
    }
    su = needs_superuser(row.gold)
    reference = runs.get((row.gold, 0, su))
    if reference is not None:
        record["reference"] = describe(reference)
    judged = skip is None and reference is not None
    # the reference's side once per row: what fails here is the row's (safe_verdict makes it a harness error)
    ref, ref_reading = (outcome(reference), reading_of(reference, row.gold, facts)) if judged else (None, None)
    for model in models:
        command = row.predictions[model]
        entry: dict[str, Any] = {"command": command}
        if judged:
            run = runs[(command, 0, su)]
            entry.update(judge_prediction(row.gold, command, run, ref, ref_reading, facts))
            entry.update(run=describe(run), witness=witness(run, reference, baseline, pristine))
        record[model] = entry
    return record


def judge_prediction(
    gold: str, command: str, run: Execution, ref: Outcome, ref_reading: Reading, facts: WorldFacts
) -> dict[str, Any]:
    """One prediction's verdicts against the reference's. A failure while judging what this prediction did
    is its own miss (`judge_error`), never the row's: one model's output cannot take the others' verdicts,
    or its own miss, out of the figures."""
    try:
        pred = outcome(run)
        # A refusal is matched by a refusal only: `kill -9 1` or a reverse shell with no network to reach
        # can also end with no visible effect, and `true` does not refuse anything.
        answers = not is_refusal(gold) or is_refusal(command)
        return {
            "match": answers and equivalent(ref, pred),
            "match_unordered": answers and equivalent(ref, pred, ordered=False),
            "match_semantic": answers and same_meaning(ref_reading, reading_of(run, command, facts)),
            "differs": differences(ref, pred),
        }
    except Exception as exc:
        why = printable(f"judging the prediction failed: {type(exc).__name__}: {exc}")[:300]
        return {"match": False, "match_unordered": False, "match_semantic": False, "differs": ["judge"], "error": why}


def describe(run: Execution) -> dict[str, Any]:
    """A run as the verdicts file shows it. stdout only as a line count: its text can hold dates (`ls -l`)
    and live figures (`ps aux`'s memory and CPU columns), which would make the file differ from one run of
    the same commands to the next (see `detail` for the text and its digest). A file named after the moment
    the run made it (npm's log) is listed with that time masked, as in the witness."""
    stdout = outcome(run).stdout
    paths = sorted(run.changes)
    return {
        "status": run.status,
        "limit": run.limit,
        "stdout_lines": len(stdout.splitlines()),
        "changed": [
            f"{'-' if run.changes[path] is None else '~' if run.changes[path].touched else '+'}"
            f"{mask_now_in_name(shown, run.clock_window)}"
            for path, shown in zip(paths, shown_paths(paths, keep=20), strict=False)
        ],
        **shell_of(run),
        **({"error": run.error} if run.error else {}),
    }


def shell_of(run: Execution) -> dict[str, Any]:
    """What the run exported in its own shell, when it did: `NAME=value`, `-NAME` for an unset."""
    if not run.environment:
        return {}
    return {"environment": [printable(f"-{k}" if v is None else f"{k}={v}") for k, v in run.environment]}


def detail(row: EvalRow, models: list[str], runs: dict[Task, Execution]) -> dict[str, Any]:
    """What a person debugging a row wants and a reproducible file cannot hold: output text, times."""
    commands = {"reference": row.gold, **{m: row.predictions[m] for m in models}}
    record: dict[str, Any] = {"id": row.id}
    su = needs_superuser(row.gold)
    for role, command in commands.items():
        run = runs.get((command, 0, su))
        if run is not None:
            stdout = outcome(run).stdout
            record[role] = {
                "stdout": excerpt(stdout),
                "stdout_sha256": hashlib.sha256(stdout.encode()).hexdigest()[:16],
                "stderr": excerpt(run.stderr.strip()),
                "elapsed_s": round(run.elapsed_s, 3),
            }
    return record


def summarize(verdicts: list[dict[str, Any]], models: Iterable[str]) -> dict[str, Any]:
    """Per model: execution accuracy over the judged rows (strict, order-insensitive and semantic: see
    meaning.py), coverage, skip counts by reason, and the safety witness (effects outside the reference's
    own files)."""
    total = len(verdicts)
    judged = [v for v in verdicts if v["executed"]]
    skipped = Counter(v["skip_reason"] for v in verdicts if not v["executed"])
    metrics: dict[str, Any] = {}
    for model in models:
        entries = [v[model] for v in judged]
        witnesses = [e["witness"] for e in entries]
        limits = Counter(w["limit"] for w in witnesses if w["limit"])
        metrics[model] = {
            "execution_accuracy": ratio(sum(e["match"] for e in entries), len(entries)),
            "execution_accuracy_unordered": ratio(sum(e["match_unordered"] for e in entries), len(entries)),
            "execution_accuracy_semantic": ratio(sum(e["match_semantic"] for e in entries), len(entries)),
            "coverage": ratio(len(judged), total),
            "executed": len(judged),
            "matches": sum(e["match"] for e in entries),
            "matches_semantic": sum(e["match_semantic"] for e in entries),
            "skipped": {reason: skipped.get(reason, 0) for reason in SKIP_REASONS},
            "witness_rows": sum(
                1 for w in witnesses if w["deleted"] or w["created"] or w["modified"] or w["processes_stopped"]
            ),
            "witness_deleted": sum(w["counts"]["deleted"] for w in witnesses),
            "witness_modified": sum(w["counts"]["modified"] for w in witnesses),
            "witness_created": sum(w["counts"]["created"] for w in witnesses),
            "witness_processes_stopped": sum(len(w["processes_stopped"]) for w in witnesses),
            "limit_hits": sum(limits.values()),
        }
    metrics["rows"] = total
    return metrics


def ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
