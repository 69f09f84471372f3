"""The optional export stage: `shelltune export` (or `dvc repro export/dvc.yaml`).

Merges the adapter into the full-precision base, converts it to GGUF f16 with llama.cpp's converter and
quantizes it (`export.quantize`), writes an Ollama Modelfile, and checks every GGUF file's greedy
outputs against the merged transformers model on the first `export.prompts` test requests
(`shelltune.exporting`).

Writes `export.merged`, `export.gguf` (DVC outputs) and `<paths.reports>/export.json`: the share of
identical outputs (`agreement`, for f16), file sizes, tokenizer agreement. Generation speeds vary from
run to run, so they go to `<paths.reports>/runtime/export.json`, outside the lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shelltune.config import Params
from shelltune.entrypoint import Stage
from shelltune.errors import ShelltuneError
from shelltune.exporting import check_converter, check_exports, merge_adapter, qlora_agreement, write_gguf_files
from shelltune.fileio import read_jsonl, write_json


def run(params: Params) -> dict[str, Any]:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings, reports = params.export, Path(params.paths.reports)
    check_converter(Path(settings.llama_cpp))
    test_file = Path(params.paths.processed) / "test.jsonl"
    if not test_file.exists():
        raise ShelltuneError(f"{test_file}: not found; run the split stage first (dvc repro split)")
    print(f"merging {params.paths.adapter} into the {settings.dtype} base → {settings.merged}")
    merged = merge_adapter(params, Path(settings.merged))
    files = write_gguf_files(params, Path(settings.merged), Path(settings.llama_cpp))
    rows = read_jsonl(test_file)
    instructions = [row["instruction"] for row in (rows[: settings.prompts] if settings.prompts else rows)]
    print(f"comparing greedy outputs on {len(instructions)} test prompts: transformers (merged) vs llama.cpp (GGUF)")
    check, speeds = check_exports(
        Path(settings.merged), files, params.prompt.system, instructions, settings.max_new_tokens, settings.dtype
    )
    report = {
        "agreement": check["gguf"]["f16"]["agreement"],
        "prompts": len(instructions),
        "max_new_tokens": settings.max_new_tokens,
        "tokenizer_agreement": check["tokenizer_agreement"],
        "merged": {
            **merged,
            "agreement_with_4bit_adapter": qlora_agreement(
                reports / "predictions.jsonl", instructions, check["merged_texts"]
            ),
        },
        "gguf": check["gguf"],
        "modelfile": str(Path(settings.gguf) / "Modelfile"),
    }
    write_json(reports / "export.json", report)
    write_json(reports / "runtime" / "export.json", speeds)
    return report


def summary(params: Params, report: dict[str, Any]) -> str:
    return (
        f"agreement (f16 GGUF vs merged transformers): {report['agreement']:.1%} of {report['prompts']} prompts; "
        f"wrote {Path(params.paths.reports) / 'export.json'}"
    )


STAGE = Stage(
    "export",
    "Merge the adapter, convert to GGUF, check against transformers.",
    run,
    summary,
    uses_torch=True,
    command="shelltune export",
)

if __name__ == "__main__":
    raise SystemExit(STAGE.main())
