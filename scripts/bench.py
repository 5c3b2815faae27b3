"""make bench: each paper's papers/<paper>/bench.py reports what its runs spend time on (CPU)."""
import importlib
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def main(papers: list[str]) -> None:
    papers = papers or sorted(p.parent.name for p in (ROOT / "papers").glob("*/bench.py"))
    print(f"# {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    for paper in papers:
        for name, value, unit in importlib.import_module(f"papers.{paper}.bench").run():
            print(f"{name:70s} {value:12.4g} {unit}")


if __name__ == "__main__":
    main(sys.argv[1:])
