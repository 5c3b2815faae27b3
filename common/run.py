"""The run loop every paper shares: compose a config, check it, train, test, save metrics."""
from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from common import CONFIG_DIR
from common.errors import ConfigError, DataError
from common.manifest import composed_files

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class RunFolder:
    """The layout of a training run's folder: the one place that spells it out."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @classmethod
    def of_checkpoint(cls, ckpt_path: str | Path) -> RunFolder:
        """The run a checkpoint at `<run>/checkpoints/<name>.ckpt` belongs to."""
        return cls(Path(ckpt_path).parent.parent)

# Generic config keys (matched by their last name anywhere in the tree) and the rule their values
# obey; a paper's own keys are checked by the class that takes them.
_POSITIVE_KEYS = {"lr", "batch_size", "max_epochs"}
_NON_NEGATIVE_KEYS = {"weight_decay", "num_workers", "momentum", "dropout"}


# Lists that `recording_compositions` hands out; compose() adds the config files it read to each.
_recorders: list[list[Path]] = []


def _compose(config_name: str, overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    if GlobalHydra.instance().is_initialized():
        return hydra.compose(config_name=config_name, overrides=overrides, return_hydra_config=return_hydra_config)
    with hydra.initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra.compose(config_name=config_name, overrides=overrides, return_hydra_config=return_hydra_config)


def compose(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """Compose a root config (train/evaluate/reproduce) as the command line would."""
    cfg = _compose(config_name, list(overrides))
    if _recorders:
        files = config_files(config_name, overrides)
        for recorder in _recorders:
            recorder.extend(files)
    return cfg


def config_files(config_name: str, overrides: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The repository's config files that composing `config_name` with `overrides` reads."""
    choices = _compose(config_name, list(overrides), return_hydra_config=True).hydra.runtime.choices
    return composed_files(config_name, OmegaConf.to_container(choices))


@contextmanager
def recording_compositions() -> Iterator[list[Path]]:
    """Within the block, every compose() adds the config files it read to the yielded list."""
    files: list[Path] = []
    _recorders.append(files)
    try:
        yield files
    finally:
        _recorders.remove(files)


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{prefix}{key}.")
            yield f"{prefix}{key}", str(key), value
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{prefix}{index}.")


def validate_config(cfg: DictConfig) -> None:
    """Reject values no run can use, naming the key: a negative learning rate, zero epochs..."""
    for path, key, value in _walk(OmegaConf.to_container(cfg, resolve=False)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if key in _POSITIVE_KEYS and not (value > 0 or (key == "max_epochs" and value == -1)):
            raise ConfigError(f"{path} must be > 0, got {value}")
        if key in _NON_NEGATIVE_KEYS and value < 0:
            raise ConfigError(f"{path} must be >= 0, got {value}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{path} must be a finite number, got {value}")


def _resolve_output_dir(cfg: DictConfig) -> Path:
    if cfg.paths.get("output_dir") is None:
        if not HydraConfig.initialized():
            raise ConfigError("paths.output_dir is not set and no Hydra run dir is active")
        cfg.paths.output_dir = HydraConfig.get().runtime.output_dir
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir


def identity(cfg: DictConfig) -> dict:
    """What decides a run's results: the config less where its files go and how it is watched."""
    plain = OmegaConf.to_container(cfg, resolve=False)
    for key in ("paths", "logger", "resume", "ckpt_path", "task_name"):
        plain.pop(key, None)
    plain.get("trainer", {}).pop("enable_progress_bar", None)
    return plain


def _comparable(cfg: DictConfig) -> dict:
    """The parts of a config that decide what a checkpoint means: training may be extended."""
    plain = identity(cfg)
    plain.pop("test", None)
    for key in ("max_epochs", "log_every_n_steps"):
        plain.get("trainer", {}).pop(key, None)
    return plain


def _find_resume_checkpoint(cfg: DictConfig, output_dir: Path) -> Path | None:
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if not path.is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path} does not exist")
        return path
    folder = RunFolder(output_dir)
    last = folder.last_checkpoint
    if not (cfg.get("resume", True) and last.is_file()):
        return None
    saved_config = folder.config
    if saved_config.is_file():
        previous = _comparable(OmegaConf.load(saved_config))
        if previous != _comparable(cfg):
            raise ConfigError(
                f"{output_dir} holds a checkpoint of a run with a different config; "
                "resume it with the same overrides, or choose another output dir "
                "(hydra.run.dir=... / paths.output_dir=...), or pass resume=false"
            )
    return last


def _instantiate(node: DictConfig, what: str, **kwargs):
    try:
        return instantiate(node, **kwargs)
    except hydra.errors.InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ConfigError | DataError):
            raise cause from None
        raise ConfigError(f"could not build `{what}` from the config: {err}") from err


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """The callbacks of the `callbacks/` config group (a mapping name -> callback config)."""
    return [_instantiate(node, f"callbacks.{name}") for name, node in (cfg.get("callbacks") or {}).items()
            if node is not None]


def build_trainer(cfg: DictConfig, output_dir: Path, callbacks: list) -> pl.Trainer:
    logger = _instantiate(cfg.logger, "logger") if cfg.get("logger") else False
    return _instantiate(
        cfg.trainer, "trainer", callbacks=callbacks, logger=logger, default_root_dir=str(output_dir)
    )


def _scalar_metrics(trainer: pl.Trainer) -> dict[str, float]:
    return {
        key: float(value.item() if isinstance(value, torch.Tensor) else value)
        for key, value in trainer.callback_metrics.items()
    }


def write_metrics(metrics: dict[str, float], output_dir: Path) -> Path:
    path = RunFolder(output_dir).metrics
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit `cfg.model` on `cfg.data`, resume if a checkpoint is there, test, save metrics.json."""
    validate_config(cfg)
    output_dir = _resolve_output_dir(cfg)
    resume_from = _find_resume_checkpoint(cfg, output_dir)
    OmegaConf.save(cfg, RunFolder(output_dir).config)

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = _instantiate(cfg.data, "data")
    model = _instantiate(cfg.model, "model")
    trainer = build_trainer(cfg, output_dir, callbacks=build_callbacks(cfg))
    if resume_from is not None:
        print(f"Resuming from {resume_from}")
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    metrics = _scalar_metrics(trainer)
    if cfg.get("test", True):
        trainer.test(model, datamodule=datamodule, verbose=False)
        metrics.update(_scalar_metrics(trainer))
    if trainer.is_global_zero:
        write_metrics(metrics, output_dir)
    return metrics


def read_checkpoint(ckpt_path: str | Path) -> dict:
    """A checkpoint's contents, loaded with weights_only=True; clear errors for bad paths/files."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{path} is not a readable checkpoint: {err}") from err
    if not isinstance(checkpoint, dict):
        raise DataError(f"{path} is not a checkpoint dictionary")
    return checkpoint


def load_weights(model: torch.nn.Module, ckpt_path: str | Path) -> None:
    checkpoint = read_checkpoint(ckpt_path)
    state = checkpoint.get("state_dict", checkpoint)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise DataError(f"{ckpt_path} does not fit this model (check the experiment): {err}") from err
    if isinstance(model, pl.LightningModule) and "state_dict" in checkpoint:
        model.on_load_checkpoint(checkpoint)  # state a module keeps beside its weights, as Trainer restores it


def saved_model_config(module_class: type, ckpt_path: str | Path) -> dict:
    """The model config that rebuilds `module_class` from the hyper-parameters its checkpoint saved
    (`save_hyperparameters`): for a checkpoint without its run's config, or a run whose config would
    build the model from other weights (e.g. another run's checkpoint) before this one's load."""
    hyperparameters = read_checkpoint(ckpt_path).get("hyper_parameters")
    name = module_class.__qualname__
    if not isinstance(hyperparameters, dict):
        raise DataError(f"{ckpt_path} holds no hyper_parameters: not a training checkpoint of {name}")
    parameters = inspect.signature(module_class).parameters.values()
    named = {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    unknown = [] if takes_any else sorted(set(hyperparameters) - named)
    missing = sorted(p.name for p in parameters if p.name in named and p.default is p.empty
                     and p.name not in hyperparameters)
    if unknown or missing:
        raise DataError(f"{ckpt_path} was not written by {name}: its hyper-parameters "
                        f"{'hold unknown ' + str(unknown) if unknown else 'lack ' + str(missing)}")
    return {"_target_": f"{module_class.__module__}.{name}", **hyperparameters}


def load_model(model_config: DictConfig | dict, ckpt_path: str | Path) -> pl.LightningModule:
    """The one way to get a trained model: build it from its `model` config, load its weights
    (a Lightning checkpoint or a bare state dict, read with weights_only=True), eval mode."""
    if isinstance(model_config, DictConfig):  # a node of a run's config: resolve it within that config
        model_config = OmegaConf.to_container(model_config, resolve=True)
    model = _instantiate(OmegaConf.create(model_config), "model")
    load_weights(model, ckpt_path)
    return model.eval()


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint on the experiment's test data, or on every item of `whole_folder`, and
    save metrics.json."""
    validate_config(cfg)
    output_dir = _resolve_output_dir(cfg)
    OmegaConf.save(cfg, RunFolder(output_dir).config)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("whole_folder"):
        datamodule = _instantiate(cfg.data, "data", root=cfg.whole_folder)
        datamodule.test_on_whole_folder()
    else:
        datamodule = _instantiate(cfg.data, "data")
    model = load_model(cfg.model, cfg.ckpt_path)
    trainer = build_trainer(cfg, output_dir, callbacks=[])
    trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = _scalar_metrics(trainer)
    write_metrics(metrics, output_dir)
    return metrics
