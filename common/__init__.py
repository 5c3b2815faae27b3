"""Code shared by the paper reproductions: run loop, claims and reports, data helpers."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "configs"

# configs/paths/default.yaml resolves the repository root from this variable.
os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
