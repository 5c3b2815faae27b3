"""ecg_unet's part of `scripts/reproduce.py`: train, score against NeuroKit2, draw a strip."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from common.experiment import PaperResults, load_trained_run, mean_and_sd, train_experiment
from papers.ecg_unet.baseline import score_neurokit
from papers.ecg_unet.delineation import WAVES
from papers.ecg_unet.plots import plot_strip

STAT_NAMES = (("se", "Se"), ("ppv", "PPV"), ("f1", "F1"), ("mean_err_ms", "m (ms)"), ("std_err_ms", "σ (ms)"))


def comparison_table(unet: dict[str, float], baseline: dict[str, float]) -> str:
    lines = [
        "| boundary | method | " + " | ".join(label for _, label in STAT_NAMES) + " | annotated |",
        "|---|---|" + "---|" * (len(STAT_NAMES) + 1),
    ]
    for name in WAVES.values():
        for boundary in ("onset", "offset"):
            key = f"{name}_{boundary}"
            for method, values, prefix in (("UNet", unet, "test/"), ("NeuroKit2 dwt", baseline, "")):
                if f"{prefix}{key}_f1" not in values:
                    continue
                cells = []
                for stat, _ in STAT_NAMES:
                    value = values[f"{prefix}{key}_{stat}"]
                    cells.append(f"{value:.3f}" if stat in ("se", "ppv", "f1") else f"{value:.1f}")
                n_true = int(values[f"{prefix}{key}_n_true"])
                lines.append(f"| {name.upper()} {boundary} | {method} | " + " | ".join(cells) + f" | {n_true} |")
    return "\n".join(lines)


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    """Train plan.experiment once per seed of plan.seeds; claims are judged on the mean over seeds."""
    runs = [train_experiment(cfg, plan.experiment, seed=seed) for seed in plan.seeds]
    run_dirs = [Path(r.pop("run_dir")) for r in runs]
    metrics = mean_and_sd(runs)
    run_dir = run_dirs[0]

    datamodule, model = load_trained_run(run_dir)

    baseline = score_neurokit(datamodule.test_records, model.tolerance_ms, plan.get("baseline_jobs", 1))
    metrics.update({f"neurokit/{key}": value for key, value in baseline.items()})
    for key in baseline:
        if key.endswith("_f1"):
            metrics[f"unet_minus_neurokit/{key}"] = metrics[f"test/{key}"] - baseline[key]

    record = datamodule.test_records[0]
    lead = 1 if record.signal.shape[0] > 1 else 0
    predicted = model.delineate(record.signal, record.sampling_rate)
    figure = plot_strip(
        record.signal[lead], record.sampling_rate, record.waves[lead], predicted[lead],
        f"record {record.name}, lead #{lead + 1}: annotated (top) and UNet (bottom)", results_dir / "ecg_strip.png",
    )
    sections = [
        "## Per-boundary scores on the test records (150 ms tolerance)",
        "",
        f"Test records: {len(datamodule.test_records)}; train: {len(datamodule.train_records)}; "
        f"seeds {list(plan.seeds)} (UNet numbers are their mean); run dirs: " + ", ".join(f"`{d}`" for d in run_dirs),
        "",
        comparison_table(metrics, baseline),
        "",
    ]
    return PaperResults(metrics=metrics, figures=[figure], sections=sections)
