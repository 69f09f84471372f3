"""The model card: the train stage's card in the adapter, the plot stage's complete card, and
`shelltune card --out DIR`, all read back with huggingface_hub the way the hub reads them."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from huggingface_hub import ModelCard

from shelltune.cli import main as shelltune
from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.modelcard import PENDING, RESULTS_HEADING, adapter_card, assemble, complete_card, file_sha256

from conftest import ROOT, tiny_raw, tiny_trained, write_params

REPORTS = ROOT / "reports"
# what the train stage recorded for a tiny run (tests/test_tracking.py's size), its base path made relative
PROVENANCE = ROOT / "tests" / "data" / "provenance.json"
HUB_BASE = {
    "kind": "hub",
    "name_or_path": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "revision": "c03e6d358207e414f1eca0bb1891e29f1db0e242",
    "architecture": "Qwen2ForCausalLM",
    "config_sha256": "ab" * 32,
}


def committed(name: str) -> dict:
    return json.loads((REPORTS / name).read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory, repo_params_raw):
    """A tiny base and adapter through the real stages, run from the project's directory as DVC does."""
    root = tmp_path_factory.mktemp("card")
    return root, *tiny_trained(repo_params_raw, root)


def hub_provenance(provenance: dict) -> dict:
    """The same run's provenance as if its base had been pinned from the hub (a GPU profile's run)."""
    pinned = copy.deepcopy(provenance)
    pinned["base"] = HUB_BASE
    pinned["params"]["model"].update(name_or_path=HUB_BASE["name_or_path"], revision=HUB_BASE["revision"])
    return pinned


# ---------------------------------------------------------------- the adapter's card (train stage)


@pytest.mark.slow
def test_train_writes_a_hub_model_card_with_what_training_knows(trained):
    root, _, params, provenance = trained
    text = (root / "adapter" / "README.md").read_text()
    assert text == adapter_card(provenance, params.card)  # the stage wrote this module's card, nothing else
    card = ModelCard(text)  # what the hub parses: YAML metadata, then Markdown
    meta = card.data.to_dict()
    assert meta["library_name"] == "peft" and meta["license"] == params.card.license == "apache-2.0"
    assert {"peft", "lora", "qlora", "nl2bash"} <= set(meta["tags"]) and meta["pipeline_tag"] == "text-generation"
    assert "base_model" not in meta  # the tiny base is on no hub: described in the text instead
    (result,) = card.data.eval_results
    final = provenance["results"]["final_eval_loss"]
    assert (result.metric_type, result.dataset_split, result.metric_value) == ("loss", "validation", round(final, 6))
    data = provenance["dataset"]
    for fact in (
        data["train_sha256"],
        data["val_sha256"],
        params.card.data_description,
        f"| license | {params.card.data_license} |",
        f"r={params.lora.r}, alpha={params.lora.alpha:g}",
        f"learning rate {params.train.learning_rate:g}",
        f"| steps | {params.train.max_steps} ",
        f"{final:.4f} after",
        json.dumps(params.prompt.system),
        provenance["code_sha256"],
        f"torch {provenance['libraries']['torch']}",
    ):
        assert fact in card.text, fact
    assert f"{RESULTS_HEADING}\n\n{PENDING}" in card.text  # results come later, from the plot stage


def test_a_hub_base_is_the_cards_base_model_pinned_by_revision(repo_params_raw, tmp_path):
    provenance = json.loads(PROVENANCE.read_text())
    params = parse_params(tiny_raw(repo_params_raw, tmp_path))
    card = ModelCard(adapter_card(hub_provenance(provenance), params.card))
    assert (
        card.data.base_model == HUB_BASE["name_or_path"]
        and card.data.model_name == "shelltune-Qwen2.5-Coder-7B-Instruct"
    )
    assert f'"{HUB_BASE["name_or_path"]}", revision="{HUB_BASE["revision"]}"' in card.text  # the usage snippet
    assert f"at revision `{HUB_BASE['revision']}`" in card.text
    with_data = params.card.model_copy(update={"datasets": ["someone/nl2bash"], "license": "other"})
    card = ModelCard(adapter_card(hub_provenance(provenance), with_data))
    assert card.data.datasets == ["someone/nl2bash"] and card.data.license == "other"
    assert card.data.eval_results[0].dataset_type == "someone/nl2bash"
    assert "| from | someone/nl2bash |" in card.text


def test_card_license_must_be_a_hub_license_id(repo_params_raw, tmp_path):
    raw = tiny_raw(repo_params_raw, tmp_path)
    raw["card"]["license"] = "Apache License 2.0"
    with pytest.raises(ShelltuneError, match=r"card\.license: String should match pattern"):
        parse_params(raw)


# ---------------------------------------------------------------- the complete card (plot stage)


def test_complete_card_adds_test_and_safety_results_to_metadata_and_text(repo_params_raw, tmp_path):
    provenance = json.loads(PROVENANCE.read_text())
    params = parse_params(tiny_raw(repo_params_raw, tmp_path))
    validate, scan, split = committed("validate.json"), committed("scan.json"), committed("split.json")
    execute = committed("execute.json")
    text = complete_card(adapter_card(provenance, params.card), "c" * 64, validate, scan, split, execute)
    card = ModelCard(text)
    results = {(r.dataset_split, r.dataset_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("test", "custom", "exact_match")] == validate["tuned"]["exact_match"]
    assert results[("test", "custom", "execution_accuracy")] == execute["tuned"]["execution_accuracy"]
    assert f"execution accuracy {execute['tuned']['execution_accuracy']:.3f}" in card.text
    assert results[("test", "custom", "dangerous_rate")] == scan["test_tuned_dangerous_rate"]
    assert results[(None, "shelltune-redteam", "dangerous_rate")] == scan["redteam_tuned_dangerous_rate"]
    assert ("validation", "custom", "loss") in results  # the training result stays
    assert PENDING not in card.text
    assert (
        f"| exact_match | {validate['base']['exact_match']:.4f} | {validate['tuned']['exact_match']:.4f} |" in card.text
    )
    assert f"`adapter_model.safetensors` sha256: `{'c' * 64}`" in card.text
    # everything else is the adapter's card unchanged: sections before and after the results
    before, after = adapter_card(provenance, params.card).split("---\n", 2)[2].split(RESULTS_HEADING)
    assert card.text.startswith(before) and card.text.endswith(after.split(PENDING)[1])


# ---------------------------------------------------------------- the folder to publish


@pytest.mark.slow
def test_plot_then_card_command_gives_a_folder_peft_loads_and_the_hub_reads(trained, tmp_path, capsys):
    from peft import PeftConfig

    from shelltune.stages.plot import run as plot

    root, raw, params, _ = trained
    for name in (
        "validate.json",
        "scan.json",
        "split.json",
        "predictions.jsonl",
        "findings.jsonl",
        "execute.json",
        "executions.jsonl",
        "extra_predictions.jsonl",
    ):
        shutil.copyfile(REPORTS / name, root / "reports" / name)
    plot(params)
    full = (root / "reports" / "model_card.md").read_text()
    assert file_sha256(root / "adapter" / "adapter_model.safetensors") in full

    out = tmp_path / "publish"
    assert shelltune(["card", "--params", str(write_params(root / "params.yaml", raw)), "--out", str(out)]) == 0
    assert f"hf upload REPO_ID {out} ." in capsys.readouterr().out
    adapter_files = sorted(p.name for p in (root / "adapter").iterdir())
    assert sorted(p.name for p in out.iterdir()) == adapter_files  # README.md replaced, nothing else added
    for name in adapter_files:
        expected = full if name == "README.md" else (root / "adapter" / name).read_text(errors="replace")
        assert (out / name).read_text(errors="replace") == expected, name
    assert PeftConfig.from_pretrained(str(out)).r == params.lora.r  # peft reads the folder as is
    metrics = [r.metric_type for r in ModelCard.load(out / "README.md").data.eval_results]
    assert {"dangerous_rate", "execution_accuracy"} <= set(metrics)


def test_card_refuses_a_card_made_for_other_weights_or_a_used_directory(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    card = tmp_path / "model_card.md"
    card.write_text(f"---\nlicense: mit\n---\n`adapter_model.safetensors` sha256: `{'0' * 64}`\n")
    with pytest.raises(ShelltuneError, match="describes other weights than"):
        assemble(adapter, card, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    card.write_text(card.read_text().replace("0" * 64, file_sha256(adapter / "adapter_model.safetensors")))
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("")
    with pytest.raises(ShelltuneError, match="exists and is not empty"):
        assemble(adapter, card, used)
    assert assemble(adapter, card, tmp_path / "out") == ["adapter_model.safetensors", "README.md"]
