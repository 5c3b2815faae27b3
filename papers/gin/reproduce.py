"""gin's part of `scripts/reproduce.py`: artificial data (identifiability, GIN against the mechanism
switched off, over seeds) and digits (spectrum, traversals).

The plan (configs/paper/gin.yaml, one scale):
- `volume_preserving`, `class_conditional`, `variance`: the mechanism of the main model, applied to
  every run of it (artificial and digits); the paper's GIN is (true, true, empirical), and each
  `mechanism_off` variant flips one of them.
- `artificial`: {name: {experiment, world, arms, ablations}}, one setting each (metrics under
  `<name>/`): the experiment trained for each of `seeds` on world `world` (data.world_seed); its test
  metrics as `<name>/<metric>` (mean over seeds, `.sd` beside). Baselines on the test points (the
  same for every seed): the raw coordinates, PCA and FastICA (`<name>/baseline/<b>/mcc`, `best` the
  largest), and `<name>/gin_vs_baselines/*`: the main model's MCC minus the best baseline's over the
  seeds (common.stats.compare, sign-flip: difference, difference_sd, p_value, n, and `excess` =
  difference - difference_sd, >= 0 when the margin is larger than the seed spread).
  `arms` {arm: [overrides]}: trained on every seed (`<name>/arm/<arm>/<metric>`) and compared with
  the main model, paired by seed (`<name>/gin_vs_<arm>/{mcc,gap_ratio}/*`, main model greater);
  `ablations` {ablation: [overrides]}: the first seed only, rows of the report.
- `digits` (an experiment, optional), first seed, with `digits_overrides` and `data.root=digits_root`: its
  spectrum (`digits/knee`, `digits/gap_ratio`, `digits/n_informative`) beside the raw pixels'
  (`digits_pixels/...`), `digits/log_std_gain_over_pixels` (how far the flow squeezed the
  class-conditional spread), the spectrum figure and traversals of the top `traversal_dims` latents;
  `digits_ablations` {name: [overrides]} on the same seed as rows (`digits_ablation/<name>/...`).
The knee rule is `model.knee_fraction` of the experiment config, fixed before the runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from common.experiment import PaperResults, load_trained_run, mean_and_sd, train_experiment
from common.stats import compare
from papers.gin import metrics as M
from papers.gin.analysis import latents_of, traversal_images
from papers.gin.model import analyse_latents, identifiability
from papers.gin.plots import plot_recovery, plot_spectra, plot_traversal

RUN_KEYS = ("mcc", "mcc_spearman", "n_informative", "knee", "gap_ratio", "inverse_max_error", "nll_per_dim",
            "spectrum_top", "spectrum_median")
BASELINES = ("raw", "pca", "fastica")


def _test_metrics(metrics: dict, prefix: str) -> dict[str, float]:
    return {f"{prefix}/{key}": float(metrics[f"test/{key}"]) for key in RUN_KEYS if f"test/{key}" in metrics}


def mechanism_overrides(plan: DictConfig) -> list[str]:
    """The main model's mechanism switches as training overrides (the paper's GIN by default)."""
    volume_preserving = plan.get("volume_preserving", True)
    class_conditional = plan.get("class_conditional", True)
    variance = plan.get("variance", "empirical")
    for name, value in (("volume_preserving", volume_preserving), ("class_conditional", class_conditional)):
        if not isinstance(value, bool):
            raise ConfigError(f"scales.<scale>.{name} must be true or false, got {value!r}")
    if variance not in M.VARIANCES:
        raise ConfigError(f"scales.<scale>.variance must be one of {M.VARIANCES}, got {variance!r}")
    return [f"model.volume_preserving={str(volume_preserving).lower()}",
            f"model.class_conditional={str(class_conditional).lower()}", f"model.variance={variance}"]


def artificial_baselines(x: np.ndarray, latent: np.ndarray, labels: np.ndarray, n_true: int) -> dict[str, float]:
    from sklearn.decomposition import PCA, FastICA

    out = {}
    raw = identifiability(x, latent, labels, n_true)
    out["baseline/raw/mcc"] = raw["mcc"]
    out["baseline/raw/n_informative"] = float(M.count_above(M.spectrum(x, labels), 0.1))
    out["baseline/pca/mcc"] = M.mcc(PCA(n_true, random_state=0).fit_transform(x), latent[:, :n_true])
    ica = FastICA(n_true, random_state=0, max_iter=2000, tol=1e-3).fit_transform(x)
    out["baseline/fastica/mcc"] = M.mcc(ica, latent[:, :n_true])
    out["baseline/best/mcc"] = max(out[f"baseline/{b}/mcc"] for b in BASELINES)
    return out


def paired(prefix: str, a: list[float], b: list[float]) -> dict[str, float]:
    """a - b paired by seed, one-sided (a greater): common.stats.compare's metrics plus `excess`."""
    result = compare(a, b, paired=True, alternative="greater")
    metrics = result.as_metrics(prefix)
    metrics[f"{prefix}/excess"] = result.mean_difference - result.sd_difference
    return metrics


def run_artificial(cfg: DictConfig, plan: DictConfig, name: str, setting: DictConfig,
                   results_dir: Path) -> tuple[dict, list[Path], list[str]]:
    """One artificial setting (`plan.artificial.<name>`): metrics under `<name>/...`, figures
    `<name>_spectrum.png` and `<name>_recovery.png`."""
    experiment = setting.experiment
    seeds = [int(s) for s in plan.seeds]
    if not seeds:
        raise ConfigError("scales.<scale>.seeds must list at least one seed")
    world = [f"data.world_seed={int(setting.world)}"] if setting.get("world") is not None else []
    main = mechanism_overrides(plan)
    runs = [train_experiment(cfg, experiment, [*main, *world], seed=seed) for seed in seeds]
    per_seed = [_test_metrics(r, name) for r in runs]
    metrics = dict(mean_and_sd(per_seed))

    # the data are the same for every seed (one world): the baselines once, on the first run's test points
    datamodule, model = load_trained_run(runs[0]["run_dir"])
    z, labels, x, latent = latents_of(model, datamodule.test_dataloader(), model.noise_std)
    n_true = model.true_informative_dims
    metrics.update({f"{name}/{k}": v for k, v in artificial_baselines(x, latent, labels, n_true).items()})
    gin_mcc = [m[f"{name}/mcc"] for m in per_seed]
    best = metrics[f"{name}/baseline/best/mcc"]
    metrics[f"{name}/mcc_minus_best_baseline"] = metrics[f"{name}/mcc"] - best
    if len(seeds) > 1:
        metrics.update(paired(f"{name}/gin_vs_baselines", gin_mcc, [best] * len(seeds)))

    spectra = {f"main model (seed {seeds[0]})": M.spectrum(z, labels),
               "true latent": M.spectrum(latent, labels), "observed x": M.spectrum(x, labels)}
    sd = lambda key: f" ± {metrics[key + '.sd']:.3f}" if key + ".sd" in metrics else ""  # noqa: E731
    rows = []
    for arm_name, overrides in (setting.get("arms") or {}).items():
        arm_runs = [train_experiment(cfg, experiment, [*main, *world, *overrides], seed=seed) for seed in seeds]
        prefix = f"{name}/arm/{arm_name}"
        arm = [_test_metrics(r, prefix) for r in arm_runs]
        metrics.update(mean_and_sd(arm))
        if len(seeds) > 1:
            for key in ("mcc", "gap_ratio"):
                metrics.update(paired(f"{name}/gin_vs_{arm_name}/{key}", [m[f"{name}/{key}"] for m in per_seed],
                                      [m[f"{prefix}/{key}"] for m in arm]))
        _, trained = load_trained_run(arm_runs[0]["run_dir"])
        z_arm, _, _, _ = latents_of(trained, datamodule.test_dataloader(), trained.noise_std)
        spectra[f"{arm_name} (seed {seeds[0]})"] = M.spectrum(z_arm, labels)
        p = metrics.get(f"{name}/gin_vs_{arm_name}/mcc/p_value")
        rows.append(f"| {arm_name} (`{' '.join(overrides)}`), {len(seeds)} seeds | "
                    f"{metrics[f'{prefix}/n_informative']:.2f}{sd(f'{prefix}/n_informative')} | "
                    f"{metrics[f'{prefix}/mcc']:.4f}{sd(f'{prefix}/mcc')} | "
                    f"{metrics[f'{prefix}/gap_ratio']:.1f}{sd(f'{prefix}/gap_ratio')} | "
                    + (f"{metrics[f'{name}/gin_vs_{arm_name}/mcc/difference']:+.4f} ± "
                       f"{metrics[f'{name}/gin_vs_{arm_name}/mcc/difference_sd']:.4f} (p {p:.3f})"
                       if p is not None else "")
                    + " |")
    for abl_name, overrides in (setting.get("ablations") or {}).items():
        ablation = train_experiment(cfg, experiment, [*main, *world, *overrides], seed=seeds[0])
        prefix = f"{name}/ablation/{abl_name}"
        metrics.update(_test_metrics(ablation, prefix))
        _, ablated = load_trained_run(ablation["run_dir"])
        z_ablated, _, _, _ = latents_of(ablated, datamodule.test_dataloader(), ablated.noise_std)
        spectra[f"ablation: {abl_name}"] = M.spectrum(z_ablated, labels)
        rows.append(f"| {abl_name} (`{' '.join(overrides)}`), seed {seeds[0]} | "
                    f"{metrics[f'{prefix}/n_informative']:.0f} | "
                    f"{metrics[f'{prefix}/mcc']:.4f} | {metrics[f'{prefix}/gap_ratio']:.1f} | |")

    threshold = model.informative_threshold
    title = f"Artificial data, {name} (world {datamodule.world_seed})"
    figures = [plot_spectra(spectra, f"{title}: spectra (test set)", results_dir / f"{name}_spectrum.png",
                            threshold=threshold)]
    top = np.argsort(M.spectrum(z, labels))[::-1][:n_true]
    corr = M.correlation_matrix(z[:, top], latent[:, :n_true])
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(-corr)
    matching = [(int(top[i]), int(j), float(corr[i, j])) for i, j in zip(r, c, strict=True)]
    figures.append(plot_recovery(latent, x, z, labels, top, matching, results_dir / f"{name}_recovery.png"))

    p_base = metrics.get(f"{name}/gin_vs_baselines/p_value")
    sections = [
        f"## Artificial data: {name} (world {datamodule.world_seed})",
        "",
        f"Experiment `{experiment}`, seeds {seeds}, one world (data.world_seed={datamodule.world_seed}); test "
        f"points: {len(z)}. Main model: `{' '.join(main)}`. Informative = RMS within-class std above "
        f"{threshold:g}. Differences are paired by seed (main model minus the other; ± the sd of the "
        "per-seed differences; one-sided permutation p).",
        "",
        "| model | informative dims | MCC (Pearson) | gap ratio | MCC difference (main − this) |",
        "|---|---|---|---|---|",
        f"| main model, {len(seeds)} seeds | {metrics[f'{name}/n_informative']:.2f}{sd(f'{name}/n_informative')} | "
        f"{metrics[f'{name}/mcc']:.4f}{sd(f'{name}/mcc')} | "
        f"{metrics[f'{name}/gap_ratio']:.1f}{sd(f'{name}/gap_ratio')} | |",
        f"| raw coordinates (top-2 by spectrum) | {metrics[f'{name}/baseline/raw/n_informative']:.0f} | "
        f"{metrics[f'{name}/baseline/raw/mcc']:.4f} | | |",
        f"| PCA (2 components) | | {metrics[f'{name}/baseline/pca/mcc']:.4f} | | |",
        f"| FastICA (2 components) | | {metrics[f'{name}/baseline/fastica/mcc']:.4f} | | |",
        f"| best of the three | | {best:.4f} | | "
        + (f"{metrics[f'{name}/gin_vs_baselines/difference']:+.4f} ± "
           f"{metrics[f'{name}/gin_vs_baselines/difference_sd']:.4f} (p {p_base:.3f})" if p_base is not None else "")
        + " |",
        *rows,
        "",
    ]
    return metrics, figures, sections


def run_digits(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> tuple[dict, list[Path], list[str]]:
    experiment = plan.digits
    overrides = list(plan.get("digits_overrides") or [])
    if plan.get("digits_root"):
        overrides.append(f"data.root={Path(plan.digits_root).expanduser().resolve()}")
    trained = train_experiment(cfg, experiment, [*mechanism_overrides(plan), *overrides], seed=plan.seeds[0])
    metrics = _test_metrics(trained, "digits")
    datamodule, model = load_trained_run(trained["run_dir"])
    z, labels, x, _ = latents_of(model, datamodule.test_dataloader(), model.noise_std)
    generator = np.random.default_rng(0)
    pixels = x + generator.standard_normal(x.shape) * model.noise_std
    for key, value in analyse_latents(pixels, labels, model.informative_threshold, model.knee_fraction).items():
        metrics[f"digits_pixels/{key}"] = float(value)
    # How far the flow squeezed the class-conditional spread: the mean over classes and dims of
    # log(within-class std), pixels' minus latents' (nats). For a volume-preserving flow this is the
    # held-out NLL gain over the untrained flow (a pixel permutation); a GLOW flow's loss pays every
    # such squeeze back through its log-det, so it need not squeeze (`nll_per_dim` leaves log-det out).
    metrics["digits/log_std_gain_over_pixels"] = metrics["digits_pixels/nll_per_dim"] - metrics["digits/nll_per_dim"]
    spec = M.spectrum(z, labels)
    knee = M.knee(spec, model.knee_fraction)
    spectra = {"main model latent": spec, "pixels (+ noise)": M.spectrum(pixels, labels)}
    rows = []
    for name, extra in (plan.get("digits_ablations") or {}).items():
        ablation = train_experiment(cfg, experiment, [*mechanism_overrides(plan), *overrides, *extra],
                                    seed=plan.seeds[0])
        metrics.update(_test_metrics(ablation, f"digits_ablation/{name}"))
        metrics[f"digits_ablation/{name}/log_std_gain_over_pixels"] = (
            metrics["digits_pixels/nll_per_dim"] - metrics[f"digits_ablation/{name}/nll_per_dim"])
        _, ablated = load_trained_run(ablation["run_dir"])
        z_ablated, _, _, _ = latents_of(ablated, datamodule.test_dataloader(), ablated.noise_std)
        spectra[f"ablation: {name}"] = M.spectrum(z_ablated, labels)
        rows.append(f"| {name} (`{' '.join(extra)}`) | {metrics[f'digits_ablation/{name}/knee']:.0f} | "
                    f"{metrics[f'digits_ablation/{name}/gap_ratio']:.2f} | "
                    f"{metrics[f'digits_ablation/{name}/spectrum_median']:.4f} | "
                    f"{metrics[f'digits_ablation/{name}/log_std_gain_over_pixels']:.3f} |")
    figures = [plot_spectra(
        spectra,
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
        f"Experiment `{experiment}` (overrides {[*mechanism_overrides(plan), *overrides]}); train digits: {len(datamodule.train_set)}, "
        f"test digits: {len(z)}. Knee of the sorted spectrum (largest neighbour ratio in the first "
        f"{model.knee_fraction:g} of the dims, fixed in the config) after **{knee}** dimensions "
        f"(paper, full EMNIST: 22); dims above {model.informative_threshold:g}: "
        f"{metrics['digits/n_informative']:.0f}; gap ratio {metrics['digits/gap_ratio']:.2f}.",
        "",
        "Top 30 of the sorted spectrum: " + ", ".join(f"{v:.3f}" for v in ordered[:30]),
        "",
        "| model | knee | gap ratio | median std | mean log-std gain over the pixels (nats) |",
        "|---|---|---|---|---|",
        f"| main model | {knee} | {metrics['digits/gap_ratio']:.2f} | {metrics['digits/spectrum_median']:.4f} | "
        f"{metrics['digits/log_std_gain_over_pixels']:.3f} |",
        f"| pixels (+ noise) | {metrics['digits_pixels/knee']:.0f} | {metrics['digits_pixels/gap_ratio']:.2f} | "
        f"{metrics['digits_pixels/spectrum_median']:.4f} | 0 |",
        *rows,
        "",
    ]
    return metrics, figures, sections


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    torch.set_num_threads(1)
    metrics, figures, sections = {}, [], []
    for name, setting in (plan.get("artificial") or {}).items():
        if setting is None:  # a setting switched off from the command line (`...artificial.<name>=null`)
            continue
        m, f, sec = run_artificial(cfg, plan, name, setting, results_dir)
        metrics.update(m)
        figures += f
        sections += sec
    if plan.get("digits"):
        m, f, s = run_digits(cfg, plan, results_dir)
        metrics.update(m)
        figures += f
        sections += s
    sections += ["", "Plan: `" + json.dumps(OmegaConf.to_container(plan, resolve=True)) + "`", ""]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
