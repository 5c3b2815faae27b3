"""pruning_quantisation's part of `scripts/reproduce.py`: train, prune, quantise, measure, plot.

For every network of `compression.networks`: train it (float), prune it and fine-tune under the
masks (pruned, the paper's rule), the same with the pruned filters' BatchNorm scale and shift
masked too (pruned_bn, ours: see `prune_network`), slim it (the same filters physically removed)
and fine-tune the smaller network as long (slimmed), quantise all four to int8 (quantised,
pruned_quantised, pruned_bn_quantised, slimmed_quantised), then measure each on the same test set
and the same CPU. Speed-ups compare like with like: an
int8 network (whose BatchNorm is folded into its convolutions) against the float network with
the same folding (`float_fused`), a float network against the unfused float one; `speedup_unfused`
is the paper's comparison, int8 against the unfused float network.

Then, if the plan has `overfit`, the overfitting study per network: trained long without dropout
on a small training set (overfit), then fine-tuned as many steps either pruned (overfit_pruned; with
the pruned filters' BatchNorm masked too, overfit_pruned_bn) or not pruned at all (overfit_control:
the same run with sparsity 0), so that what pruning adds is measured against what the extra
training alone does.

Settings come from `scales.<scale>` of configs/paper/pruning_quantisation.yaml: `experiment`,
`overrides` (extra overrides of every training run of that scale), `compression`, `overfit`.
"""
from __future__ import annotations

import copy
import itertools
import json
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from common.errors import ConfigError
from common.experiment import PaperResults, load_trained_run, train_experiment
from common.run import RunFolder, saved_model_config
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
from papers.pruning_quantisation.model import ImageClassifier, load_classifier
from papers.pruning_quantisation.networks import NETWORKS
from papers.pruning_quantisation.plots import plot_tradeoffs

METHODS = (
    "float", "pruned", "quantised", "pruned_quantised", "pruned_bn", "pruned_bn_quantised", "slimmed", "slimmed_quantised",
)
# The float network each method starts from: its parameters are counted (int8 ones hold the same).
FLOAT_ORIGIN = {
    "float": "float", "float_fused": "float", "pruned": "pruned", "quantised": "float",
    "pruned_quantised": "pruned", "pruned_bn": "pruned_bn", "pruned_bn_quantised": "pruned_bn",
    "slimmed": "slimmed", "slimmed_quantised": "slimmed",
}
# Latency baseline of each method: the float network with the same BatchNorm folding.
BASELINE = {method: ("float_fused" if method.endswith("quantised") else "float") for method in METHODS}
MB = 2**20
# The paper's CIFAR-10 table (issue 10): float -> pruned -> int8 accuracy (%), parameters float -> pruned,
# size (MB) float -> int8, time (ms) float -> int8.
PAPER_TABLE = {
    "mobilenet": ((91.31, 91.53, 90.59), ("2.2M", "671K"), (8.7, 2.9), (34.80, 4.74)),
    "shufflenet": ((93.36, 93.05, 81.29), ("1.2M", "879K"), (4.9, 1.8), (11.67, 23.15)),
    "alexnet": ((93.54, 90.91, 90.06), ("57M", "28M"), (217.6, 54.6), (22.13, 5.23)),
}


class Stopwatch:
    """Wall and CPU seconds (this process, all its threads) per stage, printed as each ends and listed
    in the report. On a machine shared with other work the CPU seconds say what a quiet machine needs."""

    def __init__(self):
        self.seconds: dict[str, tuple[float, float]] = {}

    def __call__(self, stage: str):
        watch = self

        class _Stage:
            def __enter__(self):
                self.start = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                wall, cpu = time.perf_counter() - self.start[0], time.process_time() - self.start[1]
                watch.seconds[stage] = (wall, cpu)
                print(f"[pruning_quantisation] {stage}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)

        return _Stage()


def trained_run(run_dir: Path):
    """(set-up data module, module in eval mode with its trained weights) of a finished run, the
    module rebuilt from its checkpoint's hyper-parameters (see `load_classifier`)."""
    checkpoint = RunFolder(run_dir).last_checkpoint
    return load_trained_run(run_dir, model_config=saved_model_config(ImageClassifier, checkpoint))


def _finetune(cfg, experiment, overrides, trained: Path, kind: str, sparsity: float, epochs: int, extra=()) -> Path:
    init = [f"model.init_from={RunFolder(trained).last_checkpoint}", f"trainer.max_epochs={epochs}"]
    return Path(train_experiment(cfg, experiment, [*overrides, f"model.{kind}={sparsity}", *init, *extra])["run_dir"])


def _test_batch(datamodule, size: int) -> torch.Tensor:
    images = torch.stack([datamodule.test_set[i][0] for i in range(min(size, len(datamodule.test_set)))])
    return images.repeat((size + len(images) - 1) // len(images), 1, 1, 1)[:size]


def fused(net: torch.nn.Module) -> torch.nn.Module:
    """A float copy with BatchNorm (and ReLU) folded as `quantise_static` folds them before int8."""
    copied = copy.deepcopy(net).eval()
    copied.fuse_model(is_qat=False)
    return copied


def compress_network(cfg, plan, network: str, watch: Stopwatch) -> dict[str, float]:
    settings, overrides = plan.compression, [*plan.get("overrides", []), f"model.network={network}"]
    with watch(f"{network}: train float"):
        trained = Path(train_experiment(cfg, plan.experiment, overrides)["run_dir"])
    runs = {"float": trained}
    with watch(f"{network}: fine-tune pruned (masks)"):
        runs["pruned"] = _finetune(cfg, plan.experiment, overrides, trained, "prune_sparsity", settings.sparsity, settings.finetune_epochs)
    with watch(f"{network}: fine-tune pruned, BatchNorm masked too"):
        runs["pruned_bn"] = _finetune(cfg, plan.experiment, overrides, trained, "prune_sparsity", settings.sparsity,
                                      settings.finetune_epochs, extra=["model.prune_batchnorm=true"])
    with watch(f"{network}: fine-tune slimmed"):
        runs["slimmed"] = _finetune(cfg, plan.experiment, overrides, trained, "slim_sparsity", settings.sparsity, settings.finetune_epochs)
    with watch(f"{network}: quantise and measure"), quantised_kernels_allowed():
        return measure(runs, settings, network)


def measure(runs: dict[str, Path], settings: DictConfig, network: str) -> dict[str, float]:
    """Quantise and measure the float network and its compressed fine-tunes (`runs`: method -> run dir)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.get("eval_threads") or threads)
    try:
        return _measure(runs, settings, network)
    finally:
        torch.set_num_threads(threads)


def _measure(runs: dict[str, Path], settings: DictConfig, network: str) -> dict[str, float]:
    datamodule, float_model = trained_run(runs["float"])
    calibration = [images for images, _ in itertools.islice(datamodule.train_eval_dataloader(), settings.calibration_batches)]
    nets = {"float": float_model.net}
    for method in ("pruned", "pruned_bn", "slimmed"):
        nets[method] = make_pruning_permanent(load_classifier(RunFolder(runs[method]).last_checkpoint).net)
    nets["float_fused"] = fused(nets["float"])
    for method in ("quantised", "pruned_quantised", "pruned_bn_quantised", "slimmed_quantised"):
        nets[method] = quantise_static(nets[FLOAT_ORIGIN[method]], calibration, settings.backend)

    metrics = {}
    example = _test_batch(datamodule, 1)
    for method in METHODS:
        net, key = nets[method], f"{network}/{method}"
        metrics[f"{key}/params"], metrics[f"{key}/nonzero_params"] = parameter_counts(nets[FLOAT_ORIGIN[method]])
        metrics[f"{key}/nonzero_fraction"] = metrics[f"{key}/nonzero_params"] / metrics[f"{key}/params"]
        metrics[f"{key}/accuracy"] = accuracy(net, datamodule.test_dataloader())
        metrics[f"{key}/size_mb"] = serialized_bytes(net) / MB
        metrics[f"{key}/torchscript_mb"] = torchscript_bytes(net, example) / MB
    metrics[f"{network}/float_fused/accuracy"] = accuracy(nets["float_fused"], datamodule.test_dataloader())
    timed = {method: nets[method] for method in ("float", "float_fused", *METHODS[1:])}
    for batch_size in settings.latency_batch_sizes:
        latencies = interleaved_latency_ms(
            timed, _test_batch(datamodule, batch_size), settings.latency_repeats,
            threads=settings.latency_threads, desc=f"{network} latency, batch {batch_size}",
        )
        metrics[f"{network}/float_fused/latency_ms_b{batch_size}"] = latencies["float_fused"]
        for method in METHODS:
            metrics[f"{network}/{method}/latency_ms_b{batch_size}"] = latencies[method]
            metrics[f"{network}/{method}/speedup_b{batch_size}"] = latencies[BASELINE[method]] / latencies[method]
            metrics[f"{network}/{method}/speedup_unfused_b{batch_size}"] = latencies["float"] / latencies[method]
    for method in METHODS:
        key = f"{network}/{method}"
        metrics[f"{key}/size_ratio"] = metrics[f"{key}/size_mb"] / metrics[f"{network}/float/size_mb"]
        metrics[f"{key}/torchscript_ratio"] = metrics[f"{key}/torchscript_mb"] / metrics[f"{network}/float/torchscript_mb"]
        metrics[f"{key}/accuracy_delta"] = metrics[f"{key}/accuracy"] - metrics[f"{network}/float/accuracy"]
        if method.endswith("quantised"):  # what int8 costs the float network it was made from
            metrics[f"{key}/int8_delta"] = metrics[f"{key}/accuracy"] - metrics[f"{network}/{FLOAT_ORIGIN[method]}/accuracy"]
    return metrics


def overfitting(cfg, plan, network: str, watch: Stopwatch) -> dict[str, float]:
    """Train and test accuracy of an overfitted network, then of it pruned + fine-tuned (the paper's
    masks, and with the pruned filters' BatchNorm masked too) and of it fine-tuned as long unpruned
    (the control)."""
    settings = plan.overfit
    overrides = [
        *plan.get("overrides", []), *settings.get("overrides", []),
        f"model.network={network}", "model.dropout=0.0",
        f"data.train_subset={settings.train_subset}", f"trainer.max_epochs={settings.max_epochs}",
    ]
    with watch(f"overfit {network}: train"):
        trained = Path(train_experiment(cfg, plan.experiment, overrides)["run_dir"])
    runs = {"overfit": trained}
    for name, sparsity, extra in (
        ("overfit_pruned", settings.sparsity, []),
        ("overfit_pruned_bn", settings.sparsity, ["model.prune_batchnorm=true"]),
        ("overfit_control", 0.0, []),
    ):
        with watch(f"overfit {network}: fine-tune {name}"):
            runs[name] = _finetune(cfg, plan.experiment, overrides, trained, "prune_sparsity", sparsity,
                                   settings.finetune_epochs, extra=extra)
    metrics = {}
    for name, run_dir in runs.items():
        datamodule, model = trained_run(run_dir)
        key = f"{network}/{name}"
        metrics[f"{key}/train_accuracy"] = accuracy(model, datamodule.train_eval_dataloader())
        metrics[f"{key}/test_accuracy"] = accuracy(model, datamodule.test_dataloader())
        metrics[f"{key}/gap"] = metrics[f"{key}/train_accuracy"] - metrics[f"{key}/test_accuracy"]
    metrics[f"{network}/overfit/gap_reduction"] = metrics[f"{network}/overfit/gap"] - metrics[f"{network}/overfit_pruned/gap"]
    metrics[f"{network}/overfit/test_accuracy_gain"] = (
        metrics[f"{network}/overfit_pruned/test_accuracy"] - metrics[f"{network}/overfit/test_accuracy"]
    )
    metrics[f"{network}/overfit/gain_over_control"] = (
        metrics[f"{network}/overfit_pruned/test_accuracy"] - metrics[f"{network}/overfit_control/test_accuracy"]
    )
    metrics[f"{network}/overfit_pruned_bn/gain_over_control"] = (
        metrics[f"{network}/overfit_pruned_bn/test_accuracy"] - metrics[f"{network}/overfit_control/test_accuracy"]
    )
    return metrics


def check_plan(plan: DictConfig) -> None:
    settings = plan.compression
    unknown = [name for name in settings.networks if name not in NETWORKS]
    if unknown or not settings.networks:
        raise ConfigError(f"compression.networks must list some of {NETWORKS}, got {list(settings.networks)}")
    check_sparsity(settings.sparsity)
    check_backend(settings.backend)
    for name in ("finetune_epochs", "calibration_batches", "latency_repeats", "latency_threads"):
        if settings[name] < 1:
            raise ConfigError(f"compression.{name} must be >= 1, got {settings[name]}")
    if plan.get("overfit") is not None:
        check_sparsity(plan.overfit.sparsity)
        if plan.overfit.sparsity == 0:
            raise ConfigError("overfit.sparsity must be > 0: sparsity 0 is the control run")
        unknown = [name for name in plan.overfit.networks if name not in NETWORKS]
        if unknown or not plan.overfit.networks:
            raise ConfigError(f"overfit.networks must list some of {NETWORKS}, got {list(plan.overfit.networks)}")


def results_table(metrics: dict[str, float], networks: list[str], batch_sizes: list[int]) -> str:
    latency_cells = " | ".join(f"ms (batch {b}) | speed-up | speed-up vs unfused float" for b in batch_sizes)
    lines = [
        f"| network | method | accuracy | size (MiB) | TorchScript (MiB) | size ratio | parameters | non-zero | {latency_cells} |",
        "|---|---|---|---|---|---|---|---|" + "---|---|---|" * len(batch_sizes),
    ]
    for network, method in itertools.product(networks, ("float_fused", *METHODS)):
        key = f"{network}/{method}"
        if method == "float_fused":
            latency = " | ".join(f"{metrics[f'{key}/latency_ms_b{b}']:.2f} | | " for b in batch_sizes)
            lines.append(f"| {network} | float, BatchNorm folded (int8's baseline) | {metrics[f'{key}/accuracy']:.4f} "
                         f"| | | | | | {latency} |")
            continue
        latency = " | ".join(
            f"{metrics[f'{key}/latency_ms_b{b}']:.2f} | {metrics[f'{key}/speedup_b{b}']:.2f}x "
            f"| {metrics[f'{key}/speedup_unfused_b{b}']:.2f}x" for b in batch_sizes
        )
        lines.append(
            f"| {network} | {method} | {metrics[f'{key}/accuracy']:.4f} | {metrics[f'{key}/size_mb']:.2f} "
            f"| {metrics[f'{key}/torchscript_mb']:.2f} | {metrics[f'{key}/size_ratio']:.3f} "
            f"| {metrics[f'{key}/params']:,.0f} | {metrics[f'{key}/nonzero_params']:,.0f} | {latency} |"
        )
    return "\n".join(lines)


def paper_table(metrics: dict[str, float], networks: list[str], batch_size: int) -> str:
    """Ours beside the paper's CIFAR-10 table (its times are the paper's machine's, ours this CPU's)."""
    lines = [
        "| network | accuracy float / pruned / int8 (%), ours | paper | non-zero params float → pruned, ours | paper "
        f"| MiB float → pruned int8 (TorchScript), ours | paper | speed-up int8 vs float, ours (batch {batch_size}, unfused / fused) | paper |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for network in networks:
        (acc, params, size, ms) = PAPER_TABLE[network]
        m = {k: metrics[f"{network}/{k}"] for k in (
            "float/accuracy", "pruned/accuracy", "pruned_quantised/accuracy", "float/nonzero_params",
            "pruned/nonzero_params", "float/size_mb", "pruned_quantised/torchscript_mb",
            f"pruned_quantised/speedup_unfused_b{batch_size}", f"pruned_quantised/speedup_b{batch_size}")}
        lines.append(
            f"| {network} | {100 * m['float/accuracy']:.2f} / {100 * m['pruned/accuracy']:.2f} / "
            f"{100 * m['pruned_quantised/accuracy']:.2f} | {acc[0]} / {acc[1]} / {acc[2]} "
            f"| {m['float/nonzero_params']:,.0f} → {m['pruned/nonzero_params']:,.0f} | {params[0]} → {params[1]} "
            f"| {m['float/size_mb']:.1f} → {m['pruned_quantised/torchscript_mb']:.1f} | {size[0]} → {size[1]} "
            f"| {m[f'pruned_quantised/speedup_unfused_b{batch_size}']:.2f}x / {m[f'pruned_quantised/speedup_b{batch_size}']:.2f}x "
            f"| {ms[0] / ms[1]:.2f}x ({ms[0]} → {ms[1]} ms) |"
        )
    return "\n".join(lines)


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    check_plan(plan)
    settings, watch = plan.compression, Stopwatch()
    metrics = {}
    partial = Path(results_dir) / "partial_metrics.json"  # what is measured so far, should a long run be cut off
    for network in settings.networks:
        metrics.update(compress_network(cfg, plan, network, watch))
        partial.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    overfit_networks = list(plan.overfit.networks) if plan.get("overfit") is not None else []
    for network in overfit_networks:
        metrics.update(overfitting(cfg, plan, network, watch))
        partial.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")

    batch_sizes = list(settings.latency_batch_sizes)
    figure = plot_tradeoffs(metrics, list(settings.networks), METHODS, max(batch_sizes), results_dir / "tradeoffs.png")
    sections = [
        f"## Float, pruned (masks, sparsity {settings.sparsity} per layer), slimmed (the same rule, filters "
        f"removed), quantised (int8, {settings.backend}); fine-tuning {settings.finetune_epochs} epochs",
        "",
        f"Latency: median of {settings.latency_repeats} interleaved runs on {settings.latency_threads} CPU thread(s); "
        "speed-up: against the float network with the same BatchNorm folding (int8 against float with "
        "BatchNorm folded, float against float); size: `torch.save(state_dict)` and traced TorchScript file.",
        "",
        results_table(metrics, list(settings.networks), batch_sizes),
        "",
    ]
    if plan.get("paper_table"):
        sections += ["## Beside the paper's CIFAR-10 table", "", paper_table(metrics, list(settings.networks), max(batch_sizes)), ""]
    if overfit_networks:
        o = plan.overfit
        sections += [
            f"## Overfitting: no dropout, {o.train_subset} training images, {o.max_epochs} epochs; then "
            f"{o.finetune_epochs} epochs of fine-tuning pruned to {o.sparsity} (overfit_pruned; BatchNorm of pruned filters "
            "masked too: overfit_pruned_bn) or unpruned (overfit_control)",
            "",
            "| network | model | train accuracy | test accuracy | gap |",
            "|---|---|---|---|---|",
            *(f"| {n} | {name} | {metrics[f'{n}/{name}/train_accuracy']:.4f} | {metrics[f'{n}/{name}/test_accuracy']:.4f} "
              f"| {metrics[f'{n}/{name}/gap']:.4f} |"
              for n in overfit_networks for name in ("overfit", "overfit_pruned", "overfit_pruned_bn", "overfit_control")),
            "",
        ]
    sections += ["## Where the time went (this run; a reused training run takes seconds)", "",
                 "| stage | wall seconds | CPU seconds |", "|---|---|---|",
                 *(f"| {stage} | {wall:.1f} | {cpu:.1f} |" for stage, (wall, cpu) in watch.seconds.items()), ""]
    return PaperResults(metrics=metrics, figures=[figure], sections=sections)
