"""Run keys: the same config on the same code reuses a run; a changed manifest (code, config
files, library versions) trains afresh."""
from common import experiment, run
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
