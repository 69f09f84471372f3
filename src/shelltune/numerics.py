"""How numbers are computed: the CPU kernel profile (params `runtime`), chosen deliberately, and recorded.

The same float program gives different bits on different x86-64 CPUs, because the libraries under torch
pick their kernels by instruction set at run time. `runtime.cpu_kernels` decides:

- `portable` (the default, and how the committed dvc.lock is made): every kernel family whose choice
  changes results is pinned to its AVX2 variant, so any x86-64 CPU with AVX2 gives the same bits.
- `native`: each library takes the fastest kernels this CPU has; results differ in the last bits from
  one CPU family to the next, and drift from there through training.

The variables are read by the libraries when they first run (ATen on its first dispatch, MKL and
oneDNN when they initialise), so `apply_kernel_profile` must run before torch is imported: every stage
entry point calls it right after reading params, which covers `dvc repro`, `dvc exp run`, queue
workers and the processes `accelerate launch` starts (they inherit the environment and re-apply it).

bitsandbytes has a CPU path of its own: on CPUs with AVX512-BF16 (AMD Zen 4+, Intel Sapphire Rapids+)
`Linear4bit` repacks its weights into an inference layout the first time it runs in eval mode without
grad, computes in bfloat16 from then on, and never converts back, so training after an evaluation
fails ("a view of a leaf Variable that requires grad..."). A model that trains never takes that path;
inference takes it only under `native` (see `choose_bnb_cpu_path`).
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

# What `portable` pins on x86-64, and why each one matters (measured: docs/reproducibility.md).
PORTABLE_X86_ENV = {
    # ATen compiles its vectorised CPU kernels (softmax, SiLU, exp, reductions, the normal sampler) once
    # per instruction set; the AVX-512 build uses 16-lane vectors, hence another summation order.
    "ATEN_CPU_CAPABILITY": "avx2",
    # MKL's sgemm (every nn.Linear) chooses code path and blocking by CPU; conditional numerical
    # reproducibility pins the AVX2 path.
    "MKL_CBWR": "AVX2",
    # oneDNN JIT-compiles its kernels for the best ISA it finds; capped so any oneDNN op torch routes
    # there is the AVX2 one too.
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
# GPU determinism: cuBLAS needs a fixed workspace to pick deterministic reductions (PyTorch's
# reproducibility notes); set before CUDA initialises.
CUDA_DETERMINISM_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
# The flags in /proc/cpuinfo that decide which kernels run (recorded with every run).
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_tile",
    "avx_vnni",
    "asimd",
    "sve",
    "sve2",
)


def kernel_environment(cpu_kernels: str, deterministic: bool, machine: str, avx2: bool) -> dict[str, str]:
    """The environment a stage process needs for this profile on this machine (pure).

    ATen does not check that the CPU has the instruction set it is told to use, so the AVX2 pins are
    only ever set on a CPU that has AVX2 (elsewhere `portable` cannot promise bits; see the warning in
    `apply_kernel_profile`). Other architectures (aarch64) have one kernel family per build: nothing to pin.
    """
    env = dict(CUDA_DETERMINISM_ENV) if deterministic else {}
    if cpu_kernels == "portable" and machine in ("x86_64", "AMD64") and avx2:
        env.update(PORTABLE_X86_ENV)
    return env


def apply_kernel_profile(runtime) -> dict[str, str]:
    """Put the profile's variables in this process's environment (and so its children's).

    Under `portable` they override whatever the shell had. If torch is already loaded (a notebook, a test
    process), ATen's choice is checked and a mismatch is reported rather than silently ignored.
    """
    machine = platform.machine()
    env = kernel_environment(runtime.cpu_kernels, runtime.deterministic, machine, has_avx2())
    if runtime.cpu_kernels == "portable" and machine in ("x86_64", "AMD64") and "ATEN_CPU_CAPABILITY" not in env:
        warnings.warn(
            "runtime.cpu_kernels=portable: this CPU has no AVX2, so results will not match the "
            "committed dvc.lock bit for bit",
            stacklevel=2,
        )
    os.environ.update(env)
    if "torch" in sys.modules and "ATEN_CPU_CAPABILITY" in env:
        import torch

        chosen = torch.backends.cpu.get_cpu_capability()
        if chosen.lower() != env["ATEN_CPU_CAPABILITY"]:
            warnings.warn(
                f"runtime.cpu_kernels=portable did not take effect: torch was imported before the "
                f"profile was applied and already uses {chosen} kernels",
                stacklevel=2,
            )
    return env


def load_params_for_torch(path=None):
    """params.yaml for a process that will load torch: validated, then the kernel profile applied."""
    from shelltune.config import load_params

    params = load_params(path)
    apply_kernel_profile(params.runtime)
    return params


def configure_torch(runtime, device: str) -> None:
    """Settings that must be made through torch itself, once it is loaded."""
    import torch

    if runtime.deterministic and device == "cuda":
        # warn_only: a handful of ops have no deterministic CUDA kernel; they warn instead of failing.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def choose_bnb_cpu_path(model, cpu_kernels: str, training: bool) -> str:
    """Decide, for every bitsandbytes `Linear4bit`, whether it may repack into the CPU inference layout.

    Only inference under `native` may (where the CPU has AVX512-BF16 it then computes in bfloat16);
    training never does, and `portable` inference keeps the dequantize-then-fp32 path every CPU has.
    Returns the path taken, for the run information.
    """
    if training or cpu_kernels != "native":
        for layer in linear4bit_layers(model):
            layer.support_avx512bf16_for_cpu = False
    return bnb_cpu_path(model)


def linear4bit_layers(model) -> list:
    import bitsandbytes as bnb

    return [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]


def bnb_cpu_path(model) -> str:
    """Which CPU path the model's 4-bit layers take (checked on the layers, not assumed)."""
    layers = linear4bit_layers(model)
    if not layers:
        return "none (no 4-bit layers)"
    if any(layer.support_avx512bf16_for_cpu for layer in layers):
        return "packed bf16 (AVX512-BF16 inference layout)"
    return "dequantize + fp32 matmul"


def has_avx2() -> bool:
    return "avx2" in cpu_flags()


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_numerics(runtime, bnb_cpu_path: str | None = None) -> dict[str, Any]:
    """What actually ran, for the run information (never for hashed outputs): the machine, its ISA, the
    profile, the kernels torch chose and the threads it used."""
    import torch

    flags = cpu_flags()
    info: dict[str, Any] = {
        "cpu_kernels": runtime.cpu_kernels,
        "deterministic": runtime.deterministic,
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "isa_flags": sorted(f for f in ISA_FLAGS if f in flags),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "kernel_env": {k: os.environ.get(k) for k in (*PORTABLE_X86_ENV, *CUDA_DETERMINISM_ENV)},
    }
    if bnb_cpu_path is not None:
        info["bnb_cpu_path"] = bnb_cpu_path
    return info
