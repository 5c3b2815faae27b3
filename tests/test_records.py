"""Result records: manifests name what computed them, judging code is outside every manifest,
records hold no machine path, and a fresh clone's `make report` changes no tracked file."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from common import CONFIG_DIR, PROJECT_ROOT, manifest, run
from common.report import portable, stale_reasons

PAPERS = sorted(p.parent.name for p in (PROJECT_ROOT / "papers").glob("*/claims.yaml"))
# The code that judges claims and writes records: no manifest may hold it.
JUDGE_MODULES = {"common.claims", "common.report", "common.orchestrator"}
# Experiments composed with the CPU trainer (the default): one per paper is enough to show it.
EXPERIMENTS = {paper: sorted(p.relative_to(CONFIG_DIR / "experiment").with_suffix("").as_posix()
                             for p in (CONFIG_DIR / "experiment" / paper).glob("*.yaml")) for paper in PAPERS}


def _module_name(path):
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _manifest_of(paper, experiment=None):
    """A paper's manifest as its reproduction would record it after composing `experiment` (its
    first one by default; a paper without experiments composes only the reproduce config)."""
    experiment = experiment or next(iter(EXPERIMENTS[paper]), None)
    files = run.config_files("reproduce", [f"paper={paper}"])
    if experiment is not None:
        files += run.config_files("train", [f"experiment={experiment}"])
    return manifest.build(paper, files)


@pytest.mark.parametrize("paper", PAPERS)
def test_no_compute_module_imports_the_judge(paper):
    """Papers and every module of their import closure never import the judging code, so editing
    it stales nothing (and a paper cannot depend on how it is judged)."""
    files = {*(PROJECT_ROOT / "papers" / paper).rglob("*.py"), *manifest.code_files(paper)}
    for path in files:
        imported = manifest.imported_modules(path, _module_name(path))
        assert not imported & JUDGE_MODULES, f"{path.relative_to(PROJECT_ROOT)} imports {imported & JUDGE_MODULES}"


@pytest.mark.parametrize("paper", PAPERS)
def test_manifest_holds_the_paper_its_configs_and_versions_but_not_the_judge(paper):
    record = _manifest_of(paper)
    files = set(record["files"])
    assert f"papers/{paper}/reproduce.py" in files and f"configs/paper/{paper}.yaml" in files
    assert "configs/reproduce.yaml" in files
    if EXPERIMENTS[paper]:
        assert {"configs/train.yaml", "configs/trainer/cpu.yaml", f"configs/experiment/{EXPERIMENTS[paper][0]}.yaml",
                "common/run.py"} <= files
    assert not files & {"common/report.py", "common/claims.py", "common/orchestrator.py", f"papers/{paper}/claims.yaml"}
    assert set(record["versions"]) == {"python", "torch", "pytorch_lightning", "numpy"}
    assert stale_reasons({"paper": paper, "manifest": record}) == []


def test_editing_the_report_code_stales_nothing_and_a_trainer_file_stales_cpu_records():
    records = {paper: _manifest_of(paper) for paper in PAPERS if EXPERIMENTS[paper]}
    for paper, record in records.items():
        assert "common/report.py" not in record["files"]
        edited = json.loads(json.dumps(record))
        edited["files"]["configs/trainer/cpu.yaml"] = "0" * 16  # what editing the file does to its digest
        assert stale_reasons({"paper": paper, "manifest": edited}) == ["configs/trainer/cpu.yaml changed"]


def test_a_gin_file_does_not_stale_ecg_unet():
    ecg = _manifest_of("ecg_unet", "ecg_unet/tiny")
    assert not any(name.startswith(("papers/gin/", "configs/experiment/gin/", "configs/paper/gin")) for name in ecg["files"])


def test_a_new_import_a_removed_file_and_a_new_library_are_named():
    record = _manifest_of("ecg_unet", "ecg_unet/tiny")
    del record["files"]["common/errors.py"]
    record["files"]["papers/ecg_unet/gone.py"] = "0" * 16
    record["versions"]["torch"] = "1.0.0"
    reasons = stale_reasons({"paper": "ecg_unet", "manifest": record})
    assert "common/errors.py added" in reasons and "papers/ecg_unet/gone.py removed" in reasons
    assert any(reason.startswith("torch 1.0.0 -> ") for reason in reasons)
    assert stale_reasons({"paper": "ecg_unet"}) == ["recorded without a manifest"]


def test_extended_experiment_files_are_in_the_composition():
    files = {p.relative_to(PROJECT_ROOT).as_posix() for p in run.config_files("train", ["experiment=ecg_unet/tiny"])}
    assert {"configs/experiment/ecg_unet/tiny.yaml", "configs/experiment/ecg_unet/ludb.yaml"} <= files
    gpu = {p.relative_to(PROJECT_ROOT).as_posix() for p in run.config_files("train", ["experiment=ecg_unet/tiny", "trainer=gpu"])}
    assert "configs/trainer/gpu.yaml" in gpu and "configs/trainer/cpu.yaml" in gpu  # gpu.yaml extends cpu.yaml


def test_a_group_placed_at_another_key_is_in_the_composition():
    files = run.config_files("train", ["experiment=skin_lesion_aae/ham", "optimizer@model.discriminator_optimizer=sgd"])
    assert CONFIG_DIR / "optimizer" / "sgd.yaml" in files and CONFIG_DIR / "optimizer" / "adam.yaml" in files


def test_recording_compositions_collects_what_compose_read():
    with run.recording_compositions() as composed:
        run.compose("train", ["experiment=ecg_unet/tiny"])
    assert CONFIG_DIR / "experiment" / "ecg_unet" / "ludb.yaml" in composed
    run.compose("train", ["experiment=gin/artificial_tiny"])
    assert not any("gin" in str(path) for path in composed)


def test_import_closure_follows_function_level_and_relative_imports(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("from . import sibling\nfrom .data import reader\n\ndef f():\n    import common.run\n")
    assert {"papers.x.sibling", "papers.x.data", "papers.x.data.reader", "common.run"} <= manifest.imported_modules(
        source, "papers.x.module")


def test_portable_paths():
    root, shared = PROJECT_ROOT.resolve(), PROJECT_ROOT.resolve().parent / "shared"
    text = f"python scripts/reproduce.py 'overrides=[\"data.root={shared}/data/humbug\",\"x={root}/outputs/a\"]' /opt/data"
    assert portable(text) == ("python scripts/reproduce.py 'overrides=[\"data.root=../shared/data/humbug\","
                              "\"x=outputs/a\"]' DIR")
    prose = "see https://physionet.org/content/ludb, 1/7 claims, O(1/D), log (V_R - V_F)/D, a /b"
    assert portable(prose) == prose


def _generated_texts():
    texts = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "RESULTS.md", *(PROJECT_ROOT / "papers").glob("*/README.md")]
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.split()
    return texts + [PROJECT_ROOT / name for name in tracked if name.endswith((".json", ".md"))]



@pytest.mark.parametrize("path", _generated_texts(), ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_no_machine_paths_in_readmes_and_records(path):
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    # README examples name the user's own folders as /data/<name>: not this machine's, so allowed.
    text = path.read_text()
    in_code = re.sub(r"https?://\S+", "", text)
    found = [m.group(0) for m in re.finditer(r"(?<![\w.:/~-])/(?:root|home|work|tmp|Users|mnt|opt|srv|var)/[^\s`'\")]*", in_code)]
    assert not found, f"{path.relative_to(PROJECT_ROOT)} holds machine paths: {found[:5]}"


def test_tracked_figures_are_small_and_belong_to_their_record():
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.split()
    large = [name for name in tracked if (PROJECT_ROOT / name).stat().st_size > 300_000]
    assert not large, f"tracked result files over 300 KB: {large}"
    for name in (n for n in tracked if n.endswith(".png")):
        record = json.loads((PROJECT_ROOT / name).with_name("metrics.json").read_text())
        assert name.rsplit("/", 1)[1] in record.get("figures", []), f"{name} is not a figure of its record"


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    """The tracked tree as a fresh clone has it, without git or the installed environment."""
    copy = tmp_path_factory.mktemp("clone") / "repo"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    for name in filter(None, tracked.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def _report(copy):
    done = subprocess.run([sys.executable, "scripts/report.py"], cwd=copy, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PROJECT_ROOT": str(copy), "HOME": str(copy)})
    assert done.returncode == 0, done.stderr[-2000:]


def _readmes(root):
    return {p.relative_to(root).as_posix(): p.read_text()
            for p in [root / "README.md", root / "RESULTS.md", *sorted((root / "papers").glob("*/README.md"))]}


def test_make_report_on_a_fresh_clone_changes_nothing(repo_copy):
    """Every table in README.md, RESULTS.md and the papers' READMEs is what `make report` writes
    from the tracked records and today's tree: run it after a change that stales a record."""
    before = _readmes(repo_copy)
    _report(repo_copy)
    after = _readmes(repo_copy)
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"make report rewrites {changed}: run `make report` and commit what it writes"


def test_make_report_keeps_every_recorded_scale(repo_copy):
    tracked = subprocess.run(["git", "ls-files", "results/*/*/metrics.json"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True).stdout.split()
    # git's * crosses slashes: results/<paper>/<scale>/metrics.json are the scales' records, and
    # results/<paper>/tiny/mechanism_off/<variant>/metrics.json the variants' (shown in the tiny block)
    records = [PROJECT_ROOT / name for name in tracked if len(name.split("/")) == 4]
    variants = [PROJECT_ROOT / name for name in tracked if "/mechanism_off/" in name]
    if not records:
        pytest.skip("no tracked records")
    _report(repo_copy)
    results = (repo_copy / "RESULTS.md").read_text()
    for variant in variants:
        assert f"| {variant.parent.name} | `" in results, f"RESULTS.md dropped the variant {variant.parent.name}"
    for record in records:
        paper, scale = record.parent.parent.name, record.parent.name
        assert f"### {paper} `{scale}`" in results, f"RESULTS.md dropped {paper}/{scale}"
    removed = records[0].relative_to(PROJECT_ROOT)
    (repo_copy / removed).unlink()
    _report(repo_copy)
    results = (repo_copy / "RESULTS.md").read_text()
    for record in records[1:]:
        paper, scale = record.parent.parent.name, record.parent.name
        assert f"### {paper} `{scale}`" in results, f"RESULTS.md dropped {paper}/{scale}"

