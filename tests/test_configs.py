"""Every config composes; every experiment instantiates and runs one fast_dev_run batch on CPU."""
import importlib
import math

import hydra
import pytest
from hydra.utils import instantiate

from common import CONFIG_DIR, PROJECT_ROOT, run
from tests.shared_data import SHARED_DATA

EXPERIMENTS = sorted(
    str(path.relative_to(CONFIG_DIR / "experiment").with_suffix(""))
    for path in (CONFIG_DIR / "experiment").rglob("*.yaml")
)


# Experiments whose data is real read the excerpts in ../shared/data. Each paper names them in
# tests/<paper>/real_data.py: DATA_ROOTS = {"<paper>/<exp>": "<folder under shared/data>"} and,
# optionally, EXTRA_OVERRIDES = {"<paper>/<exp>": [...]}; a folder that needs building from the
# excerpts is a session fixture of tests/conftest.py named in REAL_DATA_FIXTURES instead.
REAL_DATA_FIXTURES = {
    "humbug_cnn/zooniverse": "zooniverse_excerpt",
    "humbug_cnn/humbugdb": "humbugdb_excerpt",
}


def _per_paper(name: str) -> dict:
    merged = {}
    for module_file in sorted((PROJECT_ROOT / "tests").glob("*/real_data.py")):
        module = importlib.import_module(f"tests.{module_file.parent.name}.real_data")
        merged.update(getattr(module, name, {}))
    return merged


DATA_ROOTS = _per_paper("DATA_ROOTS")
EXTRA_OVERRIDES = _per_paper("EXTRA_OVERRIDES")


def _experiment_overrides(experiment, request):
    overrides = [f"experiment={experiment}", "logger=none", *EXTRA_OVERRIDES.get(experiment, [])]
    if experiment in REAL_DATA_FIXTURES:
        overrides.append(f"data.root={request.getfixturevalue(REAL_DATA_FIXTURES[experiment])}")
    elif experiment in DATA_ROOTS:
        root = SHARED_DATA / DATA_ROOTS[experiment]
        if not root.exists():
            pytest.skip(f"real data excerpt not found: {root}")
        overrides.append(f"data.root={root}")
    return overrides


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_instantiates(experiment, request, tmp_path):
    cfg = run.compose("train", [*_experiment_overrides(experiment, request), f"paths.output_dir={tmp_path}"])
    run.validate_config(cfg)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    assert model.configure_optimizers() is not None
    datamodule.setup("fit")
    assert len(datamodule.train_dataloader()) > 0


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_fast_dev_run(experiment, request, tmp_path):
    cfg = run.compose(
        "train", [*_experiment_overrides(experiment, request), "debug=fast_dev_run", f"paths.output_dir={tmp_path}"]
    )
    metrics = run.train(cfg)
    assert math.isfinite(metrics["train/loss"])  # a negative log-likelihood may be negative


@pytest.mark.parametrize("root", ["train", "evaluate"])
def test_experiment_and_debug_configs_override_the_root_config(root):
    # The root config lists `_self_` first: what an experiment or debug config sets must win.
    overrides = ["experiment=ecg_unet/tiny", *(["debug=fast_dev_run"] if root == "train" else ["ckpt_path=x"])]
    cfg = run.compose(root, overrides)
    assert cfg.task_name == "ecg_unet-tiny"
    if root == "train":
        assert cfg.test is False and cfg.trainer.fast_dev_run is True


def test_reproduce_config_selects_the_papers_plan():
    cfg = run.compose("reproduce", ["paper=ecg_unet", "scale=tiny"])
    assert cfg.paper == "ecg_unet" and cfg.task_name == "reproduce-ecg_unet"
    assert cfg.scales[cfg.scale].experiment == "ecg_unet/tiny"
    assert cfg.results_dir.endswith("results/ecg_unet/tiny")


def test_unknown_paper_is_named():
    with pytest.raises(hydra.errors.MissingConfigException, match="paper/no_such_paper"):
        run.compose("reproduce", ["paper=no_such_paper"])


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp", "ddp_sim"])
@pytest.mark.parametrize("logger", ["csv", "wandb", "none"])
def test_trainer_and_logger_options_compose(trainer, logger):
    cfg = run.compose("train", ["experiment=ecg_unet/tiny", f"trainer={trainer}", f"logger={logger}"])
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    assert (not cfg.logger) == (logger == "none")


@pytest.mark.parametrize(("debug", "key", "value"), [
    ("fast_dev_run", "fast_dev_run", True), ("limit", "limit_train_batches", 3), ("overfit", "overfit_batches", 1),
])
def test_debug_options_compose(debug, key, value):
    assert run.compose("train", ["experiment=ecg_unet/tiny", f"debug={debug}"]).trainer[key] == value


@pytest.mark.parametrize(("callbacks", "names"), [
    ("default", {"model_checkpoint", "epoch_seeding"}),
    ("early_stopping", {"model_checkpoint", "epoch_seeding", "early_stopping"}),
    ("lr_monitor", {"model_checkpoint", "epoch_seeding", "lr_monitor"}),
    ("none", set()),
])
def test_callbacks_come_from_the_config_group(callbacks, names, tmp_path):
    cfg = run.compose("train", ["experiment=ecg_unet/tiny", f"callbacks={callbacks}", f"paths.output_dir={tmp_path}"])
    assert set(cfg.callbacks or {}) == names
    assert len(run.build_callbacks(cfg)) == len(names)


@pytest.mark.parametrize(("launcher", "target"), [
    ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
])
def test_sweep_launchers_compose(launcher, target):
    with hydra.initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra.compose("train", ["experiment=ecg_unet/tiny", f"hydra/launcher={launcher}"],
                            return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == target
