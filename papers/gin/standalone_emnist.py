"""The paper's EMNIST GIN (full width) on the EMNIST-MNIST test set (8,500 train / 1,500 test), without Hydra.

Run on a GPU machine that has torch, pytorch_lightning and FrEIA but no Hydra:
    GIN_EMNIST_ROOT=DIR OUT=OUTDIR python papers/gin/standalone_emnist.py EPOCHS MILESTONE MINUTES \
        [empirical|unit] [1|0 volume_preserving] [SEED]
Training stops at EPOCHS or after MINUTES; the lr drops ×0.1 at epoch MILESTONE or after 65% of
MINUTES, whichever comes first. Writes metrics_<tag>.json, spectrum_<tag>.npy and figures to OUT.
The README's H200 numbers come from `... 100000 100000 5.5` (defaults: empirical, 1, seed 0).
"""
import functools
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import numpy as np  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from papers.gin import metrics as M  # noqa: E402
from papers.gin.analysis import latents_of, traversal_images  # noqa: E402
from papers.gin.data import DigitsDataModule  # noqa: E402
from papers.gin.flows import conv_flow  # noqa: E402
from papers.gin.model import GINModule  # noqa: E402
from papers.gin.plots import plot_spectra, plot_traversal  # noqa: E402

out = Path(os.environ.get("OUT", "/tmp/gin_out"))
out.mkdir(parents=True, exist_ok=True)
epochs, milestone, minutes = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
variance = sys.argv[4] if len(sys.argv) > 4 else "empirical"
volume_preserving = (sys.argv[5] if len(sys.argv) > 5 else "1") == "1"
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
tag = f"{'gin' if volume_preserving else 'glow'}_{variance}_seed{seed}"
pl.seed_everything(seed)
dm = DigitsDataModule(source="emnist_mnist_test", root=os.environ.get("GIN_EMNIST_ROOT", str(ROOT.parent / "shared" / "data" / "emnist_mnist_test")),
                      test_fraction=0.15, val_fraction=0.0, batch_size=240, seed=seed)
dm.setup()
model = GINModule(conv_flow(volume_preserving=volume_preserving), volume_preserving=volume_preserving, optimizer=functools.partial(torch.optim.Adam, lr=3e-4),
                  scheduler=functools.partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[milestone], gamma=0.1),
                  n_classes=10, noise_std=0.01, informative_threshold=0.025, variance=variance)
class TimedDrop(pl.Callback):
    """The paper drops the lr ×0.1 at half of its epochs; here at `milestone` epochs or after 65% of the time budget."""
    def __init__(self):
        self.start, self.dropped_at = time.time(), None
    def on_train_epoch_start(self, trainer, module):
        if self.dropped_at is None and (time.time() - self.start > 0.65 * minutes * 60):
            for opt in trainer.optimizers:
                for group in opt.param_groups:
                    group["lr"] *= 0.1
            self.dropped_at = trainer.current_epoch
drop = TimedDrop()
trainer = pl.Trainer(accelerator="auto", devices=1, max_epochs=epochs, max_time={"minutes": minutes}, logger=False, callbacks=[drop],
                     enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=0)
start = time.time()
trainer.fit(model, train_dataloaders=dm.train_dataloader())
train_s = time.time() - start
trainer.test(model, dataloaders=dm.test_dataloader(), verbose=False)
metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
metrics.update(lr_drop_epoch=drop.dropped_at, epochs_done=trainer.current_epoch, train_seconds=train_s, device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
               n_train=len(dm.train_set), n_test=len(dm.test_set), variance=variance, volume_preserving=volume_preserving, seed=seed, dropped=dict(model.dropped))
model = model.cpu().eval()
z, labels, x, _ = latents_of(model, dm.test_dataloader(), 0.01)
spec = M.spectrum(z, labels)
np.save(out / f"spectrum_{tag}.npy", spec)
knee = M.knee(spec)
metrics.update(knee_cpu=knee, gap_ratio_cpu=M.gap_ratio(spec, knee), top40=[float(v) for v in np.sort(spec)[::-1][:40]])
pixels = x + np.random.default_rng(0).standard_normal(x.shape) * 0.01
plot_spectra({"GIN latent": spec, "pixels (+ noise)": M.spectrum(pixels, labels)},
             f"EMNIST-MNIST test set, {tag}, {trainer.current_epoch} epochs: knee after {knee} dims",
             out / f"emnist_spectrum_{tag}.png", threshold=0.025, knees={"GIN latent": knee})
if volume_preserving and variance == "empirical":
    dims = [int(d) for d in np.argsort(spec)[::-1][:12]]
    plot_traversal(traversal_images(model, z, labels, dims), dims, out / f"emnist_traversals_{tag}.png",
                   "Top 12 latent variables: 10 classes × (−2σ … +2σ)")
    torch.save(model.state_dict(), out / f"emnist_{tag}.pt")
(out / f"metrics_{tag}.json").write_text(json.dumps(metrics, indent=1))
print(json.dumps(metrics))
