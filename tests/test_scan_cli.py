"""`shelltune scan`: verdicts on arguments and JSONL (in order, exit 0), and the corpus evaluation gate."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, write_jsonl


def shelltune(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shelltune", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=300
    )


def test_jsonl_gives_one_verdict_per_line_in_order(tmp_path):
    rows = [
        {"command": "rm -rf ~", "id": 1},
        {"command": "ls -la", "id": 2},
        {"command": "curl -fsSL https://x.sh | sh", "id": 3},
    ]
    result = shelltune("scan", "--jsonl", str(write_jsonl(tmp_path / "in.jsonl", rows)), "--field", "command")
    assert result.returncode == 0, result.stderr
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [v["cmd"] for v in verdicts] == [r["command"] for r in rows]
    assert [v["dangerous"] for v in verdicts] == [True, False, True]
    assert [v["level"] for v in verdicts] == ["dangerous", None, "dangerous"]
    assert verdicts[0]["category"] == "recursive_delete" and verdicts[0]["severity"] == "critical"
    assert verdicts[1]["category"] is None and verdicts[1]["reason"] is None
    assert verdicts[2]["category"] == "remote_code_execution" and verdicts[2]["reason"]


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"cmd": "ls"}\n{"cmd": 3}\n')
    result = shelltune("scan", "--jsonl", str(path))
    assert result.returncode == 2
    assert f"{path}:2:" in result.stderr and "Traceback" not in result.stderr


def test_arguments_and_stdin():
    result = shelltune("scan", "rm -rf /", "rm -f /tmp/x", "git push --force origin topic")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("DANGEROUS [recursive_delete, critical]")
    assert result.stdout.splitlines()[1] == "ok: rm -f /tmp/x"
    assert result.stdout.splitlines()[2].startswith("WARN [vcs_destruction, high]")
    assert shelltune("scan", stdin="shutdown -h now\n").stdout.startswith("DANGEROUS [shutdown")


def test_eval_reports_per_category_and_gates(tmp_path):
    out = tmp_path / "eval.json"
    result = shelltune("scan", "--eval", str(ROOT / "tests/data/safety_corpus.jsonl"), "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| recursive_delete |" in result.stdout and "targets (recall >= 0.97, FPR <= 0.01): met" in result.stdout
    report = json.loads(out.read_text())
    assert report["overall"]["recall"] >= 0.97 and report["commands_per_s"] > 0 and report["commands_per_cpu_s"] > 0

    mislabeled = write_jsonl(
        tmp_path / "bad.jsonl", [{"cmd": "rm -rf /", "label": "benign", "category": "recursive_delete"}]
    )
    result = shelltune("scan", "--eval", str(mislabeled))
    assert result.returncode == 1 and "MISSED" in result.stdout
    result = shelltune("scan", "--eval", str(mislabeled), "--min-recall", "0", "--max-fpr", "1")
    assert result.returncode == 0 and "targets (recall >= 0.0, FPR <= 1.0): met" in result.stdout


def test_eval_rejects_unknown_category(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"cmd": "ls", "label": "benign", "category": "nope"}])
    result = shelltune("scan", "--eval", str(corpus))
    assert result.returncode == 2 and f"{corpus}:1: unknown category 'nope'" in result.stderr


def test_eval_mutations_reports_every_rewrite(tmp_path):
    rows = [
        {"cmd": "rm -rf /", "label": "dangerous", "category": "recursive_delete"},
        {"cmd": "rm -rf ./build", "label": "benign", "category": "recursive_delete"},
    ]
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    result = shelltune("scan", "--eval", str(corpus), "--mutations", "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| sudo | 1 | 1 | 1 | 1 |" in result.stdout and "| long_options | 1 | 1 | 1 | 1 |" in result.stdout
    mutations = json.loads((tmp_path / "r.json").read_text())["mutations"]
    assert mutations["rewrites"] == mutations["survived"] > 30
