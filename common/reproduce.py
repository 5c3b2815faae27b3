"""`scripts/reproduce.py paper=<paper> scale=tiny|full`: run a paper's experiments, check its claims."""
from __future__ import annotations

import hashlib
import importlib
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from common import PROJECT_ROOT, run
from common.claims import check_claims, claims_path, load_claims, verdict_table, write_report
from common.errors import ConfigError


@dataclass
class PaperResults:
    """What a paper's `reproduce(cfg, results_dir)` hands back."""

    metrics: dict[str, float]
    figures: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


def train_experiment(cfg: DictConfig, experiment: str, extra_overrides: list[str] = ()) -> dict:
    """Train one experiment of the paper under results_dir/runs/, resuming if interrupted.

    The run dir is named after the overrides, so re-running the same command resumes or reuses
    the finished run, and a changed override starts a fresh one.
    """
    overrides = [f"experiment={experiment}", f"seed={cfg.seed}", *extra_overrides, *cfg.overrides]
    tag = hashlib.sha1("\n".join(overrides).encode()).hexdigest()[:8]
    run_dir = Path(cfg.results_dir) / "runs" / f"{experiment.replace('/', '-')}-{tag}"
    train_cfg = run.compose("train", [*overrides, f"paths.output_dir={run_dir}"])
    metrics = run.train(train_cfg)
    metrics["run_dir"] = str(run_dir)
    return metrics


def load_trained_run(run_dir: str | Path):
    """(set-up DataModule, model in eval mode with its last weights) of a finished training run."""
    run_dir = Path(run_dir)
    run_cfg = OmegaConf.load(run_dir / run.CONFIG_FILE)
    datamodule = instantiate(run_cfg.data)
    datamodule.setup("test")
    model = instantiate(run_cfg.model)
    run.load_weights(model, run_dir / "checkpoints" / "last.ckpt")
    return datamodule, model.eval()


def reproduce(cfg: DictConfig) -> int:
    """Run the paper, write results/<paper>/<scale>/, print the claims table; 0 iff all pass."""
    paper = cfg.paper
    if not (PROJECT_ROOT / "papers" / paper / "claims.yaml").is_file():
        known = sorted(p.parent.name for p in (PROJECT_ROOT / "papers").glob("*/claims.yaml"))
        raise ConfigError(f"paper={paper} is not a paper of this project; choose one of {known}")
    claims = load_claims(claims_path(paper))
    if not any(claim.scale == cfg.scale for claim in claims):
        raise ConfigError(f"paper={paper} has no claims at scale={cfg.scale}")
    module = importlib.import_module(f"papers.{paper}.reproduce")
    results_dir = Path(cfg.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, results_dir / "reproduce_config.yaml")

    started = time.perf_counter()
    results: PaperResults = module.reproduce(cfg, results_dir)
    seconds = time.perf_counter() - started

    metrics = {k: v for k, v in results.metrics.items() if isinstance(v, int | float)}
    verdicts = check_claims(claims, metrics, cfg.scale)
    command = "python scripts/reproduce.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = write_report(
        paper, cfg.scale, metrics, verdicts, results_dir, command, seconds,
        figures=results.figures, extra_sections=results.sections,
    )
    print(verdict_table(verdicts))
    print(f"\nReport: {report} ({seconds / 60:.1f} min)")
    return 0 if all(v.status == "PASS" for v in verdicts) else 1
