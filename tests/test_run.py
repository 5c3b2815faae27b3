"""The shared run loop: determinism, resume after a kill, DDP on CPU, wandb offline, bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import wandb
from hydra.errors import MissingConfigException

from common import PROJECT_ROOT, run
from common.errors import ConfigError, DataError
from tests.conftest import QUICK_ECG

TRAIN_SCRIPT = str(PROJECT_ROOT / "scripts" / "train.py")


def _train(tmp_path, *overrides):
    return run.train(run.compose("train", [*QUICK_ECG, f"paths.output_dir={tmp_path}", *overrides]))


def _script(*args, timeout=300):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, TRAIN_SCRIPT, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=PROJECT_ROOT)


def test_same_seed_gives_the_same_metrics(tmp_path):
    first = _train(tmp_path / "a")
    second = _train(tmp_path / "b")
    assert first == pytest.approx(second, rel=0, abs=0, nan_ok=True)
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved == pytest.approx(first, nan_ok=True)
    third = _train(tmp_path / "c", "seed=1")
    assert third["train/loss"] != first["train/loss"]


# humbug_cnn shuffles its clips per (seed, epoch) and keeps its feature normalisation in buffers:
# a resumed run must see the same batches and restore both.
QUICK_HUMBUG = ["experiment=humbug_cnn/tiny", "data.synthetic.count=60", "trainer.enable_progress_bar=false",
                "logger=none"]


# Epochs per case: enough that the kill lands while training runs (the quick ECG run trains 4
# epochs in well under the 0.2 s the test waits, and a run killed after its last epoch resumes
# into a test alone).
@pytest.mark.parametrize(("quick", "epochs"), [(QUICK_ECG, 30), (QUICK_HUMBUG, 4)], ids=["ecg_unet", "humbug_cnn"])
def test_killed_run_resumes_from_its_checkpoint_with_the_same_metrics(tmp_path, quick, epochs):
    args = [*quick, f"trainer.max_epochs={epochs}"]
    reference = _script(*args, f"paths.output_dir={tmp_path / 'whole'}")
    assert reference.returncode == 0, reference.stderr[-2000:]

    run_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, TRAIN_SCRIPT, *args, f"paths.output_dir={run_dir}"],
                               cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "WANDB_MODE": "disabled"})
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "training ended before it could be killed"
    time.sleep(0.2)  # let the checkpoint file be written out
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "metrics.json").exists()
    reached = torch.load(last, map_location="cpu", weights_only=True)["epoch"]
    assert reached < epochs - 1, f"killed after the last epoch ({reached}): nothing left to resume"

    resumed = _script(*args, f"paths.output_dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming from" in resumed.stdout
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    again = json.loads((run_dir / "metrics.json").read_text())
    assert again == pytest.approx(whole, rel=1e-6, abs=1e-7, nan_ok=True)


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    _train(tmp_path)
    with pytest.raises(ConfigError, match="different config"):
        _train(tmp_path, "model.optimizer.lr=0.01")


def test_ddp_with_two_cpu_processes(tmp_path):
    metrics = _train(tmp_path, "trainer=ddp_sim", "test=false")
    assert metrics["train/loss"] > 0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_wandb_logger_offline_writes_a_run_with_its_metrics(tmp_path, monkeypatch):
    # a run that logs (no fast_dev_run, which switches loggers off): each epoch's validation metrics
    # land in the offline run file, to be synced later
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    epochs = 3
    _train(tmp_path, "logger=wandb", "logger.offline=true", "test=false", f"trainer.max_epochs={epochs}")
    wandb.finish()  # the run file is written by wandb's service in the background: flush it as a script's exit does
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    records = b"".join(path.read_bytes() for path in runs[0].glob("*.wandb"))
    assert records.count(b"val/sample_accuracy") >= epochs


def test_evaluate_reproduces_the_test_metrics_of_training(tmp_path, trained_quick_ecg):
    run_dir, trained = trained_quick_ecg
    cfg = run.compose("evaluate", [*QUICK_ECG, f"paths.output_dir={tmp_path / 'eval'}",
                                   f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"])
    evaluated = run.evaluate(cfg)
    assert evaluated["test/qrs_onset_f1"] == pytest.approx(trained["test/qrs_onset_f1"])
    assert evaluated["test/sample_accuracy"] == pytest.approx(trained["test/sample_accuracy"])


def test_evaluate_scores_every_record_of_another_folder(tmp_path, trained_quick_ecg, ludb_excerpt):
    run_dir, _ = trained_quick_ecg
    folder = tmp_path / "unseen"
    folder.mkdir()
    names = (ludb_excerpt / "RECORDS").read_text().split()[:3]
    for name in names:  # three LUDB records in a folder of their own, in the LUDB layout
        for source in (ludb_excerpt / name).parent.glob(Path(name).name + ".*"):
            target = folder / Path(name).parent / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    (folder / "RECORDS").write_text("\n".join(names) + "\n")
    cfg = run.compose("evaluate", ["experiment=ecg_unet/ludb", "logger=none", f"paths.output_dir={tmp_path / 'eval'}",
                                   f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"whole_folder={folder}",
                                   "trainer.enable_progress_bar=false"])
    metrics = run.evaluate(cfg)
    assert 0 <= metrics["test/qrs_onset_f1"] <= 1
    assert metrics["test/qrs_onset_n_true"] > 3 * 12 * 5  # every lead of all three records, several beats each


def test_unknown_group_option_is_named():
    with pytest.raises(MissingConfigException, match="trainer/tpu_pod"):
        run.compose("train", [*QUICK_ECG, "trainer=tpu_pod"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.optimizer.lr=-0.1", "model.optimizer.lr must be > 0, got -0.1"),
        ("data.batch_size=0", "data.batch_size must be > 0, got 0"),
        ("data.augmentation.noise_mv=-1", "data.augmentation.noise_mv must be >= 0, got -1"),
        ("trainer.max_epochs=0", "trainer.max_epochs must be > 0, got 0"),
    ],
)
def test_bad_values_fail_fast_with_the_key(tmp_path, override, message):
    cfg = run.compose("train", [*QUICK_ECG, f"paths.output_dir={tmp_path}", override])
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        run.train(cfg)


def test_missing_data_path_is_named(tmp_path):
    with pytest.raises(DataError, match="no/such/ludb"):
        run.train(run.compose("train", ["experiment=ecg_unet/ludb", "data.root=/no/such/ludb",
                                        f"paths.output_dir={tmp_path}", "logger=none"]))


def test_script_prints_one_clear_line_for_bad_input(tmp_path):
    result = _script(*QUICK_ECG, f"paths.output_dir={tmp_path}", "model.optimizer.lr=-1")
    assert result.returncode == 2
    assert "error: model.optimizer.lr must be > 0, got -1" in result.stderr
    assert "Traceback" not in result.stderr
    result = _script(*QUICK_ECG, "trainer=tpu_pod")
    assert result.returncode != 0 and "trainer/tpu_pod" in result.stderr


def test_joblib_multirun_trains_each_seed(tmp_path):
    result = _script("-m", "hydra/launcher=joblib", "seed=0,1", *QUICK_ECG, "trainer.max_epochs=1",
                     f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    runs = sorted(tmp_path.glob("ecg_unet-tiny/multirun/*/*/metrics.json"))  # named after the experiment
    assert len(runs) == 2
    losses = [json.loads(path.read_text())["train/loss"] for path in runs]
    assert losses[0] != losses[1]


class _Saved(pl.LightningModule):
    """A module that saves its hyper-parameters, as the papers' modules do."""

    def __init__(self, width: int, scale: float = 1.0):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(2, width)


def test_a_checkpoint_rebuilds_its_module_from_the_hyper_parameters_it_saved(tmp_path):
    module = _Saved(width=3, scale=2.0)
    path = tmp_path / "saved.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, path)
    config = run.saved_model_config(_Saved, path)
    assert config == {"_target_": "tests.test_run._Saved", "width": 3, "scale": 2.0}
    loaded = run.load_model(config, path)
    assert torch.equal(loaded.layer.weight, module.layer.weight) and not loaded.training

    for saved, message in (({}, "holds no hyper_parameters"), ({"hyper_parameters": {"scale": 1.0}}, r"lack \['width'\]"),
                           ({"hyper_parameters": {"width": 3, "depth": 2}}, r"unknown \['depth'\]")):
        torch.save({"state_dict": module.state_dict(), **saved}, path)
        with pytest.raises(DataError, match=message):
            run.saved_model_config(_Saved, path)
