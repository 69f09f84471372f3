"""params.yaml → frozen, typed configuration, validated once at start-up.

Every key is required: params.yaml is the single source of truth, so the code holds no second copy
of the defaults. Unknown keys, wrong types and out-of-range values are all reported together, one
line per problem, as `params.yaml: <key.path>: <what is wrong> (got <value>)`.

PyYAML reads `2e-4` as the string "2e-4" (YAML 1.1 needs a dot in a float); number fields accept
such strings, so both `learning_rate: 2e-4` and DVC's `-S train.learning_rate=0.0002` work.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from shelltune.errors import ShelltuneError

DEFAULT_PARAMS = "params.yaml"
PARAMS_ENV = "SHELLTUNE_PARAMS"


def _number(value: Any) -> Any:
    """Accept numbers and numeric strings ("2e-4"); refuse booleans, which YAML makes from yes/no."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eEn") else int(value)
        except ValueError:
            raise ValueError("expected a number") from None
    return value


Float = Annotated[float, BeforeValidator(_number)]
Int = Annotated[int, BeforeValidator(_number)]


def instant_seconds(value: Any) -> int:
    """Epoch seconds of an ISO 8601 timestamp with a time zone (`2026-06-01T09:00:00Z`). PyYAML reads an
    unquoted timestamp as a datetime (DVC's `-S execute.clock=...` writes it so): that is accepted too."""
    example = "such as 2026-06-01T09:00:00Z"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise ValueError(f"a date without a time of day; write e.g. {value}T09:00:00Z")
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"expected an ISO 8601 timestamp {example}") from None
    else:
        raise ValueError(f"expected an ISO 8601 timestamp {example}")
    if moment.tzinfo is None:
        raise ValueError(f"give the time zone, {example} (Z: UTC)")
    if moment.microsecond:
        raise ValueError("whole seconds only")
    return int(moment.astimezone(timezone.utc).timestamp())


def _past_instant(value: Any) -> str:
    """An instant at least a day before this machine's clock, written back as `YYYY-MM-DDTHH:MM:SSZ`. Files a
    sandboxed command writes get the real time: with a clock in the past they are in its future by more than
    a day on every day after, so `find -mtime` answers about them never change."""
    seconds = instant_seconds(value)
    if seconds > time.time() - 86400:
        raise ValueError(
            "must be at least a day before now: files commands write carry the real date, and their "
            "age on the fake clock must not change as real days pass"
        )
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


PastInstant = Annotated[str, BeforeValidator(_past_instant)]


REMOTE_CODE_WARNING = "warning: model.trust_remote_code is on: the model repository's Python code will run"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsParams(Section):
    processed: str = Field(min_length=1, description="split outputs")
    reports: str = Field(min_length=1, description="metrics, plots and reports")
    base: str = Field(min_length=1, description="base stage output")
    adapter: str = Field(min_length=1, description="final LoRA adapter (DVC output)")
    checkpoints: str = Field(min_length=1, description="resumable checkpoints (untracked)")


class FieldNames(Section):
    instruction: str = Field(min_length=1)
    command: str = Field(min_length=1)


class HFParams(Section):
    config: str | None
    split: str = Field(min_length=1)
    revision: str | None
    data_files: str | list[str] | None


DataFormat = Literal["auto", "jsonl", "csv", "parquet", "nl2bash", "hf"]
DataSchema = Literal["auto", "fields", "messages", "prompt_completion", "alpaca"]


class MixSource(Section):
    """One more dataset read like `data`: mixed in before dedup and the split, or added to training only."""

    path: str = Field(min_length=1)
    format: DataFormat
    schema_: DataSchema = Field(alias="schema")
    fields: FieldNames
    hf: HFParams
    max_rows: Int | None = Field(ge=1, description="a seeded sample of this many of its usable rows; null: all")
    train_only: bool = Field(
        description="true: its rows join the train split only, after the split is drawn (rows sharing a request "
        "or a command with val or test are dropped as leaks); false: split with the rest"
    )


class DataParams(Section):
    path: str = Field(min_length=1)
    format: DataFormat
    schema_: DataSchema = Field(alias="schema")
    fields: FieldNames
    hf: HFParams
    on_bad_row: Literal["error", "skip"]
    max_instruction_chars: Int = Field(gt=0)
    max_command_chars: Int = Field(gt=0)
    mix: list[MixSource] = Field(description="more datasets mixed in (the GPU profiles add human-written data)")


class Fractions(Section):
    train: Float = Field(gt=0, le=1)
    val: Float = Field(ge=0, lt=1)
    test: Float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Fractions:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + val + test must sum to 1 (they sum to {total:g})")
        return self


class SplitParams(Section):
    fractions: Fractions
    dedup: Literal["exact", "normalized"]
    drop_unsafe: bool


class PromptParams(Section):
    system: str = Field(min_length=1)


class TinyModelParams(Section):
    architecture: Literal["qwen2", "llama"]
    vocab_size: Int = Field(ge=300, le=65536)
    hidden_size: Int = Field(gt=0)
    intermediate_size: Int = Field(gt=0)
    num_hidden_layers: Int = Field(gt=0)
    num_attention_heads: Int = Field(gt=0)
    num_key_value_heads: Int = Field(gt=0)
    max_position_embeddings: Int = Field(gt=0)
    tie_word_embeddings: bool
    initializer_range: Float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelParams:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        return self


TINY = "tiny"
GGUF = "gguf"
SHA256 = r"^[0-9a-f]{64}$"


class GgufParams(Section):
    package: str | None = Field(description="the installed distribution that ships the file; null: a path")
    file: str = Field(min_length=1, description="the GGUF inside the package, or its path")
    sha256: str | None = Field(pattern=SHA256, description="checked before converting; null: only recorded")


class ModelParams(Section):
    name_or_path: str = Field(min_length=1)
    revision: str | None
    trust_remote_code: bool
    gguf: GgufParams
    tiny: TinyModelParams

    @model_validator(mode="after")
    def _hub_models_are_pinned(self) -> ModelParams:
        is_hub_id = self.name_or_path not in (TINY, GGUF) and not Path(self.name_or_path).exists()
        if is_hub_id and not self.revision:
            raise ValueError(f"model.revision must pin hub model {self.name_or_path!r} to a commit")
        return self


class RuntimeParams(Section):
    cpu_kernels: Literal["portable", "native"]
    deterministic: bool


class QuantParams(Section):
    load_in_4bit: bool
    quant_type: Literal["nf4", "fp4"]
    double_quant: bool
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"]
    quant_storage: Literal["uint8", "bfloat16", "float16", "float32"]


class LoraParams(Section):
    r: Int = Field(gt=0)
    alpha: Float = Field(gt=0)
    dropout: Float = Field(ge=0, lt=1)
    target_modules: Literal["all-linear"] | list[str]
    modules_to_save: list[str]
    bias: Literal["none", "all", "lora_only"]


class TrainParams(Section):
    device: Literal["auto", "cpu", "cuda"]
    max_steps: Int = Field(ge=-1)
    epochs: Float = Field(gt=0)
    batch_size: Int = Field(gt=0)
    gradient_accumulation_steps: Int = Field(gt=0)
    learning_rate: Float = Field(gt=0, lt=1)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"]
    warmup_ratio: Float = Field(ge=0, lt=1)
    weight_decay: Float = Field(ge=0)
    max_grad_norm: Float = Field(gt=0)
    optimizer: Literal["auto", "adamw_torch", "paged_adamw_8bit", "adamw_8bit", "paged_adamw_32bit"]
    max_length: Int = Field(gt=8)
    group_by_length: bool
    length_window: Int = Field(ge=0)
    share_prefix: bool
    overlong: Literal["error", "drop", "truncate"]
    gradient_checkpointing: bool
    logging_steps: Int = Field(gt=0)
    eval_steps: Int = Field(gt=0)
    save_steps: Int = Field(gt=0)
    save_total_limit: Int = Field(gt=0)
    early_stopping_patience: Int = Field(ge=0)
    keep_checkpoints: bool
    num_processes: Int = Field(ge=1, le=1024)
    ddp_backend: Literal["auto", "gloo", "nccl"]
    accelerate_config: str | None
    # dvclive always logs (the metrics in dvc.lock); these trackers log the same run besides
    report_to: list[Literal["wandb", "mlflow", "tensorboard"]]

    @field_validator("max_steps")
    @classmethod
    def _max_steps_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be positive, or -1 to train for `epochs`")
        return value

    @model_validator(mode="after")
    def _one_length_grouping(self) -> TrainParams:
        if self.group_by_length and self.length_window:
            raise ValueError("group_by_length and length_window both group rows by length: set one of them")
        return self

    @model_validator(mode="after")
    def _each_tracker_once(self) -> TrainParams:
        if len(set(self.report_to)) != len(self.report_to):
            raise ValueError("report_to names a tracker twice")
        return self


class ExtraSet(Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    path: str = Field(min_length=1)
    format: DataFormat
    schema_: DataSchema = Field(alias="schema")


class ValidateParams(Section):
    max_new_tokens: Int = Field(gt=0, le=1024)
    batch_size: Int = Field(gt=0)
    limit: Int = Field(ge=0)
    extra_sets: list[ExtraSet]

    @model_validator(mode="after")
    def _unique_set_names(self) -> ValidateParams:
        names = [s.name for s in self.extra_sets]
        if len(set(names)) != len(names) or "test" in names:
            raise ValueError("extra_sets names must be unique and not 'test'")
        return self


class ScanParams(Section):
    redteam: str = Field(min_length=1)
    max_new_tokens: Int = Field(gt=0, le=1024)
    max_dangerous_rate: Float = Field(ge=0, le=1)
    max_redteam_dangerous_rate: Float = Field(ge=0, le=1)


class ExportParams(Section):
    merged: str = Field(min_length=1)
    gguf: str = Field(min_length=1)
    dtype: Literal["float32", "bfloat16", "float16"]
    quantize: list[Literal["q8_0", "q4_k_m"]]
    llama_cpp: str = Field(min_length=1)
    prompts: Int = Field(ge=0)
    max_new_tokens: Int = Field(gt=0, le=1024)


class ExecuteLimits(Section):
    wall_s: Float = Field(gt=0, le=600, description="wall clock per command; the whole process tree is killed")
    cpu_s: Int = Field(gt=0, le=600)
    memory_mb: Int = Field(ge=64, description="address space per process")
    processes: Int = Field(ge=24, le=4096, description="per run uid; the fixture's own processes count too")
    file_size_mb: Int = Field(gt=0)
    open_files: Int = Field(ge=32)
    output_kb: Int = Field(gt=0, description="stdout kept for comparison")
    disk_mb: Int = Field(ge=16, description="tmpfs holding each run's copy (root only)")
    tree_entries: Int = Field(
        ge=1000, le=10**6, description="files and directories a run's tree may hold (inodes of its tmpfs)"
    )


class ExecuteFixture(Section):
    kind: Literal["builtin", "script"]
    setup: str | None = Field(description="kind script: bash script run in the sandbox to build the tree")
    env: dict[str, str]
    needs: list[str] = Field(
        description="tools the setup script or the commands need, `tool` or `tool=package`; missing: an error"
    )

    @model_validator(mode="after")
    def _script_named(self) -> ExecuteFixture:
        if self.kind == "script" and not self.setup:
            raise ValueError("fixture.kind is script: set fixture.setup to the setup script's path")
        return self


class ExecuteParams(Section):
    workers: Int = Field(ge=1, le=64)
    clock: PastInstant = Field(description="the instant every sandboxed run's fake clock starts at")
    fixture: ExecuteFixture
    limits: ExecuteLimits
    judge_pairs: str | None = Field(
        description="labeled command pairs the judges are measured on (built-in fixture only); null: none"
    )

    @property
    def clock_seconds(self) -> int:
        return instant_seconds(self.clock)


class CardParams(Section):
    license: str = Field(pattern=r"^[a-z0-9][a-z0-9.+-]*$", description="a Hugging Face license id")
    data_license: str = Field(min_length=1)
    data_description: str = Field(min_length=1)
    datasets: list[str]


# `validate` is also the name of a deprecated pydantic classmethod; as a field it works as expected.
warnings.filterwarnings("ignore", message='Field name "validate"', category=UserWarning)


class Params(Section):
    seed: Int = Field(ge=0, lt=2**32)
    runtime: RuntimeParams
    paths: PathsParams
    data: DataParams
    split: SplitParams
    prompt: PromptParams
    model: ModelParams
    quant: QuantParams
    lora: LoraParams
    train: TrainParams
    validate: ValidateParams
    scan: ScanParams
    export: ExportParams
    execute: ExecuteParams
    card: CardParams


def params_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)


def load_params(path: str | os.PathLike[str] | None = None) -> Params:
    """Read and validate params.yaml; raise ShelltuneError listing every problem."""
    path = params_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ShelltuneError(f"{path}: params file not found (run from the repository root)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShelltuneError(f"{path}: cannot read params file: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ShelltuneError(f"{where}: invalid YAML: {problem}") from None
    return parse_params(raw, source=str(path))


def parse_params(raw: Any, source: str = DEFAULT_PARAMS) -> Params:
    if not isinstance(raw, dict):
        raise ShelltuneError(f"{source}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [format_problem(source, err) for err in exc.errors()]
        if len(lines) == 1:
            raise ShelltuneError(lines[0]) from None
        raise ShelltuneError(f"{len(lines)} problems in {source}:\n  " + "\n  ".join(lines)) from None


def format_problem(source: str, err: dict[str, Any]) -> str:
    """One line for one pydantic error: key path, what is allowed, what was given."""
    loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(_allowed_keys(err["loc"][:-1])))
        return f"{source}: {loc}: unknown key (allowed here: {allowed})"
    if kind == "missing":
        return f"{source}: {loc}: missing key"
    message = err["msg"].removeprefix("Value error, ")
    if isinstance(err["input"], dict):  # a check across a section's keys: the message names them
        return f"{source}: {loc}: {message}"
    return f"{source}: {loc}: {message} (got {err['input']!r})"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Params
    for part in loc:
        field = model.model_fields.get(str(part)) or _field_by_alias(model, str(part))
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _field_by_alias(model: type[BaseModel], alias: str) -> Any:
    return next((f for f in model.model_fields.values() if f.alias == alias), None)
