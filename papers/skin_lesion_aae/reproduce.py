"""skin_lesion_aae's part of `scripts/reproduce.py`: the four autoencoders, the labelled-fraction
sweep of a classifier on their codes, the supervised baseline, and the figures.

The plan (configs/paper/skin_lesion_aae.yaml, one scale):
- `experiments.autoencoder`, trained once per `variants` entry ({name: [overrides]}: daae, aae,
  dae, ae) and per seed in `seeds`, on the unlabelled training images.
- For every `label_fractions` f and `label_seeds` s: a stratified labelled subset of the training
  images; a `classifier` on its codes, scored on the test images: `<variant>/labels<pct>/<metric>`
  (mean over seeds × label seeds, `.sd` beside). The same for PCA of the pixels (`pca/...`, nz
  components) as a classical unsupervised reference.
- `experiments.supervised` trained per f and per s in `supervised_seeds` on the labelled subset
  alone: `supervised/labels<pct>/<metric>`.
- Summaries over the scarce fractions `scarce` (mean over them): `<model>/scarce/<metric>`, and the
  paired differences over label seeds `daae_minus_<model>/scarce/<metric>`.
- Orderings over training seeds (what the claims judge): each seed's scarce-label mean, DAAE against
  every other model (unpaired one-sided permutation test, common/stats.py):
  `daae_minus_<model>/seeds/scarce/<metric>/{difference,difference_sd,p_value,n,excess}`, `excess` =
  difference - seed spread; `dae_minus_daae/seeds/prior_energy_ratio/...` for the codes.
- Per autoencoder over its seeds: `<variant>/rec_ratio` (test reconstruction MSE over the mean
  training image's; `_max` the worst seed), `<variant>/prior_energy_ratio`, `prior_energy`,
  `prior_energy_p` and `code_sd` (`_min` the smallest) from `metrics.prior_energy`; first seed:
  `<variant>/prior_gap`, `<variant>/rec_loss`, `<variant>/denoise_mse`.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from common.experiment import PaperResults, load_trained_run, train_experiment
from common.stats import compare
from papers.skin_lesion_aae.metrics import (
    binary_metrics,
    fit_code_classifier,
    prior_energy,
    prior_match,
    reconstruction_ratio,
    select_labelled,
)
from papers.skin_lesion_aae.model import corrupt
from papers.skin_lesion_aae.plots import (
    plot_auc_vs_fraction,
    plot_embedding,
    plot_reconstructions,
    plot_roc,
)

METRICS = ("auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "spec_at_sens90", "spec_at_sens95")
TABLE_METRICS = ("auc", "balanced_accuracy", "spec_at_sens90", "spec_at_sens95")


def pct(fraction: float) -> str:
    return f"labels{fraction * 100:g}"


def _summarise(per_run: dict[str, list[float]]) -> dict[str, float]:
    out = {}
    for key, values in per_run.items():
        values = [v for v in values if np.isfinite(v)]
        if not values:
            continue
        out[key] = statistics.fmean(values)
        out[key + ".sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def _sweep(codes_train, y_train, codes_test, y_test, plan, prefix, scores_out=None):
    """{prefix/labels<pct>/<metric>: [values over label seeds]} and per-seed scarce means."""
    values: dict[str, list[float]] = {}
    for fraction in plan.label_fractions:
        for seed in plan.label_seeds:
            chosen = select_labelled(y_train, fraction, seed, plan.min_per_class)
            clf = fit_code_classifier(codes_train[chosen], y_train[chosen], plan.classifier, seed=seed)
            scores = clf.predict_proba(codes_test)[:, 1]
            if scores_out is not None and fraction == plan.roc_fraction and seed == plan.label_seeds[0]:
                scores_out[prefix] = (y_test, scores)
            for key, value in binary_metrics(y_test, scores, clf.threshold).items():
                values.setdefault(f"{prefix}/{pct(fraction)}/{key}", []).append(value)
    return values


def _scarce(values: dict[str, list[float]], model: str, plan) -> dict[str, list[float]]:
    """Per label seed, the mean over the scarce fractions: {model/scarce/metric: [per seed]}."""
    out = {}
    for metric in METRICS:
        rows = [values[f"{model}/{pct(f)}/{metric}"] for f in plan.scarce]
        out[f"{model}/scarce/{metric}"] = [float(np.mean(col)) for col in zip(*rows, strict=True)]
    return out


def _autoencoder_checks(model, x_train: torch.Tensor, x_test: torch.Tensor, z_all: np.ndarray,
                        seed: int) -> dict[str, float]:
    """Does the decoder depend on the input (test MSE over the mean training image's), and how close
    are the codes to the prior (two-sample energy statistic, spread)?"""
    with torch.no_grad():
        reconstructions = torch.cat([model.decoder(model.encoder(x_test[i:i + 256])) for i in range(0, len(x_test), 256)])
    out = {"rec_ratio": reconstruction_ratio(reconstructions.numpy(), x_test.numpy(), x_train.mean(0).numpy())}
    out.update(prior_energy(z_all, seed=seed))
    return out


def _ordering(metrics: dict[str, float], prefix: str, a: list[float], b: list[float]) -> None:
    """a - b over seeds (unpaired permutation test, one-sided a > b): difference, its seed spread,
    p-value, n and `excess` = difference - spread (>= 0: the margin is larger than the seed spread)."""
    if len(a) < 2 or len(b) < 2:
        metrics[f"{prefix}/difference"] = float(np.mean(a) - np.mean(b))
        return
    result = compare(a, b, paired=False, alternative="greater")
    metrics.update(result.as_metrics(prefix))
    metrics[f"{prefix}/excess"] = result.mean_difference - result.sd_difference


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    torch.set_num_threads(int(plan.get("threads", 1)))
    per_run: dict[str, list[float]] = {}
    per_seed: dict[str, list[float]] = {}  # <model>/<quantity>: one value per training seed
    metrics: dict[str, float] = {}
    roc_scores: dict[str, tuple] = {}
    loaded = {}
    for name, overrides in plan.variants.items():
        for index, seed in enumerate(plan.seeds):
            run = train_experiment(cfg, plan.experiments.autoencoder, list(overrides), seed=seed)
            datamodule, model = load_trained_run(run["run_dir"])
            x_train, y_train = datamodule.train_set.tensors()
            x_test, y_test = datamodule.test_set.tensors()
            z_train, z_test = model.encode(x_train).numpy(), model.encode(x_test).numpy()
            y_train, y_test = y_train.numpy(), y_test.numpy()
            swept = _sweep(z_train, y_train, z_test, y_test, plan, name, roc_scores if index == 0 else None)
            for key, value in swept.items():
                per_run.setdefault(key, []).extend(value)
            for metric in METRICS:  # this seed's scarce-label mean over fractions and label seeds
                per_seed.setdefault(f"{name}/scarce/{metric}", []).append(
                    float(np.mean([np.mean(swept[f"{name}/{pct(f)}/{metric}"]) for f in plan.scarce])))
            for key, value in _autoencoder_checks(model, x_train, x_test, np.concatenate([z_train, z_test]), seed).items():
                per_seed.setdefault(f"{name}/{key}", []).append(value)
            if index == 0:
                loaded[name] = (datamodule, model, z_test)
                metrics.update({f"{name}/{k}": v for k, v in prior_match(np.concatenate([z_train, z_test])).items()})
                for key in ("rec_loss", "denoise_mse"):
                    if f"test/{key}" in run:
                        metrics[f"{name}/{key}"] = float(run[f"test/{key}"])
        for key in ("rec_ratio", "prior_energy", "prior_energy_ratio", "prior_energy_p", "code_sd"):
            metrics.update(_summarise({f"{name}/{key}": per_seed[f"{name}/{key}"]}))
        metrics[f"{name}/rec_ratio_max"] = max(per_seed[f"{name}/rec_ratio"])
        metrics[f"{name}/code_sd_min"] = min(per_seed[f"{name}/code_sd"])

    # a classical unsupervised reference: PCA of the pixels, as many components as the code
    from sklearn.decomposition import PCA

    datamodule, model, _ = loaded[next(iter(loaded))]
    x_train, y_train = (t.numpy() for t in datamodule.train_set.tensors())
    x_test, y_test = (t.numpy() for t in datamodule.test_set.tensors())
    pca = PCA(model.nz, random_state=0).fit(x_train.reshape(len(x_train), -1))
    for key, value in _sweep(pca.transform(x_train.reshape(len(x_train), -1)), y_train,
                             pca.transform(x_test.reshape(len(x_test), -1)), y_test, plan, "pca", roc_scores).items():
        per_run.setdefault(key, []).extend(value)

    # the supervised baseline: the same encoder with a head, trained on each labelled subset
    supervised_runs: dict[tuple[float, int], dict] = {}
    for fraction in plan.label_fractions:
        for seed in plan.supervised_seeds:
            run = train_experiment(cfg, plan.experiments.supervised,
                                   [f"data.label_fraction={fraction}", f"data.label_seed={seed}"], seed=seed)
            supervised_runs[fraction, seed] = run
            for key in METRICS:
                per_run.setdefault(f"supervised/{pct(fraction)}/{key}", []).append(float(run[f"test/{key}"]))
            if fraction == plan.roc_fraction and seed == plan.supervised_seeds[0]:
                dm, sup = load_trained_run(run["run_dir"])
                xt, yt = dm.test_set.tensors()
                with torch.no_grad():
                    roc_scores["supervised"] = (yt.numpy(), torch.sigmoid(sup(xt)).numpy())
    for metric in METRICS:
        per_seed[f"supervised/scarce/{metric}"] = [
            float(np.mean([supervised_runs[f, s][f"test/{metric}"] for f in plan.scarce])) for s in plan.supervised_seeds]

    models = [*plan.variants, "pca", "supervised"]
    scarce = {}
    for model_name in models:
        scarce.update(_scarce(per_run, model_name, plan))
    per_run.update(scarce)
    metrics.update(_summarise(per_run))
    # differences: DAAE minus each other model on the scarce-label mean; paired per label seed for
    # the autoencoders and PCA (same labelled subsets), unpaired means for the supervised runs
    if "daae" in plan.variants:
        for other in models:
            if other == "daae":
                continue
            for metric in METRICS:
                mine, theirs = scarce[f"daae/scarce/{metric}"], scarce[f"{other}/scarce/{metric}"]
                if len(mine) == len(theirs):
                    diffs = [a - b for a, b in zip(mine, theirs, strict=True)]
                    metrics.update(_summarise({f"daae_minus_{other}/scarce/{metric}": diffs}))
                else:
                    metrics[f"daae_minus_{other}/scarce/{metric}"] = float(np.mean(mine) - np.mean(theirs))
        # the orderings the claims judge: over training seeds (each seed's scarce-label mean)
        for other in [*plan.variants, "supervised"]:
            if other == "daae":
                continue
            for metric in ("auc", "spec_at_sens95"):
                _ordering(metrics, f"daae_minus_{other}/seeds/scarce/{metric}",
                          per_seed[f"daae/scarce/{metric}"], per_seed[f"{other}/scarce/{metric}"])
        if "dae" in plan.variants:  # the adversary's job: DAAE codes nearer the prior than the DAE's
            _ordering(metrics, "dae_minus_daae/seeds/prior_energy_ratio",
                      per_seed["dae/prior_energy_ratio"], per_seed["daae/prior_energy_ratio"])

    figures = _figures(plan, loaded, roc_scores, metrics, results_dir)
    sections = _sections(plan, models, metrics, loaded)
    return PaperResults(metrics=metrics, figures=figures, sections=sections)


def _figures(plan, loaded, roc_scores, metrics, results_dir: Path) -> list[Path]:
    figures = []
    datamodule, _, _ = next(iter(loaded.values()))
    x_test, y_test = datamodule.test_set.tensors()
    n = min(8, len(x_test))
    clean = x_test[:n]
    generator = torch.Generator().manual_seed(0)
    sigma = max((m.sigma for _, m, _ in loaded.values()), default=0.1) or 0.1
    noisy = corrupt(clean, sigma, generator)
    rows = {"clean": clean.numpy(), f"corrupted σ={sigma:g}": noisy.clamp(0, 1).numpy()}
    for name, (_, model, _) in loaded.items():
        with torch.no_grad():
            rows[f"{name.upper()} of corrupted"] = model.decoder(model.encoder(noisy)).numpy()
    figures.append(plot_reconstructions(rows, results_dir / "reconstructions.png"))
    figures.append(plot_roc(roc_scores, f"test ROC, classifier trained on {plan.roc_fraction:.0%} of the labels "
                            "(first label seed)", results_dir / "roc_curves.png"))
    table = {}
    for name in [*loaded, "pca", "supervised"]:
        table[name] = {f: (metrics[f"{name}/{pct(f)}/auc"], metrics.get(f"{name}/{pct(f)}/auc.sd", 0.0))
                       for f in plan.label_fractions if f"{name}/{pct(f)}/auc" in metrics}
    figures.append(plot_auc_vs_fraction(table, "ROC-AUC vs labelled fraction", results_dir / "auc_vs_labels.png"))
    if "daae" in loaded:
        from sklearn.manifold import TSNE

        dm, _, z_test = loaded["daae"]
        count = min(int(plan.get("embedding_points", 600)), len(z_test))
        chosen = np.random.default_rng(0).choice(len(z_test), count, replace=False)
        points = TSNE(2, random_state=0, init="pca", perplexity=min(30, count // 4)).fit_transform(z_test[chosen])
        dx = np.asarray(dm.dx)[dm.indices["test"]][chosen]
        figures.append(plot_embedding(points, dx.tolist(), "t-SNE of DAAE codes (test images) by diagnosis",
                                      results_dir / "codes_tsne.png"))
    return figures


def _sections(plan, models, metrics, loaded) -> list[str]:
    datamodule = next(iter(loaded.values()))[0]
    sizes = {k: len(v) for k, v in datamodule.indices.items() if k != "labelled"}
    lines = [
        "## Labelled-fraction sweep (test images; mean ± sd over seeds × label seeds)",
        "",
        f"Images: train {sizes['train']} (the unlabelled pool), val {sizes['val']}, test {sizes['test']}; "
        f"classifier on codes: {plan.classifier}; label seeds {list(plan.label_seeds)}, "
        f"supervised seeds {list(plan.supervised_seeds)}.",
        "",
        "| model | labels | " + " | ".join(TABLE_METRICS) + " |",
        "|---|---|" + "---|" * len(TABLE_METRICS),
    ]
    for name in models:
        for fraction in plan.label_fractions:
            cells = []
            for metric in TABLE_METRICS:
                key = f"{name}/{pct(fraction)}/{metric}"
                cells.append(f"{metrics[key]:.3f} ± {metrics.get(key + '.sd', 0):.3f}" if key in metrics else "—")
            lines.append(f"| {name.upper() if name in plan.variants else name} | {fraction:.0%} | " + " | ".join(cells) + " |")
    lines += ["", f"Autoencoders over training seeds {list(plan.seeds)} (mean ± sd; worst seed in brackets): "
              "reconstruction MSE of clean test images over that of the mean training image (1 = one image for "
              "every input); energy distance of the codes from N(0, I) over that of the best constant code "
              "(1 = collapsed to the origin), with its two-sample permutation p (first seed); mean per-dimension "
              "code sd (0 = constant encoder, 1 = prior); first seed: test BCE, denoising MSE.", "",
              "| model | reconstruction / mean image | prior energy ratio | two-sample p | code sd | test BCE | denoising MSE |",
              "|---|---|---|---|---|---|---|"]

    def cell(key, worst=None):
        value = metrics.get(key, float("nan"))
        text = f"{value:.3f} ± {metrics.get(key + '.sd', 0):.3f}"
        return text + (f" [{metrics[worst]:.3f}]" if worst in metrics else "")

    for name in plan.variants:
        lines.append(f"| {name.upper()} | {cell(f'{name}/rec_ratio', f'{name}/rec_ratio_max')} "
                     f"| {cell(f'{name}/prior_energy_ratio')} | {metrics.get(f'{name}/prior_energy_p', float('nan')):.3f} "
                     f"| {cell(f'{name}/code_sd', f'{name}/code_sd_min')} "
                     f"| {metrics.get(f'{name}/rec_loss', float('nan')):.4f} | {metrics.get(f'{name}/denoise_mse', float('nan')):.4f} |")
    orderings = sorted({k.rsplit("/", 1)[0] for k in metrics if "/seeds/" in k and k.endswith("/p_value")})
    if orderings:
        lines += ["", "Orderings over training seeds (unpaired permutation test, one-sided; excess = difference - "
                  "seed spread of the difference):", "", "| comparison | difference | spread | excess | n | p |",
                  "|---|---|---|---|---|---|"]
        for prefix in orderings:
            lines.append(f"| {prefix} | {metrics[prefix + '/difference']:+.4f} | {metrics[prefix + '/difference_sd']:.4f} "
                         f"| {metrics[prefix + '/excess']:+.4f} | {metrics[prefix + '/n']:.0f} | {metrics[prefix + '/p_value']:.3g} |")
    if messages := getattr(datamodule, "messages", None):
        lines += ["", f"Data rows left out ({len(messages)}): " + "; ".join(messages[:5]) + (" …" if len(messages) > 5 else "")]
    return lines + [""]
