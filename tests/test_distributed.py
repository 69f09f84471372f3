"""Training in several processes: the accelerate launch command, the shipped accelerate configs, and a real
two-process CPU run (gloo) of the train stage on the tiny 4-bit model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from shelltune.config import parse_params
from shelltune.distributed import current_ranks, is_launched, launch_command, resolve_backend
from shelltune.errors import ShelltuneError

from conftest import ROOT, child_env, tiny_raw


def train_params(repo_params_raw, **overrides):
    raw = json.loads(json.dumps(repo_params_raw))
    raw["train"].update(overrides)
    return parse_params(raw).train


def test_one_process_is_the_default_and_runs_in_place(repo_params_raw):
    assert train_params(repo_params_raw).num_processes == 1
    assert not is_launched({})
    assert current_ranks({}).is_main and current_ranks({}).world_size == 1


def test_launch_command_uses_accelerate_launch(repo_params_raw):
    train = train_params(repo_params_raw, num_processes=4)
    command = launch_command(train, ["--params", "p.yaml"], port=29611)
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[command.index("--main_process_port") + 1] == "29611"
    assert "--multi_gpu" in command and command[-4:] == ["-m", "shelltune.stages.train", "--params", "p.yaml"]

    with_config = launch_command(
        train_params(repo_params_raw, num_processes=2, accelerate_config=str(ROOT / "accelerate" / "fsdp_qlora.yaml")),
        [],
        1,
    )
    assert with_config[with_config.index("--config_file") + 1].endswith("fsdp_qlora.yaml")
    assert "--multi_gpu" not in with_config

    with pytest.raises(ShelltuneError, match="train.accelerate_config: nowhere.yaml not found"):
        launch_command(train_params(repo_params_raw, num_processes=2, accelerate_config="nowhere.yaml"), [], 1)


def test_backend_follows_the_device():
    assert resolve_backend("auto", "cpu") == "gloo" and resolve_backend("auto", "cuda") == "nccl"
    with pytest.raises(ShelltuneError, match="train.ddp_backend: nccl needs CUDA"):
        resolve_backend("nccl", "cpu")


@pytest.mark.parametrize("name, kind", [("ddp.yaml", "MULTI_GPU"), ("fsdp_qlora.yaml", "FSDP")])
def test_shipped_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "accelerate" / name))
    assert config.distributed_type.value == kind and not config.use_cpu
    if kind == "FSDP":  # the peft/bitsandbytes FSDP-QLoRA settings
        fsdp = config.fsdp_config
        assert fsdp["fsdp_use_orig_params"] is False and fsdp["fsdp_cpu_ram_efficient_loading"] is True
        assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_cpu_processes_train_a_valid_adapter(tmp_path, repo_params_raw):
    """`python -m shelltune.train` with train.num_processes=2 re-runs itself under accelerate launch: two
    gloo processes, gradient accumulation 2. Rank 0 alone logs and saves; the adapter loads and the
    loss falls."""
    from shelltune.basemodel import read_base_info
    from shelltune.inference import attach_adapter
    from shelltune.models import load_quantized_model, load_tokenizer
    from shelltune.stages.base import run as build_base
    from shelltune.training.checkpoints import is_complete_checkpoint
    from shelltune.training.trainer import resolve_train_placement

    raw = tiny_raw(repo_params_raw, tmp_path, n_rows=128)
    raw["train"].update(
        num_processes=2,
        gradient_accumulation_steps=2,
        max_steps=10,
        batch_size=4,
        logging_steps=1,
        eval_steps=5,
        save_steps=5,
        learning_rate=0.01,
        keep_checkpoints=True,
    )
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(raw))
    params = parse_params(raw)
    build_base(params)

    env = {**child_env(), "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)

    def run_stage():
        done = subprocess.run(
            [sys.executable, "-m", "shelltune.stages.train", "--params", str(params_file)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    result = run_stage()
    assert "training in 2 processes" in result.stdout
    assert "device cpu in 2 processes" in result.stdout
    assert result.stdout.count("adapter → ") == 1  # rank 0 reports, rank 1 stays quiet

    provenance = json.loads((tmp_path / "adapter" / "provenance.json").read_text())
    assert provenance["runtime"]["num_processes"] == 2
    assert provenance["results"]["global_step"] == 10
    # Data parallel for real: each step consumed 2 processes x 4 rows x 2 accumulation = 16 of the 128 rows.
    assert provenance["runtime"]["distributed_type"] == "MULTI_CPU"
    assert provenance["results"]["epoch"] == pytest.approx(10 * 16 / 128)
    runtime = json.loads((tmp_path / "reports" / "runtime" / "train.json").read_text())
    assert runtime["num_processes"] == 2

    # One writer: each logged step appears once, and the loss falls.
    rows = (tmp_path / "reports" / "train" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()[1:]
    steps = [int(row.split("\t")[0]) for row in rows]
    losses = [float(row.split("\t")[-1]) for row in rows]
    assert steps == sorted(set(steps)) and steps[-1] == 10
    assert sum(losses[-3:]) / 3 < losses[0] * 0.8, losses

    # Checkpoints from the two-process run are complete, and a second run resumes from the last one.
    assert [p.name for p in sorted((tmp_path / "ck").glob("checkpoint-*"))] == ["checkpoint-10", "checkpoint-5"]
    assert all(is_complete_checkpoint(p) for p in (tmp_path / "ck").glob("checkpoint-*"))
    adapter_before = (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes()
    again = run_stage()
    assert f"resuming from {tmp_path / 'ck' / 'checkpoint-10'}" in again.stdout
    assert (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes() == adapter_before

    base = read_base_info(params.paths.base)
    runtime_choice = resolve_train_placement(params.train, params.quant, cuda_available=False)
    model = attach_adapter(load_quantized_model(base, params, runtime_choice, training=False), tmp_path / "adapter")
    tokenizer = load_tokenizer(base, params)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "list files"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
