"""The package files a module runs, derived from its imports: what a stage's code dependencies are.

dvc.yaml lists each stage's code files so that DVC re-runs the stage when they change; the train stage
hashes the same files into its resume fingerprint and the adapter's provenance. Both come from here:
every `import shelltune...` / `from shelltune... import ...` in the module, at any depth (functions
import heavy libraries lazily, and our own modules sometimes too), followed transitively. A test
compares the result with dvc.yaml in both directions, so the lists cannot drift.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "shelltune"
ROOT = Path(__file__).resolve().parent


def module_file(module: str) -> Path | None:
    """`shelltune.a.b` → its source file (a module or a package's __init__), None if it is not ours."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    parts = module.split(".")[1:]
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def direct_imports(module: str) -> frozenset[str]:
    """The package modules `module` imports anywhere in its source (`from X import Y` counts Y when Y
    is a submodule), plus the packages that contain it (Python runs their __init__ first)."""
    path = module_file(module)
    if path is None:
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    parents = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return frozenset(m for m in found | parents if module_file(m) is not None and m != module)


def module_closure(module: str) -> set[str]:
    """`module` and every package module it imports, transitively."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(direct_imports(current))
    return seen


def code_files(module: str) -> list[Path]:
    """The source files `module` runs, sorted (the package's own __init__ included)."""
    return sorted({module_file(m) for m in module_closure(module)} - {None})


def relative(paths: list[Path], start: Path) -> list[str]:
    return [p.relative_to(start).as_posix() for p in paths]
