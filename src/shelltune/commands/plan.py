"""`shelltune plan [PROFILE]`: estimate the peak GPU memory of a training run before paying for the GPU.

    shelltune plan                              # params.yaml as it is
    shelltune plan qwen7b-gpu                   # params.yaml with profiles/qwen7b-gpu.yaml applied
    shelltune plan qwen7b-gpu --gpu-memory 16 --gpu-capability 7.5    # will it fit a 16 GB T4?

The estimate (`shelltune.planning`) comes from the model's shapes (its config.json: the built base, a
local directory, the Hugging Face cache, or shelltune's table of the profiles' models), the sequence
length, batch, LoRA rank and targets, optimizer and gradient checkpointing. Nothing is loaded or
downloaded. The train stage makes the same estimate and refuses a run that cannot fit the visible GPU.
Exit status 1 when the run does not fit the GPU it is compared with (the visible one, or --gpu-memory).
"""

from __future__ import annotations

import json

from shelltune.errors import ShelltuneError, command_parser, run_cli
from shelltune.planning import (
    GiB,
    GpuMemory,
    check_fits,
    estimate_memory,
    find_architecture,
    format_estimate,
    run_shape,
    visible_gpu,
)
from shelltune.profiles import params_with_profile


def parse_capability(text: str) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in text.split("."))
    except ValueError:
        raise ShelltuneError(f"--gpu-capability: expected MAJOR.MINOR such as 7.5 or 8.0 (got {text!r})") from None
    return major, minor


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("shelltune plan", __doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", help="profile name (profiles/NAME.yaml) or a path; default: none")
    parser.add_argument("--config", metavar="DIR", help="read the model's shapes from DIR/config.json")
    parser.add_argument("--seq-len", type=int, metavar="N", help="tokens per row (default: train.max_length)")
    parser.add_argument(
        "--gpu-memory", type=float, metavar="GIB", help="compare with a GPU of this much free memory (GiB)"
    )
    parser.add_argument(
        "--gpu-capability",
        metavar="X.Y",
        help="the GPU's compute capability: below 8.0 (T4 7.5, V100 7.0) computes in float16 "
        "(default: the visible GPU's, else 8.0)",
    )
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    args = parser.parse_args(argv)

    def entry() -> int:
        params, _ = params_with_profile(args.profile, args.params)
        gpu = visible_gpu() if args.gpu_memory is None else None
        bf16 = gpu.bf16 if gpu else True
        if args.gpu_capability:
            bf16 = parse_capability(args.gpu_capability) >= (8, 0)
        if args.gpu_memory is not None:
            free = int(args.gpu_memory * GiB)
            gpu = GpuMemory(f"a GPU with {args.gpu_memory:g} GiB", free, free, bf16)
        if args.seq_len is not None and args.seq_len < 1:
            raise ShelltuneError(f"--seq-len: expected a positive number of tokens (got {args.seq_len})")
        device = "cpu" if params.train.device == "cpu" else "cuda"
        shape = run_shape(params, device, bf16, args.seq_len)
        estimate = estimate_memory(find_architecture(params, args.config), shape)
        fits, verdict = fit_verdict(estimate, gpu)
        if args.json:
            print(json.dumps({**estimate.to_json(), "fits": fits, "verdict": verdict}, indent=2))
        else:
            print(format_estimate(estimate, title(args.profile, estimate)))
            print(f"\n{verdict}")
        return 1 if fits is False else 0

    return run_cli(entry, args.debug, args.quiet)


def title(profile: str | None, estimate) -> str:
    s = estimate.shape
    where = "GPU" if s.device == "cuda" else "CPU (host memory)"
    gc = "on" if s.gradient_checkpointing else "off"
    return (
        f"peak {where} memory of one training process, {profile or 'params.yaml'}: batch {s.batch_size} x "
        f"{s.seq_len} tokens, LoRA r={s.lora_r} on {len(s.lora_targets)} layer types, {s.optimizer}, "
        f"{s.compute_dtype}, gradient checkpointing {gc} (an estimate: docs/gpu.md#memory)"
    )


def fit_verdict(estimate, gpu: GpuMemory | None) -> tuple[bool | None, str]:
    """Whether the run fits `gpu` (None: nothing to compare with), and the sentence that says so."""
    if estimate.shape.device == "cpu":
        return None, f"training on CPU: about {estimate.total / GiB:.1f} GiB of host memory"
    needs = f"needs about {estimate.needs_free / GiB:.1f} GiB free on the GPU (total minus CUDA context"
    needs += " and paged optimizer state)" if estimate.paged_bytes else ")"
    if gpu is None:
        return None, f"{needs}; no GPU visible here to compare with (--gpu-memory GIB compares with one)"
    try:
        warning = check_fits(estimate, gpu)
    except ShelltuneError as exc:
        return False, f"does not fit: {exc}"
    return True, f"{needs}: fits {gpu.name} ({gpu.free / GiB:.1f} GiB free)" + (f"; {warning}" if warning else "")


if __name__ == "__main__":
    raise SystemExit(main())
