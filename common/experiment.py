"""What a paper's `reproduce(cfg, plan, results_dir)` calls: train an experiment (or reuse its
finished run), load a trained run, average over seeds, and hand its results back.

The orchestrator that judges claims and writes reports is `common/orchestrator.py`; nothing here
imports it, so its code is not part of any result's manifest.
"""
from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from common import manifest, run

# A metric's sample standard deviation over seeds is recorded under `<metric>.sd`.
SD_SUFFIX = ".sd"
# train_experiment's run folders lie in <results_dir>/runs/, beside the scale's record
# <results_dir>/metrics.json (results_dir: results/<paper>/<scale>/).
RUNS = "runs"


@dataclass
class PaperResults:
    """What a paper's `reproduce(cfg, plan, results_dir)` hands back."""

    metrics: dict[str, float]
    figures: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


def train_experiment(cfg: DictConfig, experiment: str, extra_overrides: Iterable[str] = (),
                     seed: int | None = None) -> dict:
    """Train one experiment of the paper under results_dir/runs/, resuming if interrupted.

    The run folder is named after the resolved config and the digest of the run's manifest (the
    paper's code, the config files composed, the library versions): the same command on unchanged
    code resumes or reuses the finished run (it is only tested again); a changed override, config
    file or line of code trains afresh.
    """
    overrides = [f"experiment={experiment}", f"seed={cfg.seed if seed is None else seed}",
                 *extra_overrides, *cfg.overrides]
    train_cfg = run.compose("train", overrides)
    run_manifest = manifest.build(cfg.paper, run.config_files("train", overrides))
    key = hashlib.sha256(
        (json.dumps(run.identity(train_cfg), sort_keys=True, default=str) + manifest.digest(run_manifest)).encode()
    ).hexdigest()[:10]
    run_dir = Path(cfg.results_dir) / RUNS / f"{experiment.replace('/', '-')}-{key}"
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


def scale_record(run_dir: str | Path) -> Path | None:
    """The record of the reproduction a `train_experiment` run folder belongs to
    (<results_dir>/metrics.json for <results_dir>/runs/<name>/); None for a run folder elsewhere."""
    run_dir = Path(run_dir)
    return run_dir.parent.parent / run.METRICS_FILE if run_dir.parent.name == RUNS else None


def load_trained_run(run_dir: str | Path, model_config: DictConfig | dict | None = None):
    """(set-up DataModule, model in eval mode with its last weights) of a finished training run.

    `model_config` builds the model instead of the run's own `model` config (e.g.
    `run.saved_model_config` of its last checkpoint, for a model whose config starts from other weights)."""
    folder = run.RunFolder(run_dir)
    run_cfg = OmegaConf.load(folder.config)
    datamodule = instantiate(run_cfg.data)
    datamodule.setup("test")
    return datamodule, run.load_model(run_cfg.model if model_config is None else model_config, folder.last_checkpoint)
