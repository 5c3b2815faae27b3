"""What a cache of derived data is keyed on: the files it read, by path, size and modification time,
so that a changed, restored or removed file gives a new key and is read again."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def files_fingerprint(paths: Iterable[str | Path]) -> str:
    """A hex digest of each file's resolved path, size and modification time (a missing file counts as
    missing), in the order given."""
    digest = hashlib.sha1()
    for path in paths:
        path = Path(path).expanduser()
        try:
            stat = path.stat()
            stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{path.resolve()}|{stamp}\n".encode())
    return digest.hexdigest()


def folder_fingerprint(root: str | Path) -> str:
    """files_fingerprint of every file under `root`, in sorted order."""
    root = Path(root).expanduser()
    return files_fingerprint(sorted(path for path in root.rglob("*") if path.is_file()))
