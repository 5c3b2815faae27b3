"""A paper's claims (papers/<paper>/claims.yaml), checked against what the runs measured."""
from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from common import PROJECT_ROOT
from common.errors import ConfigError

COMPARISONS = ("at_least", "at_most", "within")
SCALES = ("tiny", "full")


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    metric: str
    compare: str
    scale: str
    paper_value: float | None = None
    threshold: float | None = None
    tolerance: float | None = None

    @property
    def bound(self) -> float:
        return self.paper_value if self.threshold is None else self.threshold

    def rule(self) -> str:
        if self.compare == "within":
            return f"within ±{self.tolerance:g} of {self.paper_value:g}"
        return f"{'≥' if self.compare == 'at_least' else '≤'} {self.bound:g}"

    def holds(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.compare == "at_least":
            return value >= self.bound
        if self.compare == "at_most":
            return value <= self.bound
        return abs(value - self.paper_value) <= self.tolerance * (1 + 1e-9)


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    measured: float | None

    @property
    def status(self) -> str:
        if self.measured is None:
            return "NOT MEASURED"
        return "PASS" if self.claim.holds(self.measured) else "FAIL"


def claims_path(paper: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "claims.yaml"


def load_claims(path: str | Path) -> list[Claim]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No claims file at {path}")
    document = yaml.safe_load(path.read_text()) or {}
    claims, seen = [], set()
    for index, entry in enumerate(document.get("claims", [])):
        where = f"{path}: claim #{index + 1} ({entry.get('id', '?')})"
        missing = {"id", "source", "metric", "compare", "scale"} - set(entry)
        if missing:
            raise ConfigError(f"{where} lacks {sorted(missing)}")
        claim = Claim(
            id=entry["id"],
            source=entry["source"],
            metric=entry["metric"],
            compare=entry["compare"],
            scale=entry["scale"],
            paper_value=entry.get("paper"),
            threshold=entry.get("threshold"),
            tolerance=entry.get("tolerance"),
        )
        if claim.id in seen:
            raise ConfigError(f"{where}: duplicate id")
        seen.add(claim.id)
        if claim.compare not in COMPARISONS:
            raise ConfigError(f"{where}: compare must be one of {COMPARISONS}, got {claim.compare!r}")
        if claim.scale not in SCALES:
            raise ConfigError(f"{where}: scale must be one of {SCALES}, got {claim.scale!r}")
        if claim.compare == "within" and (claim.paper_value is None or claim.tolerance is None):
            raise ConfigError(f"{where}: 'within' needs both paper and tolerance")
        if claim.compare != "within" and claim.paper_value is None and claim.threshold is None:
            raise ConfigError(f"{where}: '{claim.compare}' needs a paper value or a threshold")
        claims.append(claim)
    return claims


def check_claims(claims: list[Claim], metrics: dict[str, float], scale: str) -> list[Verdict]:
    return [Verdict(claim, metrics.get(claim.metric)) for claim in claims if claim.scale == scale]


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}"


def verdict_table(verdicts: list[Verdict]) -> str:
    lines = [
        "| claim | source | paper | rule | reproduced | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for verdict in verdicts:
        claim = verdict.claim
        lines.append(
            f"| {claim.id} | {claim.source} | {_fmt(claim.paper_value)} | {claim.rule()} "
            f"| {_fmt(verdict.measured)} | {verdict.status} |"
        )
    return "\n".join(lines)


def machine_description() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return f"{platform.node() or 'host'}: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}"


def write_report(
    paper: str,
    scale: str,
    metrics: dict[str, float],
    verdicts: list[Verdict],
    results_dir: Path,
    command: str,
    seconds: float,
    figures: list[Path] = (),
    extra_sections: list[str] = (),
) -> Path:
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "paper": paper,
        "scale": scale,
        "command": command,
        "seconds": round(seconds, 1),
        "machine": machine_description(),
        "metrics": metrics,
        "claims": [
            {"id": v.claim.id, "metric": v.claim.metric, "paper": v.claim.paper_value,
             "rule": v.claim.rule(), "reproduced": v.measured, "verdict": v.status}
            for v in verdicts
        ],
    }
    (results_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    passed = sum(v.status == "PASS" for v in verdicts)
    parts = [
        f"# {paper} — scale `{scale}`",
        "",
        f"Command: `{command}`  ",
        f"Machine: {summary['machine']}  ",
        f"Wall time: {seconds / 60:.1f} min  ",
        f"Claims: {passed}/{len(verdicts)} pass",
        "",
        verdict_table(verdicts),
        "",
        *extra_sections,
    ]
    for figure in figures:
        parts += [f"![{Path(figure).stem}]({Path(figure).name})", ""]
    report = results_dir / "report.md"
    report.write_text("\n".join(parts) + "\n")
    return report
