"""The model card, in the Hugging Face format (YAML metadata, then Markdown sections), in two steps.

`models/adapter/` is the train stage's output and no later stage may change it, so:
1. the train stage writes `README.md` into the adapter directory with all that training knows: the base
   model and its revision, the data's fingerprint, description and license, the params, the training
   losses, intended use and limits (`adapter_card`);
2. the plot stage writes `reports/model_card.md`: that card with the test-split metrics and the safety
   results added, to the metadata's `model-index` and as a section, and the sha256 of the adapter's
   weights it describes (`complete_card`);
3. `shelltune card --out DIR` assembles the folder to publish: the adapter's files with the complete card
   as `README.md`, once it has checked that the card describes these very weights (`assemble`).

`huggingface_hub.ModelCard` renders and parses both, so what is written is what the hub will read. The
text depends only on the run (no dates, no machine paths beyond the configured ones), so the adapter's
hash still reproduces.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from shelltune.basemodel import describe_origin
from shelltune.config import CardParams
from shelltune.errors import ShelltuneError

CARD_FILE = "README.md"
MODEL_CARD = "model_card.md"  # the complete card, in paths.reports
WEIGHTS_FILE = "adapter_model.safetensors"
TAGS = ["peft", "lora", "qlora", "text-generation", "bash", "shell", "nl2bash", "shelltune"]
TASK = {"task_type": "text-generation", "task_name": "Natural language to bash"}
RESULTS_HEADING = "## Evaluation and safety"
PENDING = (
    "Not in this file: the train stage writes the adapter before it is evaluated. The plot stage writes "
    "this card with the test-split and safety results to `reports/model_card.md`, and `shelltune card "
    "--out DIR` puts that card beside a copy of the adapter, ready to upload."
)
WEIGHTS_LINE = re.compile(rf"`{re.escape(WEIGHTS_FILE)}` sha256: `([0-9a-f]{{64}})`")

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

A LoRA adapter that turns a plain-English request into one safe bash command: QLoRA fine-tuning of
{{ base_short }} by shelltune's DVC pipeline ([how it was made](#how-it-was-made)). Read, and scan, every
command it writes before you run it.

## Base model

{{ base_text }}

## Use

```python
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="{{ quant_type }}",
                           bnb_4bit_use_double_quant={{ double_quant }}, bnb_4bit_compute_dtype=torch.{{ dtype }})
base = AutoModelForCausalLM.from_pretrained("{{ base_name }}", revision={{ revision }}, quantization_config=quant)
model = PeftModel.from_pretrained(base, "ADAPTER")  # this directory, or its hub id
tokenizer = AutoTokenizer.from_pretrained("ADAPTER")
messages = [{"role": "system", "content": {{ system }}},
            {"role": "user", "content": "list files in /tmp"}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
out = model.generate(**inputs, max_new_tokens=48, do_sample=False)
print(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
```

Use the system prompt above, the one it was trained with. In the shelltune repository,
`shelltune predict "REQUEST"` does the same and refuses a command its safety scanner flags.

## Training data

{{ data_description }}

| | |
|---|---|
| license | {{ data_license }} |
| train examples | {{ dataset.train_examples }} (sha256 of the split `{{ dataset.train_sha256 }}`) |
| validation examples | {{ dataset.val_examples }} (sha256 `{{ dataset.val_sha256 }}`) |{% if datasets %}
| from | {{ datasets | join(", ") }} |{% endif %}
| longer than `train.max_length` | {{ overlong }} |

Before the split, the pipeline validated every row, removed exact and near duplicates, dropped targets
its safety scanner flags, and split by groups so that no request or command is shared between splits.

## How it was made

| | |
|---|---|
| quantization | {{ quant_text }} |
| LoRA | {{ lora_text }} |
| optimization | {{ optim_text }} |
| batch | {{ batch_text }} |
| device | {{ device_text }} |
| seed | {{ seed }} |
| libraries | {{ libraries }} |
| train-stage code sha256 | `{{ code_sha256 }}` |

## Training results

| | |
|---|---|
| steps | {{ steps }} ({{ epochs }} epochs) |
| train loss (mean over the run) | {{ train_loss }} |
| validation loss | {{ first_eval_loss }} before training → {{ final_eval_loss }} after |
| trainable parameters | {{ trainable }} |

{{ results_heading }}

{{ pending }}

## Intended use

Suggesting a single bash command for a request a person types, for that person to read and run
themselves: a shell assistant, a command-line helper, a teaching aid.

## Out of scope

- Running its output unreviewed, or letting an agent execute it with privileges. Commands are
  generated, not verified; scan them (shelltune's scanner, or your own) and read them first.
- Scripts, multi-step tasks, shells other than bash, or requests in languages other than English.

## Limitations and risks

- It can be wrong in ways that look right: the right utility with the wrong flags or paths is its most
  common error.
- The training data was filtered for dangerous commands, and red-team prompts test it, but a request
  phrased to get a destructive command can still get one. A scanner catches known patterns, not intent.
- Its knowledge is that of its training data: commands, flags and tools it did not see are guesses.

## License

The adapter: {{ license }}. The base model keeps its own license ({{ base_license_text }}), and the
training data its own ({{ data_license }}).
"""


# ---------------------------------------------------------------- step 1: the adapter's card (train stage)


def card_metadata(provenance: dict[str, Any], card: CardParams) -> Any:
    from huggingface_hub import EvalResult, ModelCardData

    base = provenance["base"]
    val_loss = provenance["results"].get("final_eval_loss")
    results = []
    if val_loss is not None:
        dataset = card.datasets[0] if card.datasets else "custom"
        results.append(
            EvalResult(
                **TASK,
                dataset_type=dataset,
                dataset_name="validation split",
                dataset_split="validation",
                metric_type="loss",
                metric_name="validation loss",
                metric_value=round(val_loss, 6),
            )
        )
    return ModelCardData(
        base_model=base["name_or_path"] if base.get("kind") == "hub" else None,
        library_name="peft",
        license=card.license,
        language=["en"],
        pipeline_tag="text-generation",
        tags=TAGS,
        datasets=list(card.datasets) or None,
        model_name=model_name(base),
        eval_results=results or None,
    )


def model_name(base: dict[str, Any]) -> str:
    if base.get("kind") == "hub":
        return f"shelltune-{base['name_or_path'].split('/')[-1]}"
    if base.get("kind") == "gguf":
        origin = base["origin"]
        parts = [origin.get("basename") or origin.get("name") or "gguf", origin.get("size_label")]
        return "shelltune-" + "-".join(p for p in parts if p).lower().replace(" ", "-")
    return "shelltune-tiny" if base.get("kind") == "tiny" else "shelltune-adapter"


def base_description(base: dict[str, Any]) -> str:
    name, revision = base["name_or_path"], base.get("revision")
    if base.get("kind") == "tiny":
        return (
            f"A tiny Qwen2-architecture model with random weights ({base.get('parameters', 0):,} parameters, "
            f"vocabulary {base.get('vocab_size')}), built offline by shelltune's base stage from the training "
            f"split into `{name}`. It is on no hub: this adapter works with that base from the same DVC run "
            f"(`dvc pull {name}`), and is a demonstration of the pipeline rather than a useful model."
        )
    if base.get("kind") == "gguf":
        return (
            f"{describe_origin(base)}. shelltune's base stage converted it into `{name}` "
            f"({base.get('architecture')}, {base.get('parameters', 0):,} parameters, float32 safetensors with the "
            f"file's tokenizer and chat template), byte for byte the same on every machine (`dvc repro base`, or "
            f"`dvc pull {name}`); training loads that in 4-bit. Its weights are not part of this adapter."
        )
    where = f"[`{name}`](https://huggingface.co/{name})" if base.get("kind") == "hub" else f"the local model `{name}`"
    return (
        f"{where} at revision `{revision}` ({base.get('architecture')}, config sha256 "
        f"`{base.get('config_sha256')}`), loaded in 4-bit for training; its weights are not part of this adapter."
    )


def base_short(base: dict[str, Any]) -> str:
    if base.get("kind") == "tiny":
        return "a tiny randomly initialised model"
    if base.get("kind") == "gguf":
        origin = base["origin"]
        return f"{origin.get('name') or origin['file']} (from a GGUF file, {base.get('parameters', 0):,} parameters)"
    return f"`{base['name_or_path']}`"


def describe_training(params: dict[str, Any], runtime: dict[str, Any]) -> dict[str, str]:
    quant, lora, train = params["quant"], params["lora"], params["train"]
    steps = f"{train['max_steps']} steps" if train["max_steps"] > 0 else f"{train['epochs']} epochs"
    saved = ", ".join(lora["modules_to_save"]) or "none"
    return {
        "quant_text": (
            f"{'4-bit ' + quant['quant_type'].upper() if quant['load_in_4bit'] else 'none'}"
            f"{', double quantization' if quant['double_quant'] else ''}, compute in {runtime['compute_dtype']}"
        ),
        "lora_text": (
            f"r={lora['r']}, alpha={lora['alpha']:g}, dropout={lora['dropout']}, on {lora['target_modules']}; "
            f"trained in full: {saved}"
        ),
        "optim_text": (
            f"{runtime['optimizer']}, learning rate {train['learning_rate']:g}, {train['lr_scheduler']} schedule, "
            f"warmup {train['warmup_ratio']:g}, weight decay {train['weight_decay']:g}, {steps}"
        ),
        "batch_text": (
            f"{train['batch_size']} per device × {train['gradient_accumulation_steps']} accumulation × "
            f"{runtime['num_processes']} process(es); max length {train['max_length']} tokens; loss on the "
            "command tokens only"
        ),
        "device_text": runtime["device"]
        + ("" if runtime["distributed_type"] == "NO" else f", {runtime['distributed_type']}"),
    }


def describe_results(results: dict[str, Any]) -> dict[str, str]:
    def number(value: Any) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    return {
        "steps": str(results["global_step"]),
        "epochs": f"{results['epoch']:.2f}",
        "train_loss": number(results["train_loss"]),
        "first_eval_loss": number(results["first_eval_loss"]),
        "final_eval_loss": number(results["final_eval_loss"]),
        "trainable": f"{results['trainable_parameters']:,}",
    }


def adapter_card(provenance: dict[str, Any], card: CardParams) -> str:
    """The adapter directory's README.md, from the run's provenance and the `card` params."""
    from huggingface_hub import ModelCard

    base, params = provenance["base"], provenance["params"]
    is_pinned = base.get("kind") != "tiny"
    gguf = base.get("kind") == "gguf"
    text = ModelCard.from_template(
        card_metadata(provenance, card),
        template_str=TEMPLATE,
        title=f"{model_name(base)}: plain English → safe bash",
        base_short=base_short(base),
        base_text=base_description(base),
        base_name=base["name_or_path"],
        revision=f'"{base["revision"]}"' if base.get("revision") else "None",
        base_license_text=(
            f"{base['origin'].get('license') or 'not stated in the file'}, as the GGUF file states"
            if gguf
            else "see its model card"
            if is_pinned
            else "built here: this repository's license"
        ),
        quant_type=params["quant"]["quant_type"],
        double_quant=params["quant"]["double_quant"],
        dtype=provenance["runtime"]["compute_dtype"],
        system=json.dumps(params["prompt"]["system"], ensure_ascii=False),
        data_description=card.data_description,
        data_license=card.data_license,
        dataset=provenance["dataset"],
        overlong="{overlong_train} train, {overlong_val} validation ({overlong_policy})".format(
            **provenance["dataset"]
        ),
        seed=params["seed"],
        libraries=", ".join(f"{k} {v}" for k, v in provenance["libraries"].items()),
        code_sha256=provenance["code_sha256"],
        **describe_results(provenance["results"]),
        results_heading=RESULTS_HEADING,
        pending=PENDING,
        **describe_training(params, provenance["runtime"]),
    ).content
    return text.rstrip("\n") + "\n"


# ---------------------------------------------------------------- step 2: the complete card (plot stage)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_adapter_card(adapter: Path) -> str:
    path = adapter / CARD_FILE
    if not path.exists():
        raise ShelltuneError(f"{path}: not found; the adapter predates model cards (dvc repro -f train)")
    return path.read_text(encoding="utf-8")


def complete_card(
    adapter_text: str,
    weights_sha256: str,
    validate: dict[str, Any],
    scan: dict[str, Any],
    split: dict[str, Any],
    execute: dict[str, Any] | None = None,
) -> str:
    """The adapter's card with the test-split, execution and safety results added (metadata and a section)."""
    from huggingface_hub import EvalResult, ModelCard

    card = ModelCard(adapter_text)
    dataset = (card.data.datasets or ["custom"])[0]
    tested = {**TASK, "dataset_type": dataset, "dataset_split": "test"}
    results = list(card.data.eval_results or [])
    for metric, value in validate["tuned"].items():
        results.append(
            EvalResult(
                **tested,
                dataset_name=f"test split ({validate['test_rows']} rows)",
                metric_type=metric,
                metric_value=value,
            )
        )
    results.append(
        EvalResult(
            **tested,
            dataset_name=f"test split ({validate['test_rows']} rows)",
            metric_type="dangerous_rate",
            metric_name="dangerous commands (safety scanner)",
            metric_value=scan["test_tuned_dangerous_rate"],
        )
    )
    results.append(
        EvalResult(
            **TASK,
            dataset_type="shelltune-redteam",
            dataset_name="red-team prompts",
            metric_type="dangerous_rate",
            metric_name="dangerous answers (safety scanner)",
            metric_value=scan["redteam_tuned_dangerous_rate"],
        )
    )
    if execute is not None:
        results.append(
            EvalResult(
                **tested,
                dataset_name=f"test split, {execute['tuned']['executed']} rows executed in a sandbox",
                metric_type="execution_accuracy",
                metric_name="execution accuracy (same exit status, output and files as the reference)",
                metric_value=execute["tuned"]["execution_accuracy"],
            )
        )
    card.data.eval_results = results
    text = results_section(weights_sha256, validate, scan, split) + (execution_lines(execute) if execute else "")
    card.text = replace_section(card.text, RESULTS_HEADING, text)
    return str(card).rstrip("\n") + "\n"


def execution_lines(execute: dict[str, Any]) -> str:
    tuned, base = execute["tuned"], execute["base"]
    return f"""

Executed in a sandbox over a fixture world ({tuned["executed"]} of {execute["rows"]} test rows; the others need the
network, root, packages or input, or show no effect): execution accuracy {tuned["execution_accuracy"]:.3f}
({tuned["execution_accuracy_semantic"]:.3f} judged by meaning rather than presentation), base model
{base["execution_accuracy"]:.3f} ({base["execution_accuracy_semantic"]:.3f}).{extra_execution_lines(execute)}
{tuned["witness_rows"]} of this adapter's commands changed files or processes outside their task there.
"""


def extra_execution_lines(execute: dict[str, Any]) -> str:
    """Each extra evaluation set's execution accuracy: requests the training templates did not write."""
    return "".join(
        f" On the `{name}` set ({m['rows']} requests written apart from the training data): "
        f"{m['tuned']['execution_accuracy']:.3f}, base model {m['base']['execution_accuracy']:.3f}."
        for name, m in execute.get("extra", {}).items()
    )


def replace_section(text: str, heading: str, body: str) -> str:
    """`text` with the body under `heading` (up to the next `## ` heading) replaced by `body`."""
    start = text.index(heading + "\n") + len(heading) + 1
    following = text.find("\n## ", start)
    end = len(text) if following < 0 else following + 1
    return f"{text[:start]}\n{body.strip()}\n\n{text[end:]}"


def results_section(weights_sha256: str, validate: dict[str, Any], scan: dict[str, Any], split: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {metric} | {validate['base'].get(metric, float('nan')):.4f} | {value:.4f} |"
        for metric, value in validate["tuned"].items()
    )
    found = {k: v for k, v in scan.get("findings_by_category", {}).items() if v}
    categories = ", ".join(f"{k} {v}" for k, v in found.items()) or "none"
    tuned, base, redteam = (
        f"{scan[f'{key}_dangerous']} ({scan[f'{key}_dangerous_rate']:.2%})"
        for key in ("test_tuned", "test_base", "redteam_tuned")
    )
    return f"""On the held-out test split ({validate["test_rows"]} rows, greedy decoding), against the base model
with the same prompt:

| metric | base | this adapter |
|---|---:|---:|
{rows}

Safety, judged by shelltune's scanner (it parses each command and flags recursive deletes of system or home
paths, disk wipes, remote code execution, reverse shells and other categories):

| | dangerous |
|---|---:|
| this adapter's commands on the test split | {tuned} |
| the base model's commands on the test split | {base} |
| this adapter's answers to red-team prompts that ask for harm | {redteam} |

Findings by category: {categories}. The data: {split["rows_read"]:,} rows read, {split["dropped_unsafe"]:,}
unsafe targets dropped before training, {split["rows_kept"]:,} kept.

These results describe the adapter whose `{WEIGHTS_FILE}` sha256: `{weights_sha256}`."""


# ---------------------------------------------------------------- step 3: the folder to publish


def assemble(adapter: Path, card_path: Path, out: Path) -> list[str]:
    """Copy the adapter into `out` with the complete card as README.md; refuse a card for other weights."""
    if not card_path.exists():
        raise ShelltuneError(f"{card_path}: not found; run the pipeline first (dvc repro)")
    text = card_path.read_text(encoding="utf-8")
    match = WEIGHTS_LINE.search(text)
    weights = adapter / WEIGHTS_FILE
    if not weights.exists():
        raise ShelltuneError(f"{weights}: not found (dvc pull {adapter})")
    if match is None or match.group(1) != file_sha256(weights):
        raise ShelltuneError(
            f"{card_path} describes other weights than {weights}: reproduce the reports first (dvc repro)"
        )
    if out.exists() and any(out.iterdir()):
        raise ShelltuneError(f"{out}: exists and is not empty; give a new directory")
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in adapter.iterdir() if p.is_file() and p.name != CARD_FILE)
    for name in names:
        shutil.copyfile(adapter / name, out / name)
    (out / CARD_FILE).write_text(text, encoding="utf-8")
    return [*names, CARD_FILE]
