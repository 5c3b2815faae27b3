"""`scripts/reproduce.py paper=<paper> scale=<scale>`: run a paper's experiments, check its claims.

`paper=<paper>` selects `configs/paper/<paper>.yaml`, whose `scales` say what each scale runs
(experiments, seeds, replications, sweeps, baselines). The paper's
`papers/<paper>/reproduce.py` defines `reproduce(cfg, plan, results_dir) -> PaperResults`, where
`plan = cfg.scales[cfg.scale]`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import shlex
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from common import run
from common.claims import (
    PASSING,
    SD_SUFFIX,
    check_claims,
    claims_path,
    load_claims,
    tally,
    verdict_table,
)
from common.errors import ConfigError
from common.provenance import source_hash
from common.report import write_report


@dataclass
class PaperResults:
    """What a paper's `reproduce(cfg, plan, results_dir)` hands back."""

    metrics: dict[str, float]
    figures: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


def train_experiment(cfg: DictConfig, experiment: str, extra_overrides: Iterable[str] = (),
                     seed: int | None = None) -> dict:
    """Train one experiment of the paper under results_dir/runs/, resuming if interrupted.

    The run dir is named after the resolved config and the hash of the paper's source: the same
    command with unchanged code resumes or reuses the finished run (it is only tested again);
    a changed override, config or line of code trains afresh.
    """
    overrides = [f"experiment={experiment}", f"seed={cfg.seed if seed is None else seed}",
                 *extra_overrides, *cfg.overrides]
    train_cfg = run.compose("train", overrides)
    key = hashlib.sha256(
        (json.dumps(run.identity(train_cfg), sort_keys=True, default=str) + source_hash(cfg.paper)).encode()
    ).hexdigest()[:10]
    run_dir = Path(cfg.results_dir) / "runs" / f"{experiment.replace('/', '-')}-{key}"
    train_cfg.paths.output_dir = str(run_dir)
    metrics = run.train(train_cfg)
    metrics["run_dir"] = str(run_dir)
    return metrics


def mean_and_sd(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per key over runs (seeds, replications): the mean as `key`, the sample sd as `key.sd`."""
    if not runs:
        raise ValueError("mean_and_sd needs at least one run")
    summary = {}
    for key in runs[0]:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if len(values) != len(runs):
            continue
        summary[key] = statistics.fmean(values)
        if len(values) > 1:
            summary[key + SD_SUFFIX] = statistics.stdev(values)
    return summary


def load_trained_run(run_dir: str | Path):
    """(set-up DataModule, model in eval mode with its last weights) of a finished training run."""
    run_dir = Path(run_dir)
    run_cfg = OmegaConf.load(run_dir / run.CONFIG_FILE)
    datamodule = instantiate(run_cfg.data)
    datamodule.setup("test")
    return datamodule, run.load_model(run_cfg.model, run_dir / "checkpoints" / "last.ckpt")


def reproduce(cfg: DictConfig) -> int:
    """Run the paper, write results/<paper>/<scale>/, print the claims table; 0 unless a claim
    is not reproduced or not measured."""
    paper = cfg.paper
    scales = tuple(cfg.scales)
    if cfg.scale not in scales:
        raise ConfigError(f"scale={cfg.scale} is not a scale of paper={paper}; choose one of {list(scales)}")
    claims = load_claims(claims_path(paper), scales)
    if not any(claim.scale == cfg.scale for claim in claims):
        raise ConfigError(f"paper={paper} has no claims at scale={cfg.scale}")
    module = importlib.import_module(f"papers.{paper}.reproduce")
    results_dir = Path(cfg.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, results_dir / "reproduce_config.yaml")

    started = time.perf_counter()
    results: PaperResults = module.reproduce(cfg, cfg.scales[cfg.scale], results_dir)
    seconds = time.perf_counter() - started

    metrics = {k: v for k, v in results.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    verdicts = check_claims(claims, metrics, cfg.scale)
    command = "python scripts/reproduce.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = write_report(
        paper, cfg.scale, metrics, verdicts, results_dir, command, seconds,
        figures=results.figures, extra_sections=results.sections,
    )
    print(verdict_table(verdicts))
    print(f"\nClaims: {tally([v.status for v in verdicts])}. Report: {report} ({seconds / 60:.1f} min)")
    return 0 if all(v.status in PASSING for v in verdicts) else 1
