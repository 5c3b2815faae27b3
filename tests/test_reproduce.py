"""Run keys: the same config on the same code reuses a run; a changed manifest (code, config
files, library versions) trains afresh."""
import json

import pytest

from common import experiment, orchestrator, run
from common.errors import ConfigError
from common.orchestrator import switch_mechanism_off
from common.report import mechanism_off_block, record_path
from tests.conftest import QUICK_ECG


def _cfg(tmp_path):
    overrides = [o for o in QUICK_ECG if not o.startswith("experiment=")] + ["trainer.max_epochs=1"]
    quoted = ",".join(f'"{o}"' for o in overrides)
    return run.compose("reproduce", ["paper=ecg_unet", "scale=tiny", f"results_dir={tmp_path}", f"overrides=[{quoted}]"])


def test_changed_manifest_trains_a_fresh_run(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    first = experiment.train_experiment(cfg, "ecg_unet/tiny")
    again = experiment.train_experiment(cfg, "ecg_unet/tiny")
    assert again["run_dir"] == first["run_dir"]
    assert experiment.scale_record(first["run_dir"]) == tmp_path / "metrics.json"
    assert again["test/qrs_onset_f1"] == first["test/qrs_onset_f1"]

    monkeypatch.setattr(experiment.manifest, "digest", lambda manifest: "a-line-of-code-changed")
    changed = experiment.train_experiment(cfg, "ecg_unet/tiny")
    assert changed["run_dir"] != first["run_dir"]
    assert len(list((tmp_path / "runs").iterdir())) == 2

    other_seed = experiment.train_experiment(cfg, "ecg_unet/tiny", seed=1)
    assert other_seed["run_dir"] not in (first["run_dir"], changed["run_dir"])


def test_switch_off_applies_a_variant_into_its_own_folder(tmp_path, monkeypatch):
    cfg = run.compose("reproduce", ["paper=csiszar_cramer_rao", "scale=tiny", f"results_dir={tmp_path}"])
    switched = switch_mechanism_off(cfg, "fisher_information_bound")
    assert switched.scales.tiny.bound_alpha == 1.0 and cfg.scales.tiny.bound_alpha is None
    assert switched.results_dir == str(tmp_path / "mechanism_off" / "fisher_information_bound")
    assert switch_mechanism_off(cfg, None) is cfg
    with pytest.raises(ConfigError, match=r"switch_off=nope is not .* choose one of \['fisher_information_bound'\]"):
        switch_mechanism_off(cfg, "nope")
    monkeypatch.setattr(orchestrator, "mechanism_variants", lambda paper: {
        "fisher_information_bound": {"args": ["scales.tiny.no_such_key=1"], "must_fail": ["tiny_crb_holds"]}})
    with pytest.raises(ConfigError, match="scales.tiny.no_such_key is not a key"):
        switch_mechanism_off(cfg, "fisher_information_bound")


def test_the_report_shows_whether_each_variant_fails_its_claims(tmp_path):
    variants = {"off": {"args": ["scales.tiny.bound_alpha=1.0"], "must_fail": ["tiny_crb_holds", "tiny_crb_precision"]},
                "unrun": {"args": ["scales.tiny.x=1"], "must_fail": ["tiny_crb_holds"]}}
    record = record_path("csiszar_cramer_rao", "tiny", tmp_path, variant="off")
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"paper": "csiszar_cramer_rao", "scale": "tiny",
                                  "metrics": {"crb/holds_min_p_adj": 0.0, "crb/max_rel_se": 0.005}}))
    rows = mechanism_off_block("csiszar_cramer_rao", variants, results_root=tmp_path)
    off = next(row for row in rows if row.startswith("| off |"))
    # The precision claim still passes with the mechanism off: the table says the variant does not fail them all.
    assert "tiny_crb_holds: not reproduced, tiny_crb_precision: reproduced | **no** (stale) |" in off
    assert any(row.startswith("| unrun |") and row.endswith("| no record |") for row in rows)
    assert mechanism_off_block("csiszar_cramer_rao", {}) == []
