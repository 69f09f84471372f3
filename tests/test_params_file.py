"""params.yaml stays in the style DVC's `-S` writes back, so `dvc exp run -S key=value` changes one line.

DVC applies `-S` by loading params.yaml with ruamel.yaml, overriding through Hydra and dumping the whole
file again in its own style: `null` written as an empty value, flow lists as block lists, its own quoting,
strings folded at 80 columns. A file written in another style comes back with every such line changed.
These tests run DVC's own `-S` machinery (`dvc.utils.hydra.apply_overrides`, what `dvc exp run -S` calls)
on every key. `python tests/test_params_file.py params.yaml` (`make params-style`) rewrites a file in
that style without changing what it says.
"""

from __future__ import annotations

import difflib
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def leaves(node: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) for every value -S can set; empty mappings count as values."""
    found = []
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found.extend(leaves(value, dotted + "."))
        else:
            found.append((dotted, value))
    return found


def hydra_value(value: Any) -> str:
    """`value` in Hydra's override grammar, as a user would type it after `-S key=`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no -S spelling for {value!r}")


def another(value: Any) -> Any:
    """A different value of the same kind and (for strings) the same length, so DVC folds it alike."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.5
    if isinstance(value, str):
        return ("x" if value[0] != "x" else "y") + value[1:]
    if value is None:
        return "x"
    if isinstance(value, list) and value and not isinstance(value[0], dict):
        return [another(value[0]), *value[1:]]
    return None  # an empty list or mapping, or a list of mappings: an item's lines change by nature


def set_with_dvc(path: Path, overrides: list[str]) -> None:
    from dvc.utils.hydra import apply_overrides

    apply_overrides(str(path), overrides)


def rewrite_in_dvc_style(path: Path) -> None:
    """Every key set to its own value through DVC's -S: the file in DVC's style, meaning unchanged."""
    before = yaml.safe_load(path.read_text())
    set_with_dvc(path, [f"{key}={hydra_value(value)}" for key, value in leaves(before)])
    assert yaml.safe_load(path.read_text()) == before, f"{path}: rewriting changed a value"


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def test_every_key_set_to_its_own_value_leaves_the_file_byte_for_byte(tmp_path):
    params = shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    text = Path(params).read_text()
    rewrite_in_dvc_style(Path(params))
    removed, added = changed_lines(text, Path(params).read_text())
    assert not removed and not added, (
        "params.yaml is not in the style DVC's -S writes back, so every experiment's diff would show "
        "these lines; run `make params-style`:\n- " + "\n- ".join(removed) + "\n+ " + "\n+ ".join(added)
    )


def test_setting_any_key_with_dvc_changes_exactly_one_line(tmp_path):
    text = (ROOT / "params.yaml").read_text()
    params = tmp_path / "params.yaml"
    problems, checked = [], 0
    for key, value in leaves(yaml.safe_load(text)):
        new = another(value)
        if new is None:
            continue
        params.write_text(text)
        set_with_dvc(params, [f"{key}={hydra_value(new)}"])
        removed, added = changed_lines(text, params.read_text())
        checked += 1
        if len(removed) != 1 or len(added) != 1:
            problems.append(f"-S {key}={hydra_value(new)}: {len(removed)} lines removed, {len(added)} added")
    assert checked > 80, "the walk over params.yaml found too few keys"
    assert not problems, "\n".join(problems)


def test_a_file_in_another_style_is_caught(tmp_path):
    """The check can fail: flow lists and `null` are what DVC rewrites."""
    params = tmp_path / "params.yaml"
    original = "lora:\n  r: 16\n  modules_to_save: [embed_tokens, lm_head]\nmodel:\n  revision: null\n"
    params.write_text(original)
    set_with_dvc(params, ["lora.r=8"])
    removed, added = changed_lines(original, params.read_text())
    assert len(removed) == 3 and "  revision: null" in removed, (removed, added)


if __name__ == "__main__":
    for name in sys.argv[1:] or ["params.yaml"]:
        rewrite_in_dvc_style(Path(name))
        print(f"{name}: in DVC's -S style")
