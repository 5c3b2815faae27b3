"""python scripts/predict.py paper=<paper> input=FILE ckpt_path=CHECKPOINT [key=value ...]

Runs a trained model of a paper on the user's own files; the paper's `predict.py` defines the
other keys (for humbug_cnn: output, hop_seconds, mc_samples, batch_size). With `--check`, only
checks the arguments (the README test's dry mode).
"""
import importlib
import sys

import _entry

from common import PROJECT_ROOT
from common.errors import ConfigError


def papers_with_predictor() -> list[str]:
    return sorted(path.parent.name for path in (PROJECT_ROOT / "papers").glob("*/predict.py"))


@_entry.exit_cleanly_on_input_errors
def main(argv: list[str]) -> int:
    papers = [arg.split("=", 1)[1] for arg in argv if arg.startswith("paper=")]
    available = papers_with_predictor()
    if len(papers) != 1 or papers[0] not in available:
        given = papers[0] if len(papers) == 1 else "missing" if not papers else "given twice"
        raise ConfigError(f"paper={given}: give paper=<name>, one of the papers with a predictor: {available}")
    predictor = importlib.import_module(f"papers.{papers[0]}.predict")
    arguments = [arg for arg in argv if not arg.startswith("paper=") and arg != "--check"]
    if "--check" in argv:
        predictor.parse_arguments(arguments)
        return 0
    return predictor.main(arguments)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
