"""`scripts/reproduce.py paper=<paper> scale=<scale>`: run a paper's experiments, judge its claims,
write its record.

`paper=<paper>` selects `configs/paper/<paper>.yaml`, whose `scales` say what each scale runs
(experiments, seeds, replications, sweeps, baselines). The paper's
`papers/<paper>/reproduce.py` defines `reproduce(cfg, plan, results_dir) -> PaperResults`, where
`plan = cfg.scales[cfg.scale]`. The record (`results/<paper>/<scale>/metrics.json` and
`report.md`) lists the manifest of what computed it (`common/manifest.py`).

`switch_off=<variant>` (read by scripts/reproduce.py itself, so that no paper's record depends on
it) runs the scale with one of the paper's `mechanism_off` variants (its
`args`, overrides of this config) into `<results_dir>/mechanism_off/<variant>/`: the record that
shows the claims the variant must fail failing (`make report` puts it beside the claims).
"""
from __future__ import annotations

import importlib
import shlex
import sys
import time
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from common import cli, manifest, run
from common.claims import (
    PASSING,
    check_claims,
    claims_path,
    load_claims,
    mechanism_variants,
    tally,
    verdict_table,
)
from common.errors import ConfigError
from common.experiment import PaperResults
from common.report import MECHANISM_OFF_DIR, portable, write_report


def switch_mechanism_off(cfg: DictConfig, name: str | None) -> DictConfig:
    """`cfg` with the variant `name` of the paper's `mechanism_off` applied and its own results
    folder; `cfg` itself when `name` is None."""
    if name is None:
        return cfg
    variants = mechanism_variants(cfg.paper)
    if name not in variants:
        raise ConfigError(f"switch_off={name} is not a mechanism_off variant of paper={cfg.paper}; "
                          f"choose one of {sorted(variants)}" if variants else
                          f"switch_off={name}: paper={cfg.paper} lists no mechanism_off variants")
    switched = cfg.copy()
    for arg in variants[name]["args"]:
        key, _, value = str(arg).partition("=")
        if OmegaConf.select(switched, key, default=_ABSENT) is _ABSENT:
            raise ConfigError(f"mechanism_off.{name}.args: {key} is not a key of paper={cfg.paper}'s config")
        value = yaml.safe_load(value)
        # a variant's training overrides join the user's (a device, a data folder), not replace them
        if key == "overrides":
            value = [*cfg.overrides, *value]
        OmegaConf.update(switched, key, value, merge=False)
    switched.results_dir = str(Path(cfg.results_dir) / MECHANISM_OFF_DIR / name)
    return switched


_ABSENT = object()


def reproduce(cfg: DictConfig, switch_off: str | None = None) -> int:
    """Run the paper (with the mechanism-off variant `switch_off`, if given), write
    results/<paper>/<scale>/, print the claims table; 0 unless a claim is not reproduced or not
    measured."""
    cfg = switch_mechanism_off(cfg, switch_off)
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
    arguments = [*sys.argv[1:], *([f"switch_off={switch_off}"] if switch_off else [])]
    command = portable("python scripts/reproduce.py " + " ".join(shlex.quote(a) for a in arguments))
    report = write_report(
        paper, cfg.scale, metrics, verdicts, results_dir, command, seconds, record_manifest,
        # a variant's record is its verdicts: its figures stay out of git (.gitignore) and of its report
        figures=() if switch_off else results.figures, extra_sections=results.sections,
    )
    print(verdict_table(verdicts))
    print(f"\nClaims: {tally([v.status for v in verdicts])}. Report: {report} ({seconds / 60:.1f} min)")
    return 0 if all(v.status in PASSING for v in verdicts) else 1
