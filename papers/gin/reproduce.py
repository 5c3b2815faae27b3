"""gin's part of `scripts/reproduce.py`: artificial data (identifiability, ablations) and digits (spectrum, traversals).

The plan (configs/paper/gin.yaml, one scale):
- `experiments.artificial`, trained for each of `seeds`; its test metrics as `artificial/<name>`
  (mean over seeds, `.sd` beside), and baselines on the same test points: the raw coordinates,
  PCA and FastICA (`baseline/<name>/mcc`), with `artificial/mcc_minus_best_baseline`.
- `ablations`: {name: [overrides]} trained on the artificial experiment with the first seed
  (`ablation/<name>/<metric>`): the mechanism switched off.
- `experiments.digits` (optional), first seed, with `digits_overrides` and `data.root=digits_root`: its
  spectrum (`digits/knee`, `digits/gap_ratio`, `digits/n_informative`) beside the raw pixels'
  (`digits_pixels/...`), the spectrum figure and traversals of the top `traversal_dims` latents.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from common.experiment import PaperResults, load_trained_run, mean_and_sd, train_experiment
from papers.gin import metrics as M
from papers.gin.analysis import latents_of, traversal_images
from papers.gin.model import analyse_latents, identifiability
from papers.gin.plots import plot_recovery, plot_spectra, plot_traversal

RUN_KEYS = ("mcc", "mcc_spearman", "n_informative", "knee", "gap_ratio", "inverse_max_error", "nll_per_dim",
            "spectrum_top", "spectrum_median")


def _test_metrics(metrics: dict, prefix: str) -> dict[str, float]:
    return {f"{prefix}/{key}": float(metrics[f"test/{key}"]) for key in RUN_KEYS if f"test/{key}" in metrics}


def artificial_baselines(x: np.ndarray, latent: np.ndarray, labels: np.ndarray, n_true: int) -> dict[str, float]:
    from sklearn.decomposition import PCA, FastICA

    out = {}
    raw = identifiability(x, latent, labels, n_true)
    out["baseline/raw/mcc"] = raw["mcc"]
    out["baseline/raw/n_informative"] = float(M.count_above(M.spectrum(x, labels), 0.1))
    out["baseline/pca/mcc"] = M.mcc(PCA(n_true, random_state=0).fit_transform(x), latent[:, :n_true])
    ica = FastICA(n_true, random_state=0, max_iter=2000, tol=1e-3).fit_transform(x)
    out["baseline/fastica/mcc"] = M.mcc(ica, latent[:, :n_true])
    return out


def run_artificial(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> tuple[dict, list[Path], list[str]]:
    experiment = plan.experiments.artificial
    seeds = list(plan.seeds)
    runs = [train_experiment(cfg, experiment, seed=seed) for seed in seeds]
    metrics = {k: v for k, v in mean_and_sd([_test_metrics(r, "artificial") for r in runs]).items()}

    datamodule, model = load_trained_run(runs[0]["run_dir"])
    z, labels, x, latent = latents_of(model, datamodule.test_dataloader(), model.noise_std)
    n_true = model.true_informative_dims
    metrics.update(artificial_baselines(x, latent, labels, n_true))
    best = max(metrics[f"baseline/{b}/mcc"] for b in ("raw", "pca", "fastica"))
    metrics["artificial/mcc_minus_best_baseline"] = metrics["artificial/mcc"] - best

    spectra = {f"GIN (seed {seeds[0]})": M.spectrum(z, labels),
               "true latent": M.spectrum(latent, labels), "observed x": M.spectrum(x, labels)}
    rows = []
    for name, overrides in (plan.get("ablations") or {}).items():
        ablation = train_experiment(cfg, experiment, list(overrides), seed=seeds[0])
        metrics.update(_test_metrics(ablation, f"ablation/{name}"))
        _, ablated = load_trained_run(ablation["run_dir"])
        z_ablated, _, _, _ = latents_of(ablated, datamodule.test_dataloader(), ablated.noise_std)
        spectra[f"ablation: {name}"] = M.spectrum(z_ablated, labels)
        rows.append(f"| {name} (`{' '.join(overrides)}`) | {metrics[f'ablation/{name}/n_informative']:.0f} | "
                    f"{metrics[f'ablation/{name}/mcc']:.3f} | {metrics[f'ablation/{name}/gap_ratio']:.1f} |")

    threshold = model.informative_threshold
    figures = [plot_spectra(spectra, "Artificial data: spectra (test set)", results_dir / "artificial_spectrum.png",
                            threshold=threshold)]
    top = np.argsort(M.spectrum(z, labels))[::-1][:n_true]
    corr = M.correlation_matrix(z[:, top], latent[:, :n_true])
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(-corr)
    matching = [(int(top[i]), int(j), float(corr[i, j])) for i, j in zip(r, c, strict=True)]
    figures.append(plot_recovery(latent, x, z, labels, top, matching, results_dir / "artificial_recovery.png"))

    sd = lambda key: f" ± {metrics[key + '.sd']:.3f}" if key + ".sd" in metrics else ""  # noqa: E731
    sections = [
        "## Artificial data: identifiability",
        "",
        f"Experiment `{experiment}`, seeds {seeds}; test points: {len(z)}. Informative = RMS within-class "
        f"std above {threshold:g}.",
        "",
        "| model | informative dims | MCC (Pearson) | gap ratio |",
        "|---|---|---|---|",
        f"| GIN | {metrics['artificial/n_informative']:.2f}{sd('artificial/n_informative')} | "
        f"{metrics['artificial/mcc']:.4f}{sd('artificial/mcc')} | {metrics['artificial/gap_ratio']:.1f} |",
        f"| raw coordinates (top-2 by spectrum) | {metrics['baseline/raw/n_informative']:.0f} | "
        f"{metrics['baseline/raw/mcc']:.4f} | |",
        f"| PCA (2 components) | | {metrics['baseline/pca/mcc']:.4f} | |",
        f"| FastICA (2 components) | | {metrics['baseline/fastica/mcc']:.4f} | |",
        *rows,
        "",
    ]
    return metrics, figures, sections


def run_digits(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> tuple[dict, list[Path], list[str]]:
    experiment = plan.experiments.digits
    overrides = list(plan.get("digits_overrides") or [])
    if plan.get("digits_root"):
        overrides.append(f"data.root={Path(plan.digits_root).expanduser().resolve()}")
    trained = train_experiment(cfg, experiment, overrides, seed=plan.seeds[0])
    metrics = _test_metrics(trained, "digits")
    datamodule, model = load_trained_run(trained["run_dir"])
    z, labels, x, _ = latents_of(model, datamodule.test_dataloader(), model.noise_std)
    generator = np.random.default_rng(0)
    pixels = x + generator.standard_normal(x.shape) * model.noise_std
    for key, value in analyse_latents(pixels, labels, model.informative_threshold).items():
        metrics[f"digits_pixels/{key}"] = float(value)
    # The training objective on held-out digits, against the untrained flow (a pixel permutation).
    metrics["digits/nll_gain_over_pixels"] = metrics["digits_pixels/nll_per_dim"] - metrics["digits/nll_per_dim"]
    spec = M.spectrum(z, labels)
    knee = M.knee(spec)
    figures = [plot_spectra(
        {"GIN latent": spec, "pixels (+ noise)": M.spectrum(pixels, labels)},
        f"{experiment}: spectrum on {len(z)} test digits (knee after {knee} dims)",
        results_dir / "digits_spectrum.png", threshold=model.informative_threshold,
        knees={"GIN latent": knee})]
    n_dims = int(plan.get("traversal_dims", 8))
    dims = [int(d) for d in np.argsort(spec)[::-1][:n_dims]]
    images = traversal_images(model, z, labels, dims)
    figures.append(plot_traversal(images, dims, results_dir / "digits_traversals.png",
                                  "Top latent variables: each block = 10 classes × (−2σ … +2σ)"))
    ordered = np.sort(spec)[::-1]
    sections = [
        "## Digits: spectrum",
        "",
        f"Experiment `{experiment}` (overrides {overrides or 'none'}); train digits: {len(datamodule.train_set)}, "
        f"test digits: {len(z)}. Knee of the sorted spectrum after **{knee}** dimensions "
        f"(paper, full EMNIST: 22); dims above {model.informative_threshold:g}: "
        f"{metrics['digits/n_informative']:.0f}; gap ratio {metrics['digits/gap_ratio']:.2f}.",
        "",
        "Top 30 of the sorted spectrum: " + ", ".join(f"{v:.3f}" for v in ordered[:30]),
        "",
    ]
    return metrics, figures, sections


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    torch.set_num_threads(1)
    metrics, figures, sections = {}, [], []
    if plan.experiments.get("artificial"):
        m, f, s = run_artificial(cfg, plan, results_dir)
        metrics.update(m)
        figures += f
        sections += s
    if plan.experiments.get("digits"):
        m, f, s = run_digits(cfg, plan, results_dir)
        metrics.update(m)
        figures += f
        sections += s
    sections += ["", "Plan: `" + json.dumps(OmegaConf.to_container(plan, resolve=True)) + "`", ""]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
