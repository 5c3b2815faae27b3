"""A reproduction's report (results/<paper>/<scale>/metrics.json + report.md), and the tables
`make report` writes from the reports into RESULTS.md and the READMEs."""
from __future__ import annotations

import json
import re
from pathlib import Path

from common import PROJECT_ROOT
from common.claims import (
    PASSING,
    Verdict,
    check_claims,
    claims_path,
    load_claims,
    tally,
    verdict_record,
    verdict_rows,
)
from common.provenance import machine_description, provenance, source_hash

METRICS_FILE = "metrics.json"


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
        **provenance(paper),
        "metrics": metrics,
        "claims": [verdict_record(v) for v in verdicts],
    }
    (results_dir / METRICS_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    parts = [
        f"# {paper} — scale `{scale}`",
        "",
        *header_lines(summary),
        "",
        *verdict_rows(summary["claims"]),
        "",
        *extra_sections,
    ]
    for figure in figures:
        parts += [f"![{Path(figure).stem}]({Path(figure).name})", ""]
    report = results_dir / "report.md"
    report.write_text("\n".join(parts) + "\n")
    return report


def header_lines(summary: dict) -> list[str]:
    statuses = [c["verdict"] for c in summary["claims"]]
    commit = summary.get("commit") or "unknown"
    dirty = " (with uncommitted changes)" if summary.get("dirty") else ""
    return [
        f"Command: `{summary['command']}`  ",
        f"Machine: {summary['machine']}  ",
        f"Wall time: {summary['seconds'] / 60:.1f} min  ",
        f"Code: commit {commit[:10]}{dirty}, source hash {summary.get('source_hash', 'unknown')}  ",
        f"Claims: {tally(statuses)}",
    ]


def load_summary(paper: str, scale: str, results_root: Path | None = None) -> dict | None:
    """A recorded result, its claims judged again by today's claims.yaml from its recorded metrics."""
    path = (results_root or PROJECT_ROOT / "results") / paper / scale / METRICS_FILE
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    verdicts = check_claims(load_claims(claims_path(paper)), summary["metrics"], scale)
    summary["claims"] = [verdict_record(v) for v in verdicts]
    return summary


def is_stale(summary: dict) -> bool:
    """True when the result was made by code other than today's (or records no source hash)."""
    return summary.get("source_hash") != source_hash(summary["paper"])


def results_block(summary: dict) -> list[str]:
    """A scale's results as markdown: header, verdict table, and a stale warning when it applies."""
    passing = sum(c["verdict"] in PASSING for c in summary["claims"])
    lines = [f"**`{summary['scale']}`: {passing}/{len(summary['claims'])} claims reproduced or close**", ""]
    if is_stale(summary):
        lines += [
            "> **Stale**: made by older code (source hash "
            f"{summary.get('source_hash', 'unrecorded')}, today {source_hash(summary['paper'])}); "
            f"rerun `make reproduce-{summary['paper']} SCALE={summary['scale']}`.",
            "",
        ]
    return lines + header_lines(summary) + ["", *verdict_rows(summary["claims"])]


def replace_marked_block(text: str, marker: str, body: list[str]) -> str:
    """Replace what lies between `<!-- marker -->` and `<!-- /marker -->` (kept) with `body`."""
    pattern = re.compile(rf"(<!-- {re.escape(marker)} -->\n)(.*?)(<!-- /{re.escape(marker)} -->)", re.DOTALL)
    return pattern.sub(lambda m: m.group(1) + "\n".join(body) + "\n" + m.group(3), text)


def marked_scales(text: str) -> list[str]:
    return re.findall(r"<!-- results:([\w-]+) -->", text)
