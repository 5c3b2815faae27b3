"""Optimizers and schedulers come from the `optimizer/` and `scheduler/` config groups: experiment
files select an option in their defaults list and keep only the values that differ; each option
composes at model.optimizer / model.scheduler and builds a working partial; the command line can
swap an option or change one of its values."""
import functools
import os
import subprocess
import sys
from contextlib import contextmanager

import hydra
import pytest
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from common import CONFIG_DIR, PROJECT_ROOT, run

EXPERIMENT_FILES = sorted((CONFIG_DIR / "experiment").rglob("*.yaml"))
EXPERIMENTS = [str(p.relative_to(CONFIG_DIR / "experiment").with_suffix("")) for p in EXPERIMENT_FILES]
OPTIMIZERS = sorted(p.stem for p in (CONFIG_DIR / "optimizer").glob("*.yaml"))
SCHEDULERS = sorted(p.stem for p in (CONFIG_DIR / "scheduler").glob("*.yaml"))
# Values an option leaves to the experiment (`???`), given here to build it.
REQUIRED = {"multistep": ["model.scheduler.milestones=[2]"]}
# An experiment with both groups and only option-neutral values below them (lr, weight_decay).
BASE = "experiment=ecg_unet/tiny"


@contextmanager
def _hydra():
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with hydra.initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        yield


def _choices(overrides):
    with _hydra():
        cfg = hydra.compose("train", overrides=list(overrides), return_hydra_config=True)
    return cfg, OmegaConf.to_container(cfg.hydra.runtime.choices)


def _torch_optim_targets(node, path=""):
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str) and target.startswith("torch.optim"):
            yield path or "<root>"
        for key, value in node.items():
            yield from _torch_optim_targets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _torch_optim_targets(value, f"{path}.{index}")


def _tiny_optimizer():
    return torch.optim.SGD(torch.nn.Linear(3, 2).parameters(), lr=0.1)


@pytest.mark.parametrize("path", EXPERIMENT_FILES, ids=EXPERIMENTS)
def test_no_experiment_file_inlines_an_optimizer_or_scheduler(path):
    assert "_target_: torch.optim" not in path.read_text(), f"{path}: select an optimizer/ or scheduler/ option"
    assert not list(_torch_optim_targets(yaml.safe_load(path.read_text()))), path


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_optimizer_and_scheduler_come_from_the_groups(experiment):
    cfg, choices = _choices([f"experiment={experiment}"])
    for key in ("optimizer", "discriminator_optimizer", "scheduler"):
        node = cfg.model.get(key)
        if node is None:  # absent or null (scheduler/none)
            continue
        group = "scheduler" if key == "scheduler" else "optimizer"
        choice = choices.get(group if key != "discriminator_optimizer" else f"optimizer@model.{key}")
        assert choice, f"{experiment}: model.{key} is set but no {group}/ option is selected"
        assert node._target_ == OmegaConf.load(CONFIG_DIR / group / f"{choice}.yaml")._target_


@pytest.mark.parametrize("option", OPTIMIZERS)
def test_optimizer_option_composes_and_instantiates(option):
    # The option's own file, built alone: a partial that takes only the parameters.
    own = OmegaConf.load(CONFIG_DIR / "optimizer" / f"{option}.yaml")
    assert own._partial_ is True
    assert isinstance(instantiate(own)(torch.nn.Linear(3, 2).parameters()), torch.optim.Optimizer)
    # Swapped in from the command line: placed at model.optimizer, the experiment's values kept.
    cfg = run.compose("train", [BASE, f"optimizer={option}"])
    assert cfg.model.optimizer._target_ == own._target_
    factory = instantiate(cfg.model.optimizer)
    assert isinstance(factory, functools.partial)
    optimizer = factory(torch.nn.Linear(3, 2).parameters())
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert optimizer.param_groups[0]["lr"] == cfg.model.optimizer.lr == 0.003


@pytest.mark.parametrize("option", SCHEDULERS)
def test_scheduler_option_composes_and_instantiates(option):
    cfg = run.compose("train", [BASE, f"scheduler={option}", *REQUIRED.get(option, [])])
    if option == "none":
        assert "scheduler" in cfg.model and cfg.model.scheduler is None
        return
    own = OmegaConf.load(CONFIG_DIR / "scheduler" / f"{option}.yaml")
    assert own._partial_ is True and cfg.model.scheduler._target_ == own._target_
    factory = instantiate(cfg.model.scheduler)
    assert isinstance(factory, functools.partial)
    assert isinstance(factory(optimizer=_tiny_optimizer()), torch.optim.lr_scheduler.LRScheduler)


def test_cosine_runs_over_the_experiments_epochs():
    cfg = run.compose("train", [BASE, "trainer.max_epochs=7"])
    assert cfg.model.scheduler.T_max == 7


def test_overrides_of_a_groups_values_and_options():
    cfg = run.compose("train", [BASE, "model.optimizer.lr=0.5", "model.optimizer.weight_decay=0.01"])
    assert (cfg.model.optimizer._target_, cfg.model.optimizer.lr, cfg.model.optimizer.weight_decay) == (
        "torch.optim.Adam", 0.5, 0.01)
    cfg = run.compose("train", [BASE, "optimizer=sgd", "+model.optimizer.momentum=0.9", "scheduler=none"])
    assert cfg.model.optimizer._target_ == "torch.optim.SGD" and cfg.model.optimizer.momentum == 0.9
    assert cfg.model.scheduler is None
    model = instantiate(cfg.model)
    assert isinstance(model.configure_optimizers(), torch.optim.SGD)
    # An experiment without a schedule adds one with `+`; a second optimizer has its own key.
    cfg = run.compose("train", ["experiment=finsler_latent_metric/tiny", "+scheduler=cosine"])
    assert cfg.model.scheduler.T_max == cfg.trainer.max_epochs
    cfg = run.compose("train", ["experiment=skin_lesion_aae/tiny", "optimizer@model.discriminator_optimizer=adamw"])
    assert cfg.model.discriminator_optimizer._target_ == "torch.optim.AdamW"
    assert cfg.model.discriminator_optimizer.lr == 0.0002 and cfg.model.optimizer._target_ == "torch.optim.Adam"


def test_an_experiment_that_extends_another_keeps_its_optimizer():
    # tiny extends mnist (SGD) and sets only values; the sweep overrides model.optimizer.lr.
    cfg, choices = _choices(["experiment=curvature_generalization/width_tiny", "model.optimizer.lr=0.08"])
    assert choices["optimizer"] == "sgd"
    assert OmegaConf.to_container(cfg.model.optimizer) == {
        "_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.08, "momentum": 0.0}


def test_the_command_line_swaps_an_option():
    env = {**os.environ, "WANDB_MODE": "disabled"}
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "train.py"), BASE, "optimizer=adamw",
         "model.optimizer.lr=0.5", "scheduler=none", "--cfg", "job"],
        capture_output=True, text=True, timeout=300, env=env, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    model = yaml.safe_load(result.stdout)["model"]
    assert model["optimizer"] == {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.5, "weight_decay": 0.0}
    assert model["scheduler"] is None
