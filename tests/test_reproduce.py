"""reproduce.py's run keys: the same config on the same code reuses a run, changed code trains afresh,
and a result of older code is marked stale."""
import json

from common import reproduce as reproduce_module
from common import run
from common.provenance import source_hash
from common.report import is_stale
from tests.conftest import QUICK_ECG


def _cfg(tmp_path):
    overrides = [o for o in QUICK_ECG if not o.startswith("experiment=")] + ["trainer.max_epochs=1"]
    quoted = ",".join(f'"{o}"' for o in overrides)
    return run.compose("reproduce", ["paper=ecg_unet", "scale=tiny", f"results_dir={tmp_path}", f"overrides=[{quoted}]"])


def test_changed_source_trains_a_fresh_run(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    first = reproduce_module.train_experiment(cfg, "ecg_unet/tiny")
    again = reproduce_module.train_experiment(cfg, "ecg_unet/tiny")
    assert again["run_dir"] == first["run_dir"]
    assert again["test/qrs_onset_f1"] == first["test/qrs_onset_f1"]

    monkeypatch.setattr(reproduce_module, "source_hash", lambda paper: "a-line-of-code-changed")
    changed = reproduce_module.train_experiment(cfg, "ecg_unet/tiny")
    assert changed["run_dir"] != first["run_dir"]
    assert len(list((tmp_path / "runs").iterdir())) == 2

    other_seed = reproduce_module.train_experiment(cfg, "ecg_unet/tiny", seed=1)
    assert other_seed["run_dir"] not in (first["run_dir"], changed["run_dir"])


def test_result_of_other_code_is_stale(tmp_path):
    summary = {"paper": "ecg_unet", "source_hash": source_hash("ecg_unet")}
    assert not is_stale(summary)
    assert is_stale({**summary, "source_hash": "0123456789abcdef"})
    assert is_stale(json.loads(json.dumps({"paper": "ecg_unet"})))  # recorded before hashes existed
