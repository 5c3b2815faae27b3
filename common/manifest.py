"""What computed a result: the manifest of a paper's runs, and whether today's code still matches it.

A manifest lists
- `files`: the repository files that compute the paper's numbers, each with its sha256: the
  paper's import closure inside the repository (from `papers/<paper>/reproduce.py` and every module
  a config names by `_target_`, following `import` statements) and every config file the runs
  composed (root configs, config groups, experiment files and the files they extend);
- `versions`: Python, torch, pytorch_lightning and numpy.
The code that judges claims and writes reports is not in it (an import-rule test keeps the
compute modules from importing it), so editing a report's layout stales no result.

A record is stale when an entry differs from today's tree: a listed file changed or went away, a
module joined the paper's import closure, or a library version differs. Run folders are keyed on
the same digest, so a stale run trains afresh.
"""
from __future__ import annotations

import ast
import hashlib
import json
import platform
import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import yaml

from common import CONFIG_DIR, PROJECT_ROOT

# Top-level packages of the repository whose modules can enter an import closure.
_PACKAGES = ("common", "papers")
# This module names run folders and judges staleness; it computes no number, so editing it must
# not stale every record (the judge's modules are kept out by the import rule instead).
_NOT_COMPUTING = {"common.manifest"}
_LIBRARIES = ("torch", "pytorch_lightning", "numpy")
_TARGET = re.compile(r"_target_:\s*['\"]?([\w.]+)")


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def relative(path: Path) -> str:
    return Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()


# --------------------------------------------------------------------------- code: import closure


def _module_file(module: str) -> Path | None:
    """The file of a repository module (a package's __init__.py), or None outside the repository."""
    if module.split(".")[0] not in _PACKAGES:
        return None
    base = PROJECT_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_package(module: str) -> bool:
    return (PROJECT_ROOT.joinpath(*module.split(".")) / "__init__.py").is_file()


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module an `import` statement of the file names (at any depth: function-level imports
    run too), with `from a import b` also trying `a.b` as a module."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    package = module if _is_package(module) else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_parents(module: str) -> list[str]:
    """A module and the packages above it: importing it runs their __init__.py first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_closure(modules: Iterable[str]) -> list[Path]:
    """The repository files that importing `modules` executes."""
    seen: set[str] = set()
    files: set[Path] = set()
    pending = [m for module in modules for m in _with_parents(module)]
    while pending:
        module = pending.pop()
        if module in seen or module in _NOT_COMPUTING:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue
        files.add(path)
        for name in imported_modules(path, module):
            pending += [m for m in _with_parents(name) if m not in seen]
    return sorted(files)


def _target_modules(config_files: Iterable[Path]) -> set[str]:
    """Repository modules that configs name by `_target_` (the longest prefix that is a module)."""
    modules = set()
    for path in config_files:
        for target in _TARGET.findall(Path(path).read_text()):
            parts = target.split(".")
            for end in range(len(parts), 0, -1):
                if _module_file(".".join(parts[:end])) is not None:
                    modules.add(".".join(parts[:end]))
                    break
    return modules


def code_files(paper: str, config_files: Iterable[Path] = ()) -> list[Path]:
    """The paper's import closure: its reproduce module, and the modules its configs instantiate."""
    paper_configs = [CONFIG_DIR / "paper" / f"{paper}.yaml", *sorted((CONFIG_DIR / "experiment" / paper).rglob("*.yaml"))]
    starts = {f"papers.{paper}.reproduce"} | _target_modules([*paper_configs, *config_files])
    return import_closure(starts)


# --------------------------------------------------------------------------- configs: what a composition read


def _defaults_paths(path: Path) -> list[Path]:
    """Config files a config file extends by plain paths in its defaults list (`- /experiment/x/base`
    or `- base`); group entries (`trainer: cpu`) are read from the composition's choices instead."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return []
    entries = (document.get("defaults") or []) if isinstance(document, dict) else []
    found = []
    for entry in entries:
        if not isinstance(entry, str) or entry == "_self_":
            continue
        if entry.startswith("/"):
            candidate = CONFIG_DIR / f"{entry.lstrip('/')}.yaml"
        else:
            candidate = path.parent / f"{entry}.yaml"
        if candidate.is_file():
            found.append(candidate)
    return found


def composed_files(config_name: str, choices: dict[str, str | None]) -> list[Path]:
    """The config files of this repository that a composition of `config_name` with the group
    `choices` (Hydra's `hydra.runtime.choices`) read."""
    files = [CONFIG_DIR / f"{config_name}.yaml"]
    for group, choice in choices.items():
        if choice is None:
            continue
        # `optimizer@model.discriminator_optimizer` is the optimizer group placed at another key.
        candidate = CONFIG_DIR / group.split("@")[0] / f"{choice}.yaml"
        if candidate.is_file():
            files.append(candidate)
    pending, seen = list(files), set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        pending += _defaults_paths(path)
    return sorted(seen)


# --------------------------------------------------------------------------- manifests


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            found[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def build(paper: str, config_files: Iterable[Path]) -> dict:
    """The manifest of a paper's runs that composed `config_files`."""
    config_files = list(config_files)
    files = sorted({*code_files(paper, config_files), *config_files})
    return {"files": {relative(p): file_digest(p) for p in files}, "versions": versions()}


def digest(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]


def stale_entries(paper: str, manifest: dict | None) -> list[str]:
    """What differs between a recorded manifest and today's tree, one phrase each (none: current)."""
    if not manifest:
        return ["recorded without a manifest"]
    reasons = []
    recorded = manifest.get("files", {})
    for name, recorded_digest in sorted(recorded.items()):
        path = PROJECT_ROOT / name
        if not path.is_file():
            reasons.append(f"{name} removed")
        elif file_digest(path) != recorded_digest:
            reasons.append(f"{name} changed")
    config_files = [PROJECT_ROOT / name for name in recorded if name.startswith("configs/") and (PROJECT_ROOT / name).is_file()]
    for path in code_files(paper, config_files):
        if relative(path) not in recorded:
            reasons.append(f"{relative(path)} added")
    for name, version in sorted(versions().items()):
        if manifest.get("versions", {}).get(name) != version:
            reasons.append(f"{name} {manifest.get('versions', {}).get(name, 'unrecorded')} -> {version}")
    return reasons
