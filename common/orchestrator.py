"""`scripts/reproduce.py paper=<paper> scale=<scale>`: run a paper's experiments, judge its claims,
write its record.

`paper=<paper>` selects `configs/paper/<paper>.yaml`, whose `scales` say what each scale runs
(experiments, seeds, replications, sweeps, baselines). The paper's
`papers/<paper>/reproduce.py` defines `reproduce(cfg, plan, results_dir) -> PaperResults`, where
`plan = cfg.scales[cfg.scale]`. The record (`results/<paper>/<scale>/metrics.json` and
`report.md`) lists the manifest of what computed it (`common/manifest.py`).
"""
from __future__ import annotations

import importlib
import shlex
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from common import cli, manifest, run
from common.claims import PASSING, check_claims, claims_path, load_claims, tally, verdict_table
from common.errors import ConfigError
from common.experiment import PaperResults
from common.report import portable, write_report


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
    cli.check_run_overrides(paper, list(cfg.get("overrides") or []), run.compose)
    module = importlib.import_module(f"papers.{paper}.reproduce")
    results_dir = Path(cfg.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, results_dir / "reproduce_config.yaml")

    started = time.perf_counter()
    with run.recording_compositions() as composed:
        results: PaperResults = module.reproduce(cfg, cfg.scales[cfg.scale], results_dir)
    seconds = time.perf_counter() - started
    config_files = {*run.config_files("reproduce", [f"paper={paper}"]), *composed}
    record_manifest = manifest.build(paper, sorted(config_files))

    metrics = {k: v for k, v in results.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    verdicts = check_claims(claims, metrics, cfg.scale)
    command = portable("python scripts/reproduce.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    report = write_report(
        paper, cfg.scale, metrics, verdicts, results_dir, command, seconds, record_manifest,
        figures=results.figures, extra_sections=results.sections,
    )
    print(verdict_table(verdicts))
    print(f"\nClaims: {tally([v.status for v in verdicts])}. Report: {report} ({seconds / 60:.1f} min)")
    return 0 if all(v.status in PASSING for v in verdicts) else 1
