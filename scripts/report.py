"""make report: gather every paper's tracked record results/<paper>/<scale>/metrics.json into
RESULTS.md, the papers table of README.md and the results blocks (`<!-- results:<scale> -->` ...
`<!-- /results:<scale> -->`) of each paper's README. A record whose manifest differs from today's
tree is marked stale with the entries named; a scale with no record says so. The output depends
only on the tree, so a fresh clone's `make report` changes nothing."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from common.claims import PASSING, mechanism_variants  # noqa: E402
from common.report import (  # noqa: E402
    MECHANISM_OFF_SCALE,
    is_stale,
    load_summary,
    marked_scales,
    mechanism_off_block,
    missing_block,
    replace_marked_block,
    results_block,
)
from common.run import compose  # noqa: E402


def papers_table(rows: list[tuple[str, str, list[str]]]) -> list[str]:
    lines = ["| paper | folder | results (claims reproduced or close / checked, by scale) |", "|---|---|---|"]
    for paper, title, cells in rows:
        lines.append(f"| {title} | [`papers/{paper}`](papers/{paper}/README.md) | {'; '.join(cells) or 'not run yet'} |")
    return lines


def scale_cell(summary: dict) -> str:
    passing = sum(c["verdict"] in PASSING for c in summary["claims"])
    labels = [label for label, applies in (("partial", summary.get("partial")), ("stale", is_stale(summary))) if applies]
    return f"{summary['scale']}: {passing}/{len(summary['claims'])}" + (f" ({', '.join(labels)})" if labels else "")


def main() -> None:
    lines = [
        "# Reproduced results",
        "",
        "Written by `make report` from `results/<paper>/<scale>/metrics.json` (each made by "
        "`make reproduce-<paper> SCALE=<scale>`), tracked in git. Numbers are what the runs measured on the "
        "machine named; a record whose manifest (code, configs, library versions) differs from today's tree "
        "is marked stale, naming what changed.",
        "",
    ]
    found = False
    rows = []
    for claims_file in sorted((ROOT / "papers").glob("*/claims.yaml")):
        paper = claims_file.parent.name
        title = (yaml.safe_load(claims_file.read_text()) or {}).get("title", paper)
        cells = []
        scales = list(compose("reproduce", [f"paper={paper}"]).scales)
        variants = mechanism_variants(paper)
        readme = claims_file.parent / "README.md"
        text = readme.read_text() if readme.is_file() else ""
        for scale in scales:
            summary = load_summary(paper, scale)
            if summary is None:
                if scale in marked_scales(text):
                    text = replace_marked_block(text, f"results:{scale}", missing_block(paper, scale))
                continue
            found = True
            cells.append(scale_cell(summary))
            switched_off = mechanism_off_block(paper, variants) if scale == MECHANISM_OFF_SCALE else []
            switched_off = ["", *switched_off] if switched_off else []
            lines += [f"### {paper} `{scale}`", "", *results_block(summary), *switched_off, ""]
            if scale in marked_scales(text):
                text = replace_marked_block(text, f"results:{scale}",
                                            [*results_block(summary, figures_from="../.."), *switched_off])
        if text:
            readme.write_text(text)
        rows.append((paper, title, cells))
    if not found:
        lines.append("No results yet: run `make reproduce-<paper> SCALE=tiny`.")
    (ROOT / "RESULTS.md").write_text("\n".join(lines) + "\n")
    top = ROOT / "README.md"
    top.write_text(replace_marked_block(top.read_text(), "papers", papers_table(rows)))
    print(f"wrote {ROOT / 'RESULTS.md'}, the papers table of README.md and the papers' results blocks")


if __name__ == "__main__":
    main()
