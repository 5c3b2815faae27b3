"""humbug_cnn's part of `scripts/reproduce.py`.

full: the paper's 10 random 67/33 splits of the Zooniverse clips (split seeds 10, 20, ..., 100 as
in the authors' code), then the same 10 with whole recordings held out; mean and spread.
real: the same protocol on a folder of real Zooniverse recordings with their votes
(`scales.real.data_root=DIR`, e.g. the 45 Culex recordings of ../shared/data/humbug/zooniverse_culex),
and the trained model run along whole recordings (`scales.real.recordings_dir=DIR`, optional).
tiny: generated recordings at moderate SNR (random split, and by recording) and at low SNR; a
generated 30-s stereo 16 kHz recording scored window by window through predict_file.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from common.experiment import SD_SUFFIX, PaperResults, load_trained_run, train_experiment
from papers.humbug_cnn.metrics import COUNTS, SCORES, binary_scores, pooled_rates, summarise_splits
from papers.humbug_cnn.plots import plot_examples, plot_roc, plot_trace
from papers.humbug_cnn.predict import predict_file
from papers.humbug_cnn.synthetic import generate_recordings

# The authors' notebook (baseline.ipynb): mean accuracy over the 10 splits, and the confusion
# matrix of counts summed over the splits, row-normalised.
PAPER = {"accuracy": 0.838, "pooled_mosquito_as_mosquito": 0.7096, "pooled_mosquito_as_noise": 0.2904,
         "pooled_noise_as_noise": 0.8536, "pooled_noise_as_mosquito": 0.1464}


def _test_predictions(run_dir: Path):
    datamodule, model = load_trained_run(run_dir)
    features = datamodule.features[datamodule.test_index]
    labels = datamodule.labels[datamodule.test_index].numpy()
    probability = np.concatenate([model.predict_proba(chunk, 0)[0].detach().numpy() for chunk in features.split(1024)])
    return datamodule, model, features.numpy(), labels, probability


def _examples(features, labels, probability, count: int = 4) -> np.ndarray:
    """The first `count` test clips of each class, mosquito first."""
    return np.concatenate([np.flatnonzero(labels == 1)[:count], np.flatnonzero(labels == 0)[:count]])


def _scores_table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| run | " + " | ".join(SCORES) + " |", "|---|" + "---|" * len(SCORES)]
    for name, scores in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{scores[k]:.3f}" for k in SCORES) + " |")
    return "\n".join(lines)


def _long_recording_demo(model, results_dir: Path, seed: int = 123) -> tuple[dict[str, float], Path, str]:
    """A 30-s generated recording, written as 16 kHz stereo so the resampling and mix-down paths
    run, scored every 0.5 s."""
    generated = generate_recordings(1, seed, recording_seconds=30.0, clip_seconds=0.5, mosquito_probability=1.0,
                                    snr_db=(0.0, 0.0), distractor_probability=0.0)
    at_8k = generated.clips.reshape(-1)
    at_16k = torchaudio.functional.resample(torch.from_numpy(at_8k), 8000, 16000).numpy()
    wav = results_dir / "long_recording_16k_stereo.wav"
    soundfile.write(wav, np.stack([at_16k, 0.5 * at_16k], axis=1), 16000)
    prediction = predict_file(wav, model, hop_seconds=0.5, output=results_dir / "long_recording_predictions.csv")
    # Truth per 1-s window: the flight covers at least half of it (the clips are 0.5 s long).
    half_second_truth = generated.labels
    truth = np.array([half_second_truth[int(round(s / 0.5)) : int(round(s / 0.5)) + 2].mean() >= 0.5
                      for s in prediction.starts]).astype(int)
    scores = binary_scores(truth, prediction.probability) if len(np.unique(truth)) == 2 else {}
    metrics = {f"long_recording/{k}": v for k, v in scores.items()}
    metrics["long_recording/throughput_audio_s_per_cpu_s"] = prediction.throughput
    figure = plot_trace(prediction.starts, prediction.probability, truth,
                        "generated 30-s recording (16 kHz stereo, resampled): p(mosquito) per 1-s window, hop 0.5 s",
                        results_dir / "long_recording.png")
    note = "; ".join(prediction.notes)
    return metrics, figure, note


def reproduce_tiny(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    moderate = train_experiment(cfg, plan.experiment)
    by_recording = train_experiment(cfg, plan.experiment, ["data.split=recording"])
    low_snr = train_experiment(cfg, plan.low_snr_experiment)
    metrics = {k: v for k, v in moderate.items() if k != "run_dir"}
    metrics.update({f"by_recording/{k}": v for k, v in by_recording.items() if k != "run_dir"})
    metrics.update({f"low_snr/{k}": v for k, v in low_snr.items() if k != "run_dir"})
    metrics["moderate_minus_low_snr/roc_auc"] = metrics["test/roc_auc"] - metrics["low_snr/test/roc_auc"]

    datamodule, model, features, labels, probability = _test_predictions(Path(moderate["run_dir"]))
    _, _, _, low_labels, low_probability = _test_predictions(Path(low_snr["run_dir"]))
    shown = _examples(features, labels, probability)
    spec = datamodule.spec
    figures = [
        plot_examples(features[shown], labels[shown], probability[shown], spec.clip_seconds, spec.sample_rate,
                      results_dir / "spectrograms.png"),
        plot_roc({"moderate SNR (-5..5 dB)": (labels, probability), "low SNR (-20..-12 dB)": (low_labels, low_probability)},
                 results_dir / "roc.png"),
    ]
    long_metrics, trace, note = _long_recording_demo(model, results_dir)
    metrics.update(long_metrics)
    figures.append(trace)
    table = _scores_table({
        "moderate SNR, random clip split": {k: metrics[f"test/{k}"] for k in SCORES},
        "moderate SNR, split by recording": {k: metrics[f"by_recording/test/{k}"] for k in SCORES},
        "low SNR, random clip split": {k: metrics[f"low_snr/test/{k}"] for k in SCORES},
    })
    sections = [
        "## Generated recordings: held-out clips", "",
        f"{len(datamodule.labels)} clips of {spec.clip_seconds:g} s from {int(datamodule.recordings.max()) + 1} "
        f"recordings; {len(datamodule.train_index)} train / {len(datamodule.test_index)} test.", "",
        table, "",
        "## A long recording through predict_file", "",
        f"Notes from reading it: {note}. Throughput "
        f"{metrics['long_recording/throughput_audio_s_per_cpu_s']:.0f} s of audio per CPU second.", "",
    ]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)


SPLIT_PREFIXES = {"random": "splits/", "recording": "by_recording_splits/"}
SPLIT_NAMES = {"random": "random 67/33 clip splits (the paper)", "recording": "67/33 splits by recording"}


def _data_overrides(plan: DictConfig) -> list[str]:
    """data.root for a scale on the user's own folder (plan key data_root, `???` until given)."""
    if "data_root" not in plan.keys():  # (`in` is False for a missing `???` value too)
        return []
    if OmegaConf.is_missing(plan, "data_root"):
        raise ConfigError(
            "this scale reads a folder of real Zooniverse recordings with their votes.csv: give it as "
            "scales.<scale>.data_root=DIR (e.g. ../shared/data/humbug/zooniverse_culex)"
        )
    return [f"data.root={Path(str(plan.data_root)).expanduser().resolve()}"]


def _long_recordings(model, folder: Path, results_dir: Path) -> tuple[dict[str, float], list[Path], list[str]]:
    """Every .wav of `folder` through predict_file (1-s windows, hop 1 s): windows flagged
    (p >= 0.5), max and mean p(mosquito) per recording, a CSV and a trace each."""
    recordings = sorted(Path(folder).expanduser().glob("*.wav"))
    if not recordings:
        raise ConfigError(f"recordings_dir={folder} holds no .wav files")
    metrics, figures = {}, []
    lines = ["| recording | length (s) | windows | flagged (p ≥ 0.5) | max p | mean p |", "|---|---|---|---|---|---|"]
    for wav in recordings:
        prediction = predict_file(wav, model, output=results_dir / "recordings" / f"{wav.stem}.csv")
        flagged = int((prediction.probability >= 0.5).sum())
        key = f"recordings/{wav.stem}/"
        metrics.update({key + "windows": float(len(prediction.probability)), key + "flagged": float(flagged),
                        key + "max_p": float(prediction.probability.max()),
                        key + "mean_p": float(prediction.probability.mean())})
        lines.append(f"| `{wav.name}` | {prediction.audio_seconds:.1f} | {len(prediction.probability)} | {flagged} | "
                     f"{prediction.probability.max():.3f} | {prediction.probability.mean():.3f} |")
        figures.append(plot_trace(prediction.starts, prediction.probability, None, f"{wav.name}: p(mosquito) per 1-s window",
                                  results_dir / f"recording_{wav.stem}.png"))
    return metrics, figures, lines


def _confusion_table(metrics: dict[str, float]) -> list[str]:
    """Row-normalised confusion matrices (counts summed over the splits) beside the paper's."""
    lines = ["| split | true class | predicted noise | predicted mosquito | accuracy (mean over splits) |",
             "|---|---|---|---|---|"]
    rows = [(SPLIT_NAMES[split], SPLIT_PREFIXES[split]) for split in SPLIT_PREFIXES if f"{SPLIT_PREFIXES[split]}pooled_accuracy" in metrics]
    for name, prefix in rows:
        for true in ("noise", "mosquito"):
            accuracy = f"{metrics[prefix + 'accuracy_mean']:.3f} ± {metrics[prefix + 'accuracy_std']:.3f}" if true == "noise" else ""
            lines.append(f"| {name} | {true} | {metrics[f'{prefix}pooled_{true}_as_noise']:.4f} | "
                         f"{metrics[f'{prefix}pooled_{true}_as_mosquito']:.4f} | {accuracy} |")
    for true in ("noise", "mosquito"):
        accuracy = f"{PAPER['accuracy']:.3f}" if true == "noise" else ""
        lines.append(f"| paper (79,662 clips, all species) | {true} | {PAPER[f'pooled_{true}_as_noise']:.4f} | "
                     f"{PAPER[f'pooled_{true}_as_mosquito']:.4f} | {accuracy} |")
    return lines


def reproduce_splits(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    """The paper's protocol: one run per split seed, for each kind of split; the mean, sd, min and
    max of each score over the splits and the confusion matrix of the summed counts."""
    metrics: dict[str, float] = {}
    data = _data_overrides(plan)
    first_run = None
    for split in plan.splits:
        prefix = SPLIT_PREFIXES[split]
        per_split = []
        for seed in plan.split_seeds:
            run = train_experiment(cfg, plan.experiment, [*data, f"data.split={split}", f"data.split_seed={seed}"])
            first_run = first_run or Path(run["run_dir"])
            per_split.append({k: run[f"test/{k}"] for k in (*SCORES, *COUNTS)})
        metrics.update(summarise_splits([{k: s[k] for k in SCORES} for s in per_split], prefix))
        if len(per_split) > 1:  # the sample sd beside each mean, which the claims table shows as ±
            metrics.update({f"{prefix}{k}_mean{SD_SUFFIX}": statistics.stdev(s[k] for s in per_split) for k in SCORES})
        metrics.update({prefix + k: v for k, v in pooled_rates(per_split).items()})
    datamodule, model, features, labels, probability = _test_predictions(first_run)
    shown = _examples(features, labels, probability)
    spec = datamodule.spec
    figures = [
        plot_examples(features[shown], labels[shown], probability[shown], spec.clip_seconds, spec.sample_rate,
                      results_dir / "spectrograms.png"),
        plot_roc({f"{plan.splits[0]} split, seed {plan.split_seeds[0]}": (labels, probability)}, results_dir / "roc.png"),
    ]
    lines = ["| split | statistic | " + " | ".join(SCORES) + " |", "|---|---|" + "---|" * len(SCORES)]
    for split in plan.splits:
        prefix = SPLIT_PREFIXES[split]
        for stat in ("mean", "std", "min", "max"):
            lines.append(f"| {split} | {stat} | " + " | ".join(f"{metrics[f'{prefix}{k}_{stat}']:.3f}" for k in SCORES) + " |")
    sections = [
        f"## {len(datamodule.labels)} clips from {len(np.unique(datamodule.recordings.numpy()))} recordings "
        f"({int(datamodule.labels.sum())} mosquito), {len(plan.split_seeds)} splits of 67/33", "",
        "\n".join(lines), "",
        "### Confusion matrix, counts summed over the splits and row-normalised (as the authors' notebook)", "",
        *_confusion_table(metrics), "",
    ]
    if plan.get("recordings_dir"):
        recording_metrics, traces, table = _long_recordings(model, Path(str(plan.recordings_dir)), results_dir)
        metrics.update(recording_metrics)
        figures += traces
        sections += [f"## Whole recordings scored by the model of {plan.splits[0]} split seed {plan.split_seeds[0]}", "",
                     *table, ""]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    if "split_seeds" in plan:
        return reproduce_splits(cfg, plan, results_dir)
    return reproduce_tiny(cfg, plan, results_dir)
