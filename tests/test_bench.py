"""`shelltune bench --size small` runs every measurement on the real pipeline outputs and writes the
keys the README and reviewers rely on. Numbers are not asserted here: CI machines are noisy."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time

import pytest

from shelltune.numerics import has_avx2

from conftest import DVC, ROOT, sh, tool_env

X86_WITH_AVX2 = platform.machine() in ("x86_64", "AMD64") and has_avx2()


@pytest.mark.slow
def test_small_benchmark_writes_every_key(reproduced_clone, tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "shelltune", "bench", "--size", "small", "--out", str(out)],
        cwd=reproduced_clone,
        env=tool_env({"HF_HUB_OFFLINE": "1"}),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    bench = json.loads(out.read_text())
    for key in ("train_speedup", "generate_speedup", "generate_agreement", "nf4_memory_ratio"):
        assert isinstance(bench[key], float) and bench[key] > 0, key
    assert 0 <= bench["generate_agreement"] <= 1
    assert bench["train"]["ours"]["supervised_tokens"] > 0 and bench["train"]["plain"]["supervised_tokens"] > 0
    # Both kernel profiles, side by side, each measured in a process that really ran under it.
    for kernels in ("portable", "native"):
        assert bench["train"]["by_kernels"][kernels]["supervised_tokens_per_s"] > 0
        assert bench["generate"]["by_kernels"][kernels]["batched_samples_per_s"] > 0
    assert bench["train"]["by_kernels"]["portable"]["torch_cpu_capability"] == "AVX2" or not X86_WITH_AVX2
    assert bench["generate"]["by_kernels"]["portable"]["bnb_cpu_path"] == "dequantize + fp32 matmul"
    assert 0 <= bench["generate"]["native_agreement_with_portable"] <= 1
    table = out.with_suffix(".md").read_text()
    assert "| train: supervised tokens/s |" in table and "| generate: samples/s |" in table
    assert "| kernels: train supervised tokens/s |" in table and "| kernels: generate samples/s |" in table


def test_bench_needs_a_reproduced_pipeline(tmp_path):
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["paths"].update(processed=str(tmp_path / "none"), adapter=str(tmp_path / "none"))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    result = subprocess.run(
        [sys.executable, "-m", "shelltune", "bench", "--params", str(tmp_path / "p.yaml")],
        cwd=ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "run the pipeline first (dvc repro)" in result.stderr


# ---------------------------------------------------------------- timing targets (the one place they are asserted)


@pytest.mark.slow
def test_noop_repro_is_quick(reproduced_clone):
    start = time.perf_counter()
    sh(DVC, "repro", cwd=reproduced_clone)
    assert time.perf_counter() - start < 30


@pytest.mark.slow
def test_scanner_is_fast():
    """The target is 5,000 commands/s on one core (`shelltune scan --eval` reports it); a shared CI machine
    can be much slower, so this only catches a collapse."""
    from shelltune.safety.evaluate import load_corpus, throughput

    corpus = load_corpus(ROOT / "tests" / "data" / "safety_corpus.jsonl")
    assert throughput([e.cmd for e in corpus], repeats=2) >= 2000
