"""finsler_latent_metric's part of `scripts/reproduce.py`.

1. The closed-form non-central Nakagami mean against Monte Carlo (10^6 samples per case).
2. The 1/D convergence of the relative indicatrix-volume difference (q = 2), slope and bound.
3. Stochastic decoders trained per data set and seed, the VAE with a random-function decoder and
   (experiments gplvm_*) the paper's sparse GP-LVM;
   geodesics under the Finsler and the Riemann metric between random pairs of test codes, their
   length ratio per pair, and the pointwise gap 1 - F(v)/|v|_G near the data and on a latent grid.
4. The Fisher-Rao pullback of a Bernoulli VAE (Arvanitidis et al. 2022): geodesics against
   straight lines and against the geodesics of the Euclidean pullback of the decoded probabilities.

`scales.<scale>.stochastic=false` (or `overrides=["model.stochastic=false"]`) switches the decoders'
variance off (Sigma = 0) everywhere, including the convergence experiment's Jacobian samples: the
mechanism-off run (configs/paper/finsler_latent_metric.yaml, `mechanism_off.sigma_zero`).

On the starfish (experiments named in `geodesics.endpoints`), geodesics run from the starfish's centre
to the tip of each of its five arms, as in the authors' figures; elsewhere between random pairs of
test codes. The Fisher-Rao comparison with the mean pullback is over the seeds in
`experiment_seeds.fisher`, with a sign-flip permutation p-value (common/stats.py).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from common.experiment import PaperResults, load_trained_run, mean_and_sd, train_experiment
from common.stats import compare
from papers.finsler_latent_metric.convergence import plot_convergence, run_convergence
from papers.finsler_latent_metric.data import inverse_stereographic, load_source
from papers.finsler_latent_metric.geodesics import (
    geodesic_pairs,
    latent_bounds,
    latent_grid,
    pointwise_gap,
)
from papers.finsler_latent_metric.metrics import DTYPE, curve_length, nakagami_mean
from papers.finsler_latent_metric.plots import plot_fisher, plot_latent, plot_ratio_vs_dimension

VARIANCE_OFF = "model.stochastic=false"


def variance_switched_off(cfg: DictConfig) -> bool:
    return any(str(o).replace(" ", "").lower() == VARIANCE_OFF for o in cfg.overrides)


def monte_carlo_check(samples: int, seed: int = 0) -> float:
    """Largest |closed form / Monte Carlo - 1| of E||x||, x ~ N(mu, s I_D), over a few cases."""
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for D, var, mean_sq in ((3, 0.7, 2.0), (10, 2.0, 40.0), (48, 0.3, 5.0), (1024, 0.01, 3.0)):
        first = math.sqrt(mean_sq) + math.sqrt(var) * torch.randn(samples, generator=generator, dtype=DTYPE)
        # chi2_{D-1} as a sum of squares would be D x samples normals; the Gamma sampler is exact and cheap
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        rest = var * torch.distributions.Chi2(torch.tensor(float(D - 1), dtype=DTYPE)).sample((samples,))
        monte_carlo = float(torch.sqrt(first**2 + rest).mean())
        closed = float(nakagami_mean(torch.tensor(var, dtype=DTYPE), torch.tensor(mean_sq, dtype=DTYPE), D))
        worst = max(worst, abs(closed / monte_carlo - 1))
    return worst


def starfish_landmarks(datamodule, quantile: float = 0.95) -> torch.Tensor:
    """The starfish's centre and the tips of its arms in the data space (as the data module standardised it):
    row 0 the image of the plane's origin, rows 1..5 per arm the point at the `quantile` of its distance
    from the centre (the sphere's z grows with the plane radius; the quantile avoids the outermost outlier)."""
    h = datamodule.hparams
    if h.source != "starfish_sphere":
        raise ConfigError(f"origin_to_tips geodesics need data.source=starfish_sphere, got {h.source!r}")
    raw, labels = load_source(h.source, h.root, h.data_dir, h.n_points, h.split_seed, h.noise, h.mnist_count,
                              h.n_circles)
    centre = inverse_stereographic(np.zeros((1, 2)))
    if h.standardise:
        mean = raw.mean(0)
        scale = (raw - mean).std()
        centre = (centre - mean) / scale
    tips = []
    for arm in np.unique(labels):
        members = np.flatnonzero(labels == arm)
        ordered = members[np.argsort(raw[members, 2])]
        tips.append(int(ordered[int(quantile * (len(ordered) - 1))]))
    points = torch.cat([torch.as_tensor(centre, dtype=datamodule.x_all.dtype), datamodule.x_all[tips]])
    return points


def analyse_decoder(run_dir: str, plan, seed: int, name: str = "") -> tuple[dict[str, float], dict]:
    datamodule, model = load_trained_run(run_dir)
    manifold = model.geometry()
    codes_test = manifold.encode_mean(datamodule.x_all[datamodule.test_idx])
    codes_all = manifold.encode_mean(datamodule.x_all)
    geo = plan.geodesics
    endpoints = (geo.get("endpoints") or {}).get(name, "random_test_pairs")
    if endpoints == "origin_to_tips":
        ends = manifold.encode_mean(starfish_landmarks(datamodule)).detach()
        metrics, raw = geodesic_pairs(manifold, ends, pairs=len(ends) - 1, seed=seed, points=int(geo.points),
                                      iterations=int(geo.iterations), resolution=int(geo.resolution),
                                      pair_indices=[(0, k) for k in range(1, len(ends))],
                                      bounds=latent_bounds(codes_all))
    elif endpoints == "random_test_pairs":
        metrics, raw = geodesic_pairs(manifold, codes_test, pairs=int(geo.pairs), seed=seed, points=int(geo.points),
                                      iterations=int(geo.iterations), resolution=int(geo.resolution))
    else:
        raise ConfigError(f"geodesics.endpoints.{name} must be origin_to_tips or random_test_pairs, got {endpoints!r}")
    near = pointwise_gap(manifold, codes_test)
    grid = pointwise_gap(manifold, latent_grid(latent_bounds(codes_all), 12))
    metrics.update({"gap/near_data_mean": near["mean"], "gap/grid_mean": grid["mean"], "gap/grid_max": grid["max"],
                    "data_dim": float(manifold.D)})
    raw.update({"manifold": manifold, "codes": codes_all, "labels": datamodule.labels})
    return metrics, raw


def analyse_fisher(run_dir: str, plan, seed: int) -> tuple[dict[str, float], dict]:
    from papers.finsler_latent_metric.metrics import DeterministicManifold
    from papers.finsler_latent_metric.model import BernoulliVAE

    datamodule, model = load_trained_run(run_dir)
    assert isinstance(model, BernoulliVAE)
    fisher = model.fisher_rao_manifold()
    decoder64 = copy.deepcopy(model.decoder).double()
    mean_pullback = DeterministicManifold(lambda z: torch.sigmoid(decoder64(z)), model.hparams.data_dim, 2)
    with torch.no_grad():
        codes = model.encoder(datamodule.x_all[datamodule.test_idx])[:, :2].double()
    geo = plan.geodesics
    kwargs = dict(pairs=int(geo.pairs), seed=seed, points=int(geo.points), iterations=int(geo.iterations),
                  resolution=int(geo.resolution), metrics=("riemann",))
    # the mean-pullback geodesics first: the Fisher-Rao solve also starts from them and keeps the
    # shortest under Fisher-Rao (a Fisher-Rao geodesic is no longer than any curve between its ends)
    _, mean_raw = geodesic_pairs(mean_pullback, codes, **kwargs)
    fr_metrics, fr_raw = geodesic_pairs(fisher, codes, **kwargs, extra_starts={"riemann": mean_raw["curves"]["riemann"]})
    excess, excess_default = [], []
    with torch.no_grad():
        for fr_curve, mean_curve, row in zip(fr_raw["curves"]["riemann"], mean_raw["curves"]["riemann"], fr_raw["rows"],
                                             strict=True):
            mean_length = float(curve_length(fisher, mean_curve, "riemann"))
            excess.append(mean_length / float(curve_length(fisher, fr_curve, "riemann")) - 1)
            excess_default.append(mean_length / row["riemann_default_solve_length"] - 1)
    metrics = {
        "geodesic_over_straight_mean": fr_metrics["geodesics/riemann_over_straight_mean"],
        "geodesic_over_straight_max": fr_metrics["geodesics/riemann_over_straight_max"],
        "mean_pullback_geodesic_excess_mean": float(np.mean(excess)),
        "mean_pullback_geodesic_excess_min": float(np.min(excess)),
        "mean_pullback_geodesic_excess_max": float(np.max(excess)),
        # the same against the Fisher-Rao solve from the grid path / straight line only (before this warm start)
        "mean_pullback_geodesic_excess_default_solve_mean": float(np.mean(excess_default)),
        # share of pairs where the solve started from the mean-pullback geodesic (or that curve) was kept
        "fr_kept_from_mean_pullback_share": float(np.mean([r["riemann_kept"] != "default" for r in fr_raw["rows"]])),
    }
    with torch.no_grad():
        all_codes = model.encoder(datamodule.x_all)[:, :2].double()
    raw = {"manifold": fisher, "codes": all_codes, "labels": datamodule.labels, "fr": fr_raw, "mean": mean_raw}
    return metrics, raw


def _without_variance_override(cfg: DictConfig) -> DictConfig:
    """The Bernoulli VAE has no variance network: drop model.stochastic from its overrides."""
    clone = copy.deepcopy(cfg)
    OmegaConf.set_struct(clone, False)
    clone.overrides = [o for o in cfg.overrides if not str(o).replace(" ", "").lower().startswith("model.stochastic")]
    return clone


def reproduce(cfg: DictConfig, plan, results_dir: Path) -> PaperResults:
    results_dir = Path(results_dir)
    torch.set_num_threads(1)
    stochastic = bool(plan.get("stochastic", True)) and not variance_switched_off(cfg)
    metrics: dict[str, float] = {"mc/nakagami_max_rel_error": monte_carlo_check(int(plan.monte_carlo_samples))}
    figures, sections = [], []

    conv = plan.convergence
    conv_metrics, conv_raw = run_convergence(list(conv.seeds), list(conv.dims), int(conv.samples), stochastic=stochastic)
    metrics.update(conv_metrics)
    figures.append(results_dir / "convergence.png")
    plot_convergence(conv_raw, figures[-1])
    sections += [
        "## 1/D convergence of the indicatrix volumes (q = 2)", "",
        "| D | " + " | ".join(str(d) for d in conv_raw["dims"]) + " |",
        "|---|" + "---|" * len(conv_raw["dims"]),
        "| Monte Carlo (30 samples, authors' estimator) | " + " | ".join(f"{v:.4f}" for v in conv_raw["monte_carlo"].mean(0)) + " |",
        "| closed form | " + " | ".join(f"{v:.4f}" for v in conv_raw["closed_form"].mean(0)) + " |",
        "| bound | " + " | ".join(f"{v:.4f}" for v in conv_raw["bound"].mean(0)) + " |",
        "| 1/D | " + " | ".join(f"{1 / d:.4f}" for d in conv_raw["dims"]) + " |", "",
    ]

    ratio_rows = []
    for name, experiment in plan.experiments.items():
        is_fisher = name == "fisher"
        per_seed, first_raw = [], None
        seeds = (plan.get("experiment_seeds") or {}).get(name, plan.seeds)
        for seed in seeds:
            train_cfg = _without_variance_override(cfg) if is_fisher else cfg
            # a GP-LVM experiment (gplvm_<data>) reads the same data, hence the same root, as <data>
            roots = plan.get("roots") or {}
            root = roots.get(name) or roots.get(name.removeprefix("gplvm_"))
            extra = [f"data.root={root}"] if root else []
            if not stochastic and not is_fisher:
                extra.append(VARIANCE_OFF)
            trained = train_experiment(train_cfg, experiment, extra, seed=int(seed))
            run_dir = trained.pop("run_dir")
            if is_fisher:
                analysed, raw = analyse_fisher(run_dir, plan, int(seed))
            else:
                analysed, raw = analyse_decoder(run_dir, plan, int(seed), name)
            analysed.update({k: float(v) for k, v in trained.items() if k.startswith("test/") and isinstance(v, int | float)})
            per_seed.append(analysed)
            first_raw = first_raw or raw
        summary = mean_and_sd(per_seed)
        metrics.update({f"{name}/{key}": value for key, value in summary.items()})
        if is_fisher and len(per_seed) >= 2:
            # Fisher-Rao against the mean pullback, each solved from its own starts only (grid path or
            # straight line): per seed the mean excess L_FR(mean-pullback geodesic) / L_FR(FR geodesic) - 1
            # over the pairs; sign-flip permutation p-value over the seeds, margin = mean / seed sd
            excess = np.array([row["mean_pullback_geodesic_excess_default_solve_mean"] for row in per_seed])
            test = compare(excess, np.zeros_like(excess), paired=True, alternative="greater")
            metrics.update(test.as_metrics(f"{name}/fr_vs_mean_pullback"))
            if test.sd_difference > 0:
                metrics[f"{name}/fr_vs_mean_pullback/mean_over_sd"] = test.mean_difference / test.sd_difference
            sections += [
                "## Fisher-Rao against the mean pullback", "",
                f"Per seed ({list(seeds)}), mean over pairs of L_FR(mean-pullback geodesic) / L_FR(Fisher-Rao geodesic) - 1,"
                " each solved from its own grid path or straight line: "
                + ", ".join(f"{value:+.5f}" for value in excess)
                + f". Mean {test.mean_difference:+.5f}, seed sd {test.sd_difference:.5f}, sign-flip p = {test.p_value:.3f}"
                f" (n = {len(excess)}). With the Fisher-Rao solve also started from the mean-pullback geodesic"
                " (>= 0 by construction): mean excess "
                f"{summary['mean_pullback_geodesic_excess_mean']:+.5f}.", ""]
        if is_fisher:
            figures.append(results_dir / f"{name}_latent.png")
            plot_fisher(first_raw, figures[-1], f"{name}: Fisher-Rao geodesics (solid) and mean-pullback geodesics (dashed)")
        else:
            figures.append(results_dir / f"{name}_latent.png")
            plot_latent(first_raw, figures[-1], f"{name} (D = {int(summary['data_dim'])}): Finsler (orange) and Riemann (purple) geodesics")
            ratios = [r["finsler_length"] / r["riemann_length"] for r in first_raw["rows"]]
            ratio_rows.append((name, int(summary["data_dim"]), summary, ratios))
    if metrics.get("gplvm_starfish/gap/grid_max") is not None and metrics.get("gplvm_qpcr/gap/grid_max", 0) > 0:
        # the paper's low-D / high-D contrast within one decoder family: the largest pointwise gap on the
        # latent grid in D = 3 over that in D = 48
        metrics["gplvm/grid_gap_max_d3_over_d48"] = metrics["gplvm_starfish/gap/grid_max"] / metrics["gplvm_qpcr/gap/grid_max"]
    if ratio_rows:
        figures.append(results_dir / "length_ratio_vs_dimension.png")
        plot_ratio_vs_dimension(ratio_rows, figures[-1])
        sections += [
            "## Geodesic lengths: Finsler / Riemann per pair of codes", "",
            "Pairs: " + "; ".join(f"{n}: {e}" for n, e in (plan.geodesics.get("endpoints") or {}).items())
            + "; the others: random pairs of test codes.", "",
            f"Seeds: {list(plan.seeds)}; mean over seeds (± sd).", "",
            "| data | D | ratio mean | ratio min | ratio max | 1 − F/|v|_G near data | on the latent grid (mean / max) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, dim, summary, _ in ratio_rows:
            sd = summary.get("geodesics/ratio_mean.sd")
            sections.append(
                f"| {name} | {dim} | {summary['geodesics/ratio_mean']:.5f}" + (f" ± {sd:.5f}" if sd is not None else "")
                + f" | {summary['geodesics/ratio_min']:.5f} | {summary['geodesics/ratio_max']:.5f}"
                f" | {summary['gap/near_data_mean']:.2e} | {summary['gap/grid_mean']:.2e} / {summary['gap/grid_max']:.2e} |"
            )
        sections.append("")
    sections += [f"Decoder variance (Sigma) {'on' if stochastic else 'switched off (model.stochastic=false)'}.", ""]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)
