"""A reproduction's record (results/<paper>/<scale>/metrics.json + report.md), and the blocks
`make report` writes from the records into RESULTS.md and the READMEs.

Records are tracked in git and hold no machine path: commands name files relative to the
repository (`../shared/...` for the shared data beside it) and any other absolute path as `DIR`.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path

import torch

from common import PROJECT_ROOT
from common.claims import (
    NOT_REPRODUCED,
    PASSING,
    Verdict,
    check_claims,
    claims_path,
    load_claims,
    tally,
    verdict_record,
    verdict_rows,
)
from common.manifest import digest, stale_entries

METRICS_FILE = "metrics.json"
RESULTS_ROOT = PROJECT_ROOT / "results"
# Figures of a record that a paper's README shows (the rest are in its report.md).
FIGURES_IN_README = 2
# Stale reasons a results block lists before it says how many more there are.
_SHOWN_REASONS = 6
# An absolute path in text: at the start, or after a space, `=`, a quote, a bracket or a comma,
# a slash and at least two path components (so `(a)/b` or `1/D` is no path, nor is a URL).
_ABSOLUTE_PATH = re.compile(r"(?<![^\s=\"'`(\[,])/[\w.+@%-]+(?:/[\w.+@%=-]*)+")


def portable(text: str) -> str:
    """`text` with each absolute path made relative to the repository (`../shared/...` for the
    shared data beside it) or, outside both, written as `DIR`."""
    root = PROJECT_ROOT.resolve()
    shared = root.parent / "shared"

    def replace(match: re.Match) -> str:
        path = Path(match.group(0))
        for base, prefix in ((root, ""), (shared, "../shared/")):
            try:
                inside = path.relative_to(base).as_posix()
            except ValueError:
                continue
            return (prefix + inside).rstrip("/.") or "."
        return "DIR"

    return _ABSOLUTE_PATH.sub(replace, text)


def git_state(files: list[str]) -> dict[str, str | bool | None]:
    """{'commit': HEAD's sha or None, 'dirty': whether any of `files` (the manifest's) differs from
    it} of the checkout the code runs from; a copy of the tree without .git (a remote GPU machine)
    can name them in REPRO_GIT_COMMIT/REPRO_GIT_DIRTY."""
    if os.environ.get("REPRO_GIT_COMMIT"):
        return {"commit": os.environ["REPRO_GIT_COMMIT"], "dirty": os.environ.get("REPRO_GIT_DIRTY") == "1"}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=all", "--", *files) if files else ""
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def machine_description() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {device}"


def write_report(
    paper: str,
    scale: str,
    metrics: dict[str, float],
    verdicts: list[Verdict],
    results_dir: Path,
    command: str,
    seconds: float,
    manifest: dict,
    figures: list[Path] = (),
    extra_sections: list[str] = (),
) -> Path:
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "paper": paper,
        "scale": scale,
        "command": portable(command),
        "seconds": round(seconds, 1),
        "machine": machine_description(),
        **git_state(list(manifest["files"])),
        "manifest": manifest,
        "metrics": metrics,
        "claims": [verdict_record(v) for v in verdicts],
        "figures": [Path(figure).name for figure in figures],
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
    report.write_text(portable("\n".join(parts) + "\n"))
    return report


def header_lines(summary: dict) -> list[str]:
    statuses = [c["verdict"] for c in summary["claims"]]
    commit = (summary.get("commit") or "unknown")[:10]
    dirty = " with uncommitted changes to them" if summary.get("dirty") else ""
    recorded = summary.get("manifest")
    code = (f"manifest {digest(recorded)} ({len(recorded['files'])} files; commit {commit}{dirty})"
            if recorded else f"commit {commit}{dirty}, no manifest")
    lines = [
        f"Command: `{summary['command']}`  ",
        f"Machine: {summary['machine']}  ",
        f"Wall time: {summary['seconds'] / 60:.1f} min  ",
        f"Code: {code}  ",
    ]
    if summary.get("partial"):
        lines.append(f"**Partial record**: {summary['partial']}  ")
    return [*lines, f"Claims: {tally(statuses)}"]


# The scale whose records of the mechanism-off variants the report shows (each variant runs at tiny).
MECHANISM_OFF_SCALE = "tiny"
MECHANISM_OFF_DIR = "mechanism_off"


def record_path(paper: str, scale: str, results_root: Path | None = None, variant: str | None = None) -> Path:
    folder = (results_root or RESULTS_ROOT) / paper / scale
    return (folder / MECHANISM_OFF_DIR / variant if variant else folder) / METRICS_FILE


def load_summary(paper: str, scale: str, results_root: Path | None = None, variant: str | None = None) -> dict | None:
    """A recorded result (of the paper, or of its mechanism-off `variant`), its claims judged again
    by today's claims.yaml from its recorded metrics."""
    path = record_path(paper, scale, results_root, variant)
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    verdicts = check_claims(load_claims(claims_path(paper)), summary["metrics"], scale)
    summary["claims"] = [verdict_record(v) for v in verdicts]
    return summary


def stale_reasons(summary: dict) -> list[str]:
    """Why a record no longer describes today's code (empty when it does)."""
    return stale_entries(summary["paper"], summary.get("manifest"))


def is_stale(summary: dict) -> bool:
    return bool(stale_reasons(summary))


def results_block(summary: dict, figures_from: str | None = None) -> list[str]:
    """A scale's results as markdown: header, verdict table, a stale warning when it applies, and,
    with `figures_from` (the path from the markdown file to the repository root), the record's
    first figures (a paper lists its main ones first)."""
    passing = sum(c["verdict"] in PASSING for c in summary["claims"])
    lines = [f"**`{summary['scale']}`: {passing}/{len(summary['claims'])} claims reproduced or close**", ""]
    reasons = stale_reasons(summary)
    if reasons:
        shown = ", ".join(reasons[:_SHOWN_REASONS])
        more = f" and {len(reasons) - _SHOWN_REASONS} more" if len(reasons) > _SHOWN_REASONS else ""
        lines += [
            f"> **Stale**: {shown}{more}; rerun `make reproduce-{summary['paper']} SCALE={summary['scale']}`.",
            "",
        ]
    lines += [*header_lines(summary), "", *verdict_rows(summary["claims"])]
    if figures_from is not None:
        folder = f"{figures_from}/results/{summary['paper']}/{summary['scale']}"
        for name in summary.get("figures", [])[:FIGURES_IN_README]:
            lines += ["", f"![{Path(name).stem}]({folder}/{name})"]
    return lines


def mechanism_off_block(paper: str, variants: dict, results_root: Path | None = None) -> list[str]:
    """The paper's mechanism-off variants beside its claims: for each, what switches it off, the
    claims it must fail and how its tiny record judged them (today's claims, recorded metrics)."""
    if not variants:
        return []
    lines = [
        f"Mechanism switched off (each a `{MECHANISM_OFF_SCALE}` run: `make reproduce-{paper} SCALE="
        f"{MECHANISM_OFF_SCALE} ARGS=switch_off=<variant>`; it must fail the claims listed):",
        "",
        "| variant | switched off by | claims it must fail: verdict | fails them |",
        "|---|---|---|---|",
    ]
    for name, variant in variants.items():
        summary = load_summary(paper, MECHANISM_OFF_SCALE, results_root, variant=name)
        args = ", ".join(f"`{arg}`" for arg in variant["args"])
        if summary is None:
            lines.append(f"| {name} | {args} | {', '.join(variant['must_fail'])} | no record |")
            continue
        status = {claim["id"]: claim["verdict"] for claim in summary["claims"]}
        verdicts = ", ".join(f"{claim}: {status.get(claim, 'not a claim')}" for claim in variant["must_fail"])
        fails = all(status.get(claim) == NOT_REPRODUCED for claim in variant["must_fail"])
        stale = " (stale)" if is_stale(summary) else ""
        lines.append(f"| {name} | {args} | {verdicts} | {'yes' if fails else '**no**'}{stale} |")
    return lines


def missing_block(paper: str, scale: str) -> list[str]:
    return [f"**`{scale}`: no record at `results/{paper}/{scale}/`**: run `make reproduce-{paper} SCALE={scale}`."]


def replace_marked_block(text: str, marker: str, body: list[str]) -> str:
    """Replace what lies between `<!-- marker -->` and `<!-- /marker -->` (kept) with `body`."""
    pattern = re.compile(rf"(<!-- {re.escape(marker)} -->\n)(.*?)(<!-- /{re.escape(marker)} -->)", re.DOTALL)
    return pattern.sub(lambda m: m.group(1) + "\n".join(body) + "\n" + m.group(3), text)


def marked_scales(text: str) -> list[str]:
    return re.findall(r"<!-- results:([\w-]+) -->", text)
