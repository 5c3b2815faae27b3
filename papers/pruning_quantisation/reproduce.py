"""pruning_quantisation's part of `scripts/reproduce.py`: train, prune, quantise, measure, plot.

For every network of `compression.networks`: train it (float), prune it and fine-tune under the
masks (pruned), slim it (the same filters physically removed) and fine-tune the smaller network
as long (slimmed), quantise all three to int8 (quantised, pruned_quantised, slimmed_quantised),
then measure each of the six on the same test set and the same CPU. Then the overfitting experiment: a network without
dropout trained long on a small training set, and the same network pruned and fine-tuned.
Settings come from `scales.<scale>.compression` of configs/paper/pruning_quantisation.yaml.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import torch
from omegaconf import DictConfig

from common.errors import ConfigError
from common.reproduce import PaperResults, load_trained_run, train_experiment
from papers.pruning_quantisation.compression import (
    check_backend,
    check_sparsity,
    make_pruning_permanent,
    parameter_counts,
    quantise_static,
)
from papers.pruning_quantisation.measure import (
    accuracy,
    interleaved_latency_ms,
    quantised_kernels_allowed,
    serialized_bytes,
    torchscript_bytes,
)
from papers.pruning_quantisation.networks import NETWORKS
from papers.pruning_quantisation.plots import plot_tradeoffs

METHODS = ("float", "pruned", "quantised", "pruned_quantised", "slimmed", "slimmed_quantised")
# Parameters are counted on the float network a method starts from (int8 ones hold the same).
FLOAT_ORIGIN = {
    "float": "float", "pruned": "pruned", "quantised": "float", "pruned_quantised": "pruned",
    "slimmed": "slimmed", "slimmed_quantised": "slimmed",
}
MB = 2**20


def _train_then_prune(
    cfg: DictConfig, experiment: str, overrides: list[str], sparsity: float, epochs: int, slim: bool = False,
) -> list[Path]:
    """Run dirs of: the trained network, it pruned by masks and fine-tuned, [it slimmed and fine-tuned]."""
    trained = Path(train_experiment(cfg, experiment, overrides)["run_dir"])
    init = [f"model.init_from={trained / 'checkpoints' / 'last.ckpt'}", f"trainer.max_epochs={epochs}"]
    kinds = ["prune_sparsity", "slim_sparsity"] if slim else ["prune_sparsity"]
    return [trained] + [
        Path(train_experiment(cfg, experiment, [*overrides, f"model.{kind}={sparsity}", *init])["run_dir"])
        for kind in kinds
    ]


def _test_batch(datamodule, size: int) -> torch.Tensor:
    images = torch.stack([datamodule.test_set[i][0] for i in range(min(size, len(datamodule.test_set)))])
    return images.repeat((size + len(images) - 1) // len(images), 1, 1, 1)[:size]


def compress_network(cfg: DictConfig, experiment: str, settings: DictConfig, network: str) -> dict[str, float]:
    run_dirs = _train_then_prune(
        cfg, experiment, [f"model.network={network}"], settings.sparsity, settings.finetune_epochs, slim=True
    )
    with quantised_kernels_allowed():
        return _measure(*run_dirs, settings, network)


def _measure(float_dir: Path, pruned_dir: Path, slimmed_dir: Path, settings: DictConfig, network: str) -> dict[str, float]:
    datamodule, float_model = load_trained_run(float_dir)
    _, pruned_model = load_trained_run(pruned_dir)
    _, slimmed_model = load_trained_run(slimmed_dir)
    calibration = [images for images, _ in itertools.islice(datamodule.train_eval_dataloader(), settings.calibration_batches)]
    nets = {"float": float_model.net, "pruned": make_pruning_permanent(pruned_model.net), "slimmed": slimmed_model.net}
    for method in ("quantised", "pruned_quantised", "slimmed_quantised"):
        nets[method] = quantise_static(nets[FLOAT_ORIGIN[method]], calibration, settings.backend)
    nets = {method: nets[method] for method in METHODS}

    metrics = {}
    example = _test_batch(datamodule, 1)
    for method, net in nets.items():
        key = f"{network}/{method}"
        metrics[f"{key}/params"], metrics[f"{key}/nonzero_params"] = parameter_counts(nets[FLOAT_ORIGIN[method]])
        metrics[f"{key}/nonzero_fraction"] = metrics[f"{key}/nonzero_params"] / metrics[f"{key}/params"]
        metrics[f"{key}/accuracy"] = accuracy(net, datamodule.test_dataloader())
        metrics[f"{key}/size_mb"] = serialized_bytes(net) / MB
        metrics[f"{key}/torchscript_mb"] = torchscript_bytes(net, example) / MB
    for batch_size in settings.latency_batch_sizes:
        latencies = interleaved_latency_ms(
            nets, _test_batch(datamodule, batch_size), settings.latency_repeats,
            threads=settings.latency_threads, desc=f"{network} latency, batch {batch_size}",
        )
        for method, milliseconds in latencies.items():
            metrics[f"{network}/{method}/latency_ms_b{batch_size}"] = milliseconds
            metrics[f"{network}/{method}/speedup_b{batch_size}"] = latencies["float"] / milliseconds
    for method in METHODS:
        key = f"{network}/{method}"
        metrics[f"{key}/size_ratio"] = metrics[f"{key}/size_mb"] / metrics[f"{network}/float/size_mb"]
        metrics[f"{key}/accuracy_delta"] = metrics[f"{key}/accuracy"] - metrics[f"{network}/float/accuracy"]
    return metrics


def overfitting(cfg: DictConfig, experiment: str, settings: DictConfig) -> dict[str, float]:
    """Train and test accuracy of an overfitted network before and after pruning + fine-tuning."""
    overrides = [
        f"model.network={settings.network}", "model.dropout=0.0",
        f"data.train_subset={settings.train_subset}", f"trainer.max_epochs={settings.max_epochs}",
    ]
    metrics = {}
    for name, run_dir in zip(("overfit", "overfit_pruned"), _train_then_prune(
        cfg, experiment, overrides, settings.sparsity, settings.finetune_epochs
    ), strict=True):
        datamodule, model = load_trained_run(run_dir)
        metrics[f"{name}/train_accuracy"] = accuracy(model, datamodule.train_eval_dataloader())
        metrics[f"{name}/test_accuracy"] = accuracy(model, datamodule.test_dataloader())
        metrics[f"{name}/gap"] = metrics[f"{name}/train_accuracy"] - metrics[f"{name}/test_accuracy"]
    metrics["overfit/gap_reduction"] = metrics["overfit/gap"] - metrics["overfit_pruned/gap"]
    metrics["overfit/test_accuracy_gain"] = metrics["overfit_pruned/test_accuracy"] - metrics["overfit/test_accuracy"]
    return metrics


def check_settings(settings: DictConfig) -> None:
    unknown = [name for name in settings.networks if name not in NETWORKS]
    if unknown or not settings.networks:
        raise ConfigError(f"compression.networks must list some of {NETWORKS}, got {list(settings.networks)}")
    check_sparsity(settings.sparsity)
    check_sparsity(settings.overfit.sparsity)
    check_backend(settings.backend)
    if settings.overfit.network not in NETWORKS:
        raise ConfigError(f"compression.overfit.network must be one of {NETWORKS}, got {settings.overfit.network!r}")
    for name in ("finetune_epochs", "calibration_batches", "latency_repeats", "latency_threads"):
        if settings[name] < 1:
            raise ConfigError(f"compression.{name} must be >= 1, got {settings[name]}")


def results_table(metrics: dict[str, float], networks: list[str], batch_sizes: list[int]) -> str:
    latency_cells = " | ".join(f"ms (batch {b}) | speed-up" for b in batch_sizes)
    lines = [
        f"| network | method | accuracy | size (MiB) | TorchScript (MiB) | size ratio | parameters | non-zero | {latency_cells} |",
        "|---|---|---|---|---|---|---|---|" + "---|---|" * len(batch_sizes),
    ]
    for network, method in itertools.product(networks, METHODS):
        key = f"{network}/{method}"
        latency = " | ".join(
            f"{metrics[f'{key}/latency_ms_b{b}']:.2f} | {metrics[f'{key}/speedup_b{b}']:.2f}x" for b in batch_sizes
        )
        lines.append(
            f"| {network} | {method} | {metrics[f'{key}/accuracy']:.4f} | {metrics[f'{key}/size_mb']:.2f} "
            f"| {metrics[f'{key}/torchscript_mb']:.2f} | {metrics[f'{key}/size_ratio']:.3f} "
            f"| {metrics[f'{key}/params']:,.0f} | {metrics[f'{key}/nonzero_params']:,.0f} | {latency} |"
        )
    return "\n".join(lines)


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    experiment, settings = plan.experiment, plan.compression
    check_settings(settings)
    metrics = {}
    for network in settings.networks:
        metrics.update(compress_network(cfg, experiment, settings, network))
    metrics.update(overfitting(cfg, experiment, settings.overfit))

    batch_sizes = list(settings.latency_batch_sizes)
    figure = plot_tradeoffs(metrics, list(settings.networks), METHODS, max(batch_sizes), results_dir / "tradeoffs.png")
    overfit_rows = "\n".join(
        f"| {name} | {metrics[f'{name}/train_accuracy']:.4f} | {metrics[f'{name}/test_accuracy']:.4f} "
        f"| {metrics[f'{name}/gap']:.4f} |" for name in ("overfit", "overfit_pruned")
    )
    sections = [
        f"## Float, pruned (masks, sparsity {settings.sparsity} per layer), slimmed (the same rule, filters "
        f"removed), quantised (int8, {settings.backend})",
        "",
        f"Latency: median of {settings.latency_repeats} interleaved runs on {settings.latency_threads} CPU thread(s); "
        "size: `torch.save(state_dict)` and traced TorchScript file.",
        "",
        results_table(metrics, list(settings.networks), batch_sizes),
        "",
        f"## Overfitting: {settings.overfit.network} without dropout on {settings.overfit.train_subset} training "
        f"images, then pruned to {settings.overfit.sparsity} and fine-tuned {settings.overfit.finetune_epochs} epochs",
        "",
        "| model | train accuracy | test accuracy | gap |",
        "|---|---|---|---|",
        overfit_rows,
        "",
    ]
    return PaperResults(metrics=metrics, figures=[figure], sections=sections)
