"""Which code made a result: the git commit, whether the tree was dirty, and a hash of the source.

The source hash covers what a paper's runs execute and how they are configured: the Python code of
`common/` and of the paper's folder, and the paper's configs. A result whose hash differs from
today's is stale. The claims file is not part of it: changed claims are judged again from the
recorded metrics without training again.
"""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

import torch

from common import CONFIG_DIR, PROJECT_ROOT

_SOURCE_SUFFIXES = (".py", ".yaml", ".yml")


def source_files(paper: str) -> list[Path]:
    roots = [PROJECT_ROOT / "common", PROJECT_ROOT / "papers" / paper, CONFIG_DIR / "experiment" / paper,
             CONFIG_DIR / "paper" / f"{paper}.yaml"]
    files = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files += [p for p in root.rglob("*") if p.suffix in _SOURCE_SUFFIXES and "__pycache__" not in p.parts
                      and p.name != "claims.yaml"]
    return sorted(files)


def source_hash(paper: str) -> str:
    digest = hashlib.sha256()
    for path in source_files(paper):
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_state() -> dict[str, str | bool | None]:
    """{'commit': sha or None, 'dirty': bool or None} of the checkout the code runs from; a copy
    of the tree without .git (a remote GPU machine) can name them in REPRO_GIT_COMMIT/REPRO_GIT_DIRTY."""
    if os.environ.get("REPRO_GIT_COMMIT"):
        return {"commit": os.environ["REPRO_GIT_COMMIT"], "dirty": os.environ.get("REPRO_GIT_DIRTY") == "1"}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def provenance(paper: str) -> dict:
    return {"source_hash": source_hash(paper), **git_state()}


def machine_description() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return f"{platform.node() or 'host'}: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}"
