"""The command line is checked before anything runs: a guessed experiment name lists the paper's
experiments, a value of the wrong type names its key, a `+key` that nothing reads warns, and a missing
wandb login is one line. Each ends with exit code 2 from the scripts."""
import os
import subprocess
import sys
import warnings

import pytest

from common import CONFIG_DIR, PROJECT_ROOT, cli, run
from common.errors import ConfigError
from common.orchestrator import reproduce

# papers whose runs are Lightning experiments (distributed_nonconvex runs its own torch.distributed workers)
PAPERS = sorted(path.parent.name for path in (PROJECT_ROOT / "papers").glob("*/claims.yaml")
                if (CONFIG_DIR / "experiment" / path.parent.name).is_dir())
ECG = ["experiment=ecg_unet/tiny", "logger=none"]


def _script(name, *args, env=None, timeout=180):
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / name), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=PROJECT_ROOT, env=env or {**os.environ, "WANDB_MODE": "disabled"})


@pytest.mark.parametrize("paper", PAPERS)
def test_every_paper_answers_to_experiment_tiny(paper):
    assert (CONFIG_DIR / "experiment" / paper / "tiny.yaml").is_file()
    cfg = run.compose("train", [f"experiment={paper}/tiny"])
    assert cfg.data._target_ and cfg.model._target_


def test_a_guessed_experiment_lists_the_papers_experiments():
    with pytest.raises(ConfigError, match=r"experiment=gin/tinyy does not exist; gin's experiments: .*gin/artificial_tiny.*"
                                          r"gin/digits_tiny.*gin/tiny"):
        cli.check_experiment_argument(["experiment=gin/tinyy"])
    with pytest.raises(ConfigError, match="<paper> one of .*'ecg_unet'"):
        cli.check_experiment_argument(["experiment=nosuchpaper/tiny"])
    cli.check_experiment_argument(["experiment=gin/tiny", "trainer=cpu"])


@pytest.mark.parametrize(("override", "expected"), [
    ("trainer.max_epochs=abc", "trainer.max_epochs=abc: expected a number"),
    ("model.optimizer.lr=abc", "model.optimizer.lr=abc: expected a number"),
    ("seed=abc", "seed=abc: expected a number"),
    ("test=maybe", "test=maybe: expected true or false"),
])
def test_a_value_of_the_wrong_type_names_its_key(override, expected):
    with pytest.raises(ConfigError, match=expected):
        cli.check_command_line("train", [*ECG, override], run.compose)


def test_values_of_the_right_type_pass_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cli.check_command_line("train", [*ECG, "trainer.max_epochs=3", "model.optimizer.lr=1e-3", "seed=4",
                                         "trainer.max_epochs=null", "+model.extra=1", "+trainer.max_steps=5"],
                               run.compose)


def test_a_new_key_that_nothing_reads_warns():
    with pytest.warns(cli.UnreadKeyWarning, match=r"\+foo=1: no config of this run has 'foo'"):
        cli.check_command_line("train", [*ECG, "+foo=1"], run.compose)


def test_reproduce_checks_the_overrides_it_passes_to_every_run(tmp_path):
    cfg = run.compose("reproduce", ["paper=ecg_unet", "scale=tiny", f"results_dir={tmp_path}",
                                    'overrides=["trainer.max_epochs=abc"]'])
    with pytest.raises(ConfigError, match="trainer.max_epochs=abc: expected a number"):
        reproduce(cfg)
    assert not (tmp_path / "metrics.json").exists()


def test_scripts_print_one_line_and_exit_2():
    done = _script("train.py", *ECG, "trainer.max_epochs=abc")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: trainer.max_epochs=abc: expected a number (the config holds 30)"]
    done = _script("train.py", "experiment=gin/tinyy")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "gin/digits_tiny" in done.stderr


def test_wandb_without_a_login_is_one_line(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), WANDB_DIR=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "config"))
    done = _script("train.py", "experiment=ecg_unet/tiny", "logger=wandb", "trainer.max_epochs=1",
                   "trainer.enable_progress_bar=false", f"paths.output_dir={tmp_path / 'run'}", env=env, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == f"error: {cli.WANDB_LOGIN_HINT}"
    assert "Traceback" not in done.stderr



def test_the_run_log_holds_what_the_terminal_shows(tmp_path):
    done = _script("train.py", "experiment=ecg_unet/tiny", "data.synthetic.records=12", "data.synthetic.seconds=4.0",
                   "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "logger=none", f"paths.log_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    (log,) = tmp_path.glob("*/*/train.log")
    text = log.read_text()
    assert "`Trainer.fit` stopped" in text and "Total params" in text
    final = [line for line in done.stdout.splitlines() if line.startswith(("val/loss:", "test/sample_accuracy:"))]
    assert len(final) == 2 and all(line in text for line in final)
    assert text.count("val/loss:") == 1  # the metrics once each, not again through the console handler


def test_whole_folder_errors_name_the_argument_given(tmp_path):
    missing = tmp_path / "nowhere"
    cfg = run.compose("evaluate", ["experiment=ecg_unet/tiny", f"whole_folder={missing}"])
    with pytest.raises(ConfigError, match=f"whole_folder={missing} is not a folder"):
        cli.check_whole_folder(cfg)
    cfg = run.compose("evaluate", ["experiment=csiszar_cramer_rao/learned_estimator", f"whole_folder={tmp_path}"])
    with pytest.raises(ConfigError, match=r"whole_folder=.*: this experiment's data \(\w+\) cannot "
                                          "be scored as a folder"):
        cli.check_whole_folder(cfg)
    cli.check_whole_folder(run.compose("evaluate", ["experiment=ecg_unet/tiny", f"whole_folder={tmp_path}"]))
