"""Experiments from a clean clone at a tiny size: `dvc exp run -S` changes one line, a queued sweep runs on two
workers, `dvc exp show` fits 160 columns, every read-only DVC recipe of the docs runs, a bad value costs no
output."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from test_docs import dvc_recipes

from conftest import DVC, copy_run, sh, tool_env


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory, shrunk_run: Path) -> Path:
    """A fresh clone at the tiny size with its own run committed, as a user's repository is before they
    try experiments (its base model's metrics are then the experiments' too): a copy of the shared run."""
    return copy_run(shrunk_run, tmp_path_factory.mktemp("exp") / "repo")


def experiments(repo: Path) -> dict[str, dict]:
    """Experiment name -> its params and metrics, from `dvc exp show --json`."""
    shown = json.loads(sh(DVC, "exp", "show", "--json", cwd=repo, stdout_only=True))
    found = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("name") and data:
                    found[rev["name"]] = {"params": data["params"]["params.yaml"]["data"], "metrics": data["metrics"]}
    return found


# reports/headline.json as DVC names its columns; what differs between experiments on one base model
HEADLINE = [
    "exec.base",
    "exec.tuned",
    "exact.base",
    "exact.tuned",
    "people_exec.base",
    "people_exec.tuned",
    "dangerous_rate",
    "eval_loss",
]
CHANGING = [name for name in HEADLINE if not name.endswith(".base")]
READ_ONLY = {
    ("exp", "show"),
    ("metrics", "show"),
    ("metrics", "diff"),
    ("params", "diff"),
    ("plots", "show"),
    ("plots", "diff"),
    ("status",),
}


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def table(repo: Path, *args: str, columns: int = 1000) -> str:
    """`dvc ...` as a terminal of `columns` shows it (1000: its natural width)."""
    return sh(DVC, *args, cwd=repo, stdout_only=True, env={"COLUMNS": str(columns)})


def queue_report(repo: Path, status: str) -> str:
    """What a stuck queue leaves to read: its status, each worker's log and the DVC processes still running."""
    parts = [status]
    for log in sorted((repo / ".dvc" / "tmp" / "exps" / "celery").glob("*.out")):
        parts.append(f"--- {log.name} (last 3000 characters)\n{log.read_text(errors='replace')[-3000:]}")
    ps = subprocess.run(["ps", "-eo", "pid,ppid,etime,args"], capture_output=True, text=True, check=False).stdout
    ours = [line for line in ps.splitlines() if "dvc" in line or "shelltune" in line]
    parts.append("--- processes\n" + "\n".join(ours))
    return "\n".join(parts)


def run_queue(repo: Path, named: dict[str, str], workers: int) -> None:
    """Queue one experiment per name (`-S` setting), run the queue with `workers` workers and wait for it."""
    for name, setting in named.items():
        sh(DVC, "exp", "run", "--queue", "-n", name, "-S", setting, cwd=repo)
    # the workers' launcher keeps the descriptors of whoever started it until its worker ends: started with
    # pipes, `dvc queue start` would not return until the sweep is over (a stuck worker once held a CI run
    # for the whole 900-second timeout this way, with nothing to show for it)
    with open(repo.parent / "queue-start.log", "w") as log:
        started = subprocess.run(
            [DVC, "queue", "start", "-j", str(workers)], cwd=repo, env=tool_env(), stdout=log, stderr=log, timeout=120
        )
    assert started.returncode == 0, (repo.parent / "queue-start.log").read_text()
    try:
        deadline = time.time() + 420  # two experiments at once take about 75 s on 2 cores
        idle_since = None
        while True:
            status = sh(DVC, "queue", "status", cwd=repo)
            if "Queued" not in status and "Running" not in status:
                break
            # an experiment queued for 90 s with no worker to take it (workers take seconds to start and end
            # 10 s after the queue empties) will never run: say so then, not at the deadline
            if "Running" in status or "Worker status: 0 active, 0 idle" not in status:
                idle_since = None
            elif idle_since is None:
                idle_since = time.time()
            stuck = idle_since is not None and time.time() - idle_since > 90
            if stuck or time.time() > deadline:
                pytest.fail(("queued, and no worker for 90 s\n" if stuck else "") + queue_report(repo, status))
            time.sleep(5)
        assert status.count("Success") >= len(named), queue_report(repo, status)
    finally:
        sh(DVC, "queue", "stop", "--kill", cwd=repo, check=False)


@pytest.mark.slow
def test_exp_run_a_queued_sweep_and_exp_show_in_160_columns(tiny_repo: Path):
    """One experiment run in the workspace (`-S` changes one line of params.yaml), two queued and run by two
    workers at once, then the documented views of all three and every read-only recipe of the docs."""
    out = sh(DVC, "exp", "run", "-n", "rank8", "-S", "lora.r=8", cwd=tiny_repo)
    assert "Ran experiment(s): rank8" in out
    changed = sh("git", "diff", "--numstat", "params.yaml", cwd=tiny_repo, stdout_only=True)
    assert changed.split() == ["1", "1", "params.yaml"], sh("git", "diff", cwd=tiny_repo)
    sh("git", "checkout", "params.yaml", cwd=tiny_repo)
    run_queue(tiny_repo, {"sweep-r2": "lora.r=2", "lr2e-2": "train.learning_rate=0.02"}, workers=2)
    found = experiments(tiny_repo)
    assert found["rank8"]["params"]["lora"]["r"] == 8 and found["sweep-r2"]["params"]["lora"]["r"] == 2
    assert found["lr2e-2"]["params"]["train"]["learning_rate"] == 0.02
    assert list(found["rank8"]["metrics"]) == ["reports/headline.json"]

    # the documented daily view: what differs, no file hashes. The tiny model's metrics barely move, so the
    # fine-tuned model's are kept as a real run would show them (the base's do not change between experiments)
    keep = "|".join(CHANGING)
    shown = table(tiny_repo, "exp", "show", "--no-pager", "--only-changed", "--drop", ".*/|Executor", "--keep", keep)
    # queued experiments add DVC's own State column (`-` for the workspace's)
    header = [name for name in shown.splitlines()[1].split() if name != "State"]
    # the headline metrics lead: the fine-tuned model's (the base's are the same in every row)
    metrics = 2 + sum(name in HEADLINE for name in header[2:])
    assert header[:2] == ["Experiment", "Created"] and set(CHANGING) <= set(header[2:metrics]), header
    assert {"lora.r", "train.learning_rate"} <= set(header[metrics:]), header
    assert widest(shown) <= 160, shown
    plain = table(tiny_repo, "exp", "show", "--no-pager", "--only-changed", "--drop", ".*/|Executor", columns=160)
    assert "…" not in plain and "rank8" in plain and "lr2e-2" in plain, plain
    assert widest(table(tiny_repo, "metrics", "show")) <= 160

    # every read-only recipe the docs show runs against these experiments
    for page, argv in dvc_recipes():
        if tuple(argv[:2]) in READ_ONLY or tuple(argv[:1]) in READ_ONLY:
            result = subprocess.run(
                [DVC, *argv, "--no-pager"] if argv[:2] == ["exp", "show"] else [DVC, *argv],
                cwd=tiny_repo,
                env=tool_env({"COLUMNS": "160"}),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, f"{page}: dvc {' '.join(argv)}: {result.stderr}"


@pytest.mark.slow
def test_a_bad_value_stops_the_run_before_any_output_is_removed(tiny_repo: Path):
    adapter = tiny_repo / "models" / "adapter"
    before = sorted(p.name for p in adapter.iterdir())
    for setting, message in [
        ("lora.r=eight", "error: params.yaml: lora.r: expected a number (got 'eight')"),
        ("train.max_steps=0", "train.max_steps: must be positive, or -1 to train for `epochs` (got 0)"),
        ("lora.rr=8", "Key 'rr' is not in struct"),
    ]:
        result = subprocess.run(
            [DVC, "exp", "run", "-S", setting],
            cwd=tiny_repo,
            env=tool_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode != 0 and message in result.stdout + result.stderr, result.stdout + result.stderr
        assert "Running stage 'train'" not in result.stdout
        assert sorted(p.name for p in adapter.iterdir()) == before, setting
        sh("git", "checkout", "params.yaml", cwd=tiny_repo)
