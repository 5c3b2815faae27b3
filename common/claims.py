"""A paper's claims (papers/<paper>/claims.yaml), checked against what the runs measured.

A verdict has three levels. *reproduced*: the measured value meets the paper's value (or lies
within the paper's own reported spread), or meets our own threshold for a claim the paper has
no number for. *close*: it misses that bound by no more than the claim's stated `close` margin,
whose reason the claim gives. *not reproduced*: anything else, and it fails the run. A claim
whose metric no run produced is *not measured*, which fails the run too.

A claim over a rank correlation or an ordering of runs states `n` (the runs, seeds or levels it is
over) and `p_value` (the metric holding its permutation p-value, from common/stats.py): it is
reproduced (or close) only when its value meets its bound and that p-value is at most
P_VALUE_LEVEL, so that chance cannot pass it; the report shows n and p beside the value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from common import PROJECT_ROOT
from common.errors import ConfigError
from common.experiment import SD_SUFFIX

COMPARISONS = ("at_least", "at_most", "within")
REPRODUCED, CLOSE, NOT_REPRODUCED, NOT_MEASURED = "reproduced", "close", "not reproduced", "not measured"
PASSING = (REPRODUCED, CLOSE)
_FIELDS = {"id", "source", "metric", "compare", "scale", "paper", "spread", "tolerance", "threshold",
           "close", "close_reason", "n", "p_value"}
# The permutation p-value a claim with `p_value` must reach, fixed for every paper before any run.
P_VALUE_LEVEL = 0.05


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    metric: str
    compare: str
    scale: str
    paper_value: float | None = None
    spread: float = 0.0
    tolerance: float | None = None
    threshold: float | None = None
    close: float | None = None
    close_reason: str | None = None
    n: int | None = None
    p_value: str | None = None

    def _gap(self, value: float) -> float:
        """How far `value` falls short of the reproduced bound (<= 0 when it meets it)."""
        if self.compare == "within":
            return abs(value - self.paper_value) - self.tolerance - self.spread
        bound = self.paper_value if self.paper_value is not None else self.threshold
        slack = self.spread if self.paper_value is not None else 0.0
        if self.compare == "at_least":
            return (bound - slack) - value
        return value - (bound + slack)

    def judge(self, value: float | None, p_value: float | None = None) -> str:
        """The verdict on `value`; a claim with a `p_value` metric also needs its measured `p_value`."""
        if value is None or (self.p_value is not None and p_value is None):
            return NOT_MEASURED
        if not math.isfinite(value):
            return NOT_REPRODUCED
        if self.p_value is not None and not p_value <= P_VALUE_LEVEL:
            return NOT_REPRODUCED
        gap = self._gap(value)
        if gap <= 1e-12:
            return REPRODUCED
        if self.close is not None and gap <= self.close + 1e-12:
            return CLOSE
        return NOT_REPRODUCED

    def rule(self) -> str:
        spread = f" (paper's spread ±{self.spread:g})" if self.spread else ""
        if self.compare == "within":
            text = f"within ±{self.tolerance:g} of {self.paper_value:g}{spread}"
        else:
            bound = self.paper_value if self.paper_value is not None else self.threshold
            text = f"{'≥' if self.compare == 'at_least' else '≤'} {bound:g}{spread}"
        if self.close is not None:
            text += f"; close within {self.close:g}"
        if self.p_value is not None:
            text += f"; n = {self.n}, permutation p ≤ {P_VALUE_LEVEL:g}"
        return text


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    measured: float | None
    measured_sd: float | None = None
    measured_p: float | None = None

    @property
    def status(self) -> str:
        return self.claim.judge(self.measured, self.measured_p)


def claims_path(paper: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "claims.yaml"


def _number(entry: dict, key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def _claim_from(entry: dict, where: str, scales: tuple[str, ...] | None) -> Claim:
    missing = {"id", "source", "metric", "compare", "scale"} - set(entry)
    if missing:
        raise ConfigError(f"{where} lacks {sorted(missing)}")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; a claim may have {sorted(_FIELDS)}")
    if entry["compare"] not in COMPARISONS:
        raise ConfigError(f"{where}: compare must be one of {COMPARISONS}, got {entry['compare']!r}")
    if scales is not None and entry["scale"] not in scales:
        raise ConfigError(f"{where}: scale must be one of {scales}, got {entry['scale']!r}")
    claim = Claim(
        id=str(entry["id"]), source=str(entry["source"]), metric=str(entry["metric"]),
        compare=entry["compare"], scale=str(entry["scale"]),
        paper_value=_number(entry, "paper", where), spread=_number(entry, "spread", where) or 0.0,
        tolerance=_number(entry, "tolerance", where), threshold=_number(entry, "threshold", where),
        close=_number(entry, "close", where), close_reason=entry.get("close_reason"),
        n=entry.get("n"), p_value=None if entry.get("p_value") is None else str(entry["p_value"]),
    )
    if (claim.n is None) != (claim.p_value is None):
        raise ConfigError(f"{where}: n and p_value go together (how many runs an ordering or correlation is "
                          "over, and the metric holding its permutation p-value)")
    if claim.n is not None and (isinstance(claim.n, bool) or not isinstance(claim.n, int) or claim.n < 2):
        raise ConfigError(f"{where}: n must be a whole number >= 2, got {claim.n!r}")
    if claim.compare == "within" and (claim.paper_value is None or claim.tolerance is None):
        raise ConfigError(f"{where}: 'within' needs both paper and tolerance")
    if claim.compare != "within":
        if (claim.paper_value is None) == (claim.threshold is None):
            raise ConfigError(
                f"{where}: '{claim.compare}' needs either the paper's value (paper) or our own "
                "threshold, not both; a margin below the paper's value is `close` with a `close_reason`"
            )
        if claim.tolerance is not None:
            raise ConfigError(f"{where}: tolerance is for compare=within; use close for a margin")
    if (claim.close is None) != (claim.close_reason is None):
        raise ConfigError(f"{where}: close and close_reason go together (a margin and why it is fair)")
    if claim.spread < 0 or (claim.close is not None and claim.close < 0):
        raise ConfigError(f"{where}: spread and close must be >= 0")
    return claim


def load_claims(path: str | Path, scales: tuple[str, ...] | None = None) -> list[Claim]:
    """Claims of a claims.yaml; `scales`, when given, are the scale names a claim may use."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No claims file at {path}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    claims, seen = [], set()
    for index, entry in enumerate(document.get("claims") or []):
        where = f"{path}: claim #{index + 1} ({entry.get('id', '?')})"
        claim = _claim_from(entry, where, scales)
        if claim.id in seen:
            raise ConfigError(f"{where}: duplicate id")
        seen.add(claim.id)
        claims.append(claim)
    return claims


def mechanism_variants(paper: str) -> dict[str, dict]:
    """The paper's mechanism-off variants, {name: {"args": [...], "must_fail": [claim ids]}}: each
    switches off something the paper says matters (`args` are overrides of its reproduce config)
    and must fail the claims listed; `test`, when given, is the paper's own slow test that shows it
    on a shorter run (reusing trained runs, or only the experiment the claims judge). They are judging data, so they live in claims.yaml under
    `mechanism_off` (editing them stales no record); papers that listed them beside their scales in
    configs/paper/<paper>.yaml before keep them there until those records are next rerun."""
    document = yaml.safe_load(claims_path(paper).read_text()) or {}
    where = f"{claims_path(paper)}: mechanism_off"
    variants = document.get("mechanism_off")
    if variants is None:
        run_config = PROJECT_ROOT / "configs" / "paper" / f"{paper}.yaml"
        variants = (yaml.safe_load(run_config.read_text()) or {}).get("mechanism_off") if run_config.is_file() else None
        where = f"{run_config}: mechanism_off"
    ids = {claim.id for claim in load_claims(claims_path(paper))}
    checked = {}
    for name, variant in (variants or {}).items():
        args, must_fail = (variant or {}).get("args"), (variant or {}).get("must_fail")
        if not args or not all(isinstance(a, str) and "=" in a for a in args):
            raise ConfigError(f"{where}.{name}.args must be a list of key=value overrides, got {args!r}")
        if not must_fail or set(must_fail) - ids:
            raise ConfigError(f"{where}.{name}.must_fail must name claims of the paper; unknown: "
                              f"{sorted(set(must_fail or []) - ids) or 'none listed'}")
        checked[str(name)] = {"args": list(args), "must_fail": list(must_fail)}
        if (variant or {}).get("test"):
            checked[str(name)]["test"] = str(variant["test"])
    return checked


def check_claims(claims: list[Claim], metrics: dict[str, float], scale: str) -> list[Verdict]:
    return [
        Verdict(claim, metrics.get(claim.metric), metrics.get(claim.metric + SD_SUFFIX),
                None if claim.p_value is None else metrics.get(claim.p_value))
        for claim in claims if claim.scale == scale
    ]


def format_value(value: float | None, sd: float | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g} ± {sd:.2g}" if sd is not None else f"{value:.4g}"


def format_measured(claim: dict) -> str:
    """A record's measured value, with its sd and, for an ordering or correlation, its n and p."""
    text = format_value(claim["reproduced"], claim.get("reproduced_sd"))
    if claim.get("n") is not None:
        p = claim.get("reproduced_p")
        text += f" (n = {claim['n']}, p = {'—' if p is None else format(p, '.2g')})"
    return text


def verdict_rows(claims: list[dict]) -> list[str]:
    """Markdown table of verdicts as recorded in metrics.json (see `verdict_record`)."""
    lines = ["| claim | source | paper | rule | reproduced | verdict |", "|---|---|---|---|---|---|"]
    for claim in claims:
        verdict = claim["verdict"]
        if verdict == CLOSE and claim.get("close_reason"):
            verdict += f" ({claim['close_reason']})"
        lines.append(
            f"| {claim['id']} | {claim['source']} | {format_value(claim['paper'])} | {claim['rule']} "
            f"| {format_measured(claim)} | {verdict} |"
        )
    return lines


def verdict_record(verdict: Verdict) -> dict:
    claim = verdict.claim
    return {
        "id": claim.id, "source": claim.source, "metric": claim.metric, "paper": claim.paper_value,
        "rule": claim.rule(), "reproduced": verdict.measured, "reproduced_sd": verdict.measured_sd,
        "verdict": verdict.status, "close_reason": claim.close_reason,
        **({"n": claim.n, "reproduced_p": verdict.measured_p} if claim.p_value is not None else {}),
    }


def verdict_table(verdicts: list[Verdict]) -> str:
    return "\n".join(verdict_rows([verdict_record(v) for v in verdicts]))


def tally(statuses: list[str]) -> str:
    counts = {level: statuses.count(level) for level in (REPRODUCED, CLOSE, NOT_REPRODUCED, NOT_MEASURED)}
    return ", ".join(f"{n} {level}" for level, n in counts.items() if n) or "no claims"
