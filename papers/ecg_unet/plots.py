"""ECG strip with annotated and predicted waves coloured, as in the paper's figures."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from papers.ecg_unet.delineation import QRS, P, T, Wave  # noqa: E402

COLOURS = {P: ("tab:blue", "P"), QRS: ("tab:red", "QRS"), T: ("tab:green", "T")}


def plot_strip(
    signal: np.ndarray, sampling_rate: float, true_waves: list[Wave] | None, predicted_waves: list[Wave],
    title: str, path: Path,
) -> Path:
    """The signal with the UNet's waves shaded; above it the annotated waves, unless `true_waves` is None
    (a record without annotation)."""
    t = np.arange(len(signal)) / sampling_rate
    panels = [(predicted_waves, "UNet")] if true_waves is None else [(true_waves, "annotated"), (predicted_waves, "UNet")]
    figure, axes = plt.subplots(len(panels), 1, figsize=(14, 2.5 * len(panels)), sharex=True, sharey=True,
                                squeeze=False)
    axes = axes[:, 0]
    for axis, (waves, label) in zip(axes, panels, strict=True):
        axis.plot(t, signal, color="black", linewidth=0.8)
        for wave in waves:
            colour, _ = COLOURS[wave.kind]
            axis.axvspan(wave.onset / sampling_rate, (wave.offset + 1) / sampling_rate, color=colour, alpha=0.3)
        axis.set_ylabel(f"{label}\nmV")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.3) for c, _ in COLOURS.values()]
    axes[0].legend(handles, [name for _, name in COLOURS.values()], loc="upper right", ncol=3)
    axes[0].set_title(title)
    axes[-1].set_xlabel("time (s)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
