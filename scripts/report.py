"""make report: gather every paper's latest results/<paper>/<scale>/metrics.json into RESULTS.md."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.claims import SCALES  # noqa: E402


def _fmt(value):
    return "—" if value is None else f"{value:.4g}"


def main() -> None:
    lines = [
        "# Reproduced results",
        "",
        "Written by `make report` from `results/<paper>/<scale>/metrics.json` (each made by "
        "`make reproduce-<paper> SCALE=<scale>`). Numbers are what the runs measured on the machine named.",
        "",
    ]
    found = False
    for paper_dir in sorted((ROOT / "papers").glob("*/claims.yaml")):
        paper = paper_dir.parent.name
        for scale in SCALES:
            path = ROOT / "results" / paper / scale / "metrics.json"
            if not path.is_file():
                continue
            found = True
            summary = json.loads(path.read_text())
            passed = sum(c["verdict"] == "PASS" for c in summary["claims"])
            lines += [
                f"## {paper} — `{scale}`: {passed}/{len(summary['claims'])} claims pass",
                "",
                f"`{summary['command']}` — {summary['seconds'] / 60:.1f} min on {summary['machine']}",
                "",
                "| claim | paper | rule | reproduced | verdict |",
                "|---|---|---|---|---|",
            ]
            for claim in summary["claims"]:
                lines.append(f"| {claim['id']} | {_fmt(claim['paper'])} | {claim['rule']} "
                             f"| {_fmt(claim['reproduced'])} | {claim['verdict']} |")
            lines.append("")
    if not found:
        lines.append("No results yet: run `make reproduce-<paper> SCALE=tiny`.")
    (ROOT / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
