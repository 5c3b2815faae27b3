"""humbug_cnn's part of `scripts/reproduce.py`.

full: the paper's 10 random 67/33 splits of the Zooniverse clips (split seeds 10, 20, ..., 100 as
in the authors' code), then the same 10 with whole recordings held out; mean and spread.
tiny: generated recordings at moderate SNR (random split, and by recording) and at low SNR; a
generated 30-s stereo 16 kHz recording scored window by window through predict_file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from omegaconf import DictConfig

from common.reproduce import PaperResults, load_trained_run, train_experiment
from papers.humbug_cnn.metrics import SCORES, binary_scores, summarise_splits
from papers.humbug_cnn.plots import plot_examples, plot_roc, plot_trace
from papers.humbug_cnn.predict import predict_file
from papers.humbug_cnn.synthetic import generate_recordings

PAPER = {"accuracy_mean": 0.838, "mosquito_rate_mean": 0.7096, "noise_rate_mean": 0.8536}



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


def reproduce_full(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    metrics: dict[str, float] = {}
    tables = {}
    first_run = None
    for split in plan.splits:
        prefix = SPLIT_PREFIXES[split]
        per_split = []
        for seed in plan.split_seeds:
            run = train_experiment(cfg, plan.experiment, [f"data.split={split}", f"data.split_seed={seed}"])
            first_run = first_run or Path(run["run_dir"])
            per_split.append({k: run[f"test/{k}"] for k in SCORES})
        metrics.update(summarise_splits(per_split, prefix))
        tables[split] = per_split
    datamodule, _, features, labels, probability = _test_predictions(first_run)
    shown = _examples(features, labels, probability)
    spec = datamodule.spec
    figures = [
        plot_examples(features[shown], labels[shown], probability[shown], spec.clip_seconds, spec.sample_rate,
                      results_dir / "spectrograms.png"),
        plot_roc({"Zooniverse, split seed 10": (labels, probability)}, results_dir / "roc.png"),
    ]
    lines = ["| split | statistic | " + " | ".join(SCORES) + " |", "|---|---|" + "---|" * len(SCORES)]
    for split in plan.splits:
        prefix = SPLIT_PREFIXES[split]
        for stat in ("mean", "std", "min", "max"):
            lines.append(f"| {split} | {stat} | " + " | ".join(f"{metrics[f'{prefix}{k}_{stat}']:.3f}" for k in SCORES) + " |")
    lines.append("| paper | mean | " + " | ".join(f"{PAPER[k + '_mean']:.3f}" if f"{k}_mean" in PAPER else "—" for k in SCORES) + " |")
    sections = ["## Zooniverse, 10 splits of 67/33", "", "\n".join(lines), ""]
    return PaperResults(metrics=metrics, figures=figures, sections=sections)


def reproduce(cfg: DictConfig, plan: DictConfig, results_dir: Path) -> PaperResults:
    if "split_seeds" in plan:
        return reproduce_full(cfg, plan, results_dir)
    return reproduce_tiny(cfg, plan, results_dir)
