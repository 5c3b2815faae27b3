"""An MLP classifier whose training run also measures the curvature of its training loss.

Along training (every `trajectory_every` steps, on the current batch; full-batch gradient descent
makes that the whole training set) it records the width paper's quantities: gᵀXg/|g|² for the full
Hessian, its Gauss-Newton part G and its functional part H − G, and cos(g, (H − G)g). At test time
it scores the fixed training subset and the test set (the gap), and measures on the training
subset: R (Hutchinson estimate ± standard error, and exact from the dense Hessian when the net is
small), tr H, λ_max (Lanczos) and Keskar's ε-sharpness. With `stop_at_train_loss` training stops
at the end of the first epoch whose mean training loss is at or below it (max_epochs caps it), so
the members of a sweep are compared at the same training loss.

`hessian_part: gauss_newton` is the mechanism-off switch: every curvature measure then uses G in
place of the Hessian (H − G := 0), which cannot have negative eigenvalues.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.curvature_generalization.estimator import (
    FlatLoss,
    estimate_curvature,
    exact_curvature,
    gradient_alignment,
    sharpness,
    top_eigenvalue,
)

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus, "gelu": nn.GELU}
TRAJECTORY_FILE = "curvature_trajectory.json"


class MLP(nn.Module):
    """in → width (× depth hidden layers) → classes, PyTorch's default (Kaiming-uniform) init.

    `bottleneck` (an int, depth >= 2) makes the last hidden layer that narrow whatever `width` is:
    the width study's mechanism-off variant. A wide network with a narrow layer before the read-out
    is not over-parameterised in every layer, and the transition to linearity that makes the
    gradient nearly orthogonal to H in wide networks does not happen (Liu, Zhu and Belkin, 2020)."""

    def __init__(self, in_features: int = 64, width: int = 32, depth: int = 1, classes: int = 10,
                 activation: str = "tanh", bottleneck: int | None = None):
        super().__init__()
        if width < 1 or depth < 0 or in_features < 1 or classes < 2:
            raise ConfigError(f"MLP needs width >= 1, depth >= 0, in_features >= 1, classes >= 2; "
                              f"got {width}, {depth}, {in_features}, {classes}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"model.net.activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if bottleneck is not None and (int(bottleneck) < 1 or depth < 2):
            raise ConfigError(f"model.net.bottleneck needs depth >= 2 and a width >= 1 (or null); "
                              f"got bottleneck {bottleneck} with depth {depth}")
        sizes = [width] * depth
        if bottleneck is not None:
            sizes[-1] = int(bottleneck)
        layers, size = [], in_features
        for hidden in sizes:
            layers += [nn.Linear(size, hidden), ACTIVATIONS[activation]()]
            size = hidden
        layers.append(nn.Linear(size, classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


class SmallCNN(nn.Module):
    """conv3x3(c→w) ReLU maxpool2, conv3x3(w→2w) ReLU maxpool2, linear → classes; default init.
    Every non-linearity between two weight layers is positively homogeneous (ReLU, max-pool), so
    `rescale_layers` can move a factor α between consecutive layers without changing the function."""

    def __init__(self, in_channels: int = 3, width: int = 8, classes: int = 10, image_size: int = 32):
        super().__init__()
        if in_channels < 1 or width < 1 or classes < 2 or image_size < 4 or image_size % 4:
            raise ConfigError(f"SmallCNN needs in_channels >= 1, width >= 1, classes >= 2 and image_size a "
                              f"multiple of 4; got {in_channels}, {width}, {classes}, {image_size}")
        self.image_shape = (in_channels, image_size, image_size)
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * (image_size // 4) ** 2, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"SmallCNN expects images of shape (N, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")
        return self.layers(x)


WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)
HOMOGENEOUS = (nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Identity)


def rescale_layers(net: nn.Module, layer: int, alpha: float) -> nn.Module:
    """A copy of `net` (an MLP or SmallCNN) with weight layer `layer` (weight and bias) multiplied by
    α and the next weight layer's weight by 1/α. Between them only positively homogeneous maps
    (ReLU, max-pool, flatten) are allowed, so the network computes the same function (Dinh et al.'s
    rescaling): θ' = Dθ with D diagonal, and the loss Hessian becomes D⁻¹ H D⁻¹."""
    if not math.isfinite(alpha) or alpha <= 0:
        raise ConfigError(f"the rescaling factor alpha must be a finite number > 0, got {alpha}")
    modules = list(getattr(net, "layers", []))
    weights = [i for i, m in enumerate(modules) if isinstance(m, WEIGHT_LAYERS)]
    if not 0 <= layer < len(weights) - 1:
        raise ConfigError(f"rescale layer must lie in [0, {len(weights) - 2}] for {type(net).__name__} with "
                          f"{len(weights)} weight layers, got {layer}")
    first, second = weights[layer], weights[layer + 1]
    for module in modules[first + 1: second]:
        if not isinstance(module, HOMOGENEOUS):
            raise ConfigError(f"cannot rescale across {type(module).__name__}: the function would change "
                              "(only ReLU, max-pool and flatten are positively homogeneous)")
    out = copy.deepcopy(net)
    layers = list(out.layers)
    with torch.no_grad():
        layers[first].weight.mul_(alpha)
        if layers[first].bias is not None:
            layers[first].bias.mul_(alpha)
        layers[second].weight.div_(alpha)
    return out


class CurvatureClassifier(ReproModule):
    def __init__(self, net: nn.Module, optimizer=None, scheduler=None, cpu_threads: int | None = 1,
                 hessian_part: str = "full", probes: int = 32, lanczos_iterations: int = 20,
                 sharpness_epsilon: float = 1e-3, sharpness_steps: int = 5, exact_max_params: int = 2500,
                 trajectory_every: int = 0, curvature_seed: int = 0, stop_at_train_loss: float | None = None):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        if hessian_part not in ("full", "gauss_newton"):
            raise ConfigError(f"model.hessian_part must be 'full' or 'gauss_newton', got {hessian_part!r}")
        if probes < 2:
            raise ConfigError(f"model.probes must be >= 2, got {probes}")
        if stop_at_train_loss is not None and stop_at_train_loss <= 0:
            raise ConfigError(f"model.stop_at_train_loss must be > 0 or null, got {stop_at_train_loss}")
        if trajectory_every < 0:
            raise ConfigError(f"model.trajectory_every must be >= 0, got {trajectory_every}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "net"])
        self.net = net
        self.trajectory: list[dict[str, float]] = []
        self._last_batch = None
        self._test_sums: dict[int, list] = {}
        self._epoch_loss = [0.0, 0]

    @property
    def part(self) -> str:
        return self.hparams.hessian_part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def flat_loss(self, x: torch.Tensor, y: torch.Tensor) -> FlatLoss:
        return FlatLoss(self.net, F.cross_entropy, x, y)

    # --------------------------------------------------------------- curvature along training
    def alignment(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        with torch.enable_grad():
            values = gradient_alignment(self.flat_loss(x, y))
        if self.part == "gauss_newton":  # mechanism off: the Hessian is replaced by its G part
            values.update(full=values["gauss_newton"], functional=0.0, cos_functional=0.0)
        return values

    def _record(self, batch) -> None:
        x, y = batch
        step = int(self.global_step)
        if self.trajectory and self.trajectory[-1]["step"] == step:
            return
        self.trajectory.append({"step": step, **self.alignment(x.detach(), y.detach())})

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        every = self.hparams.trajectory_every
        if every and self.global_step % every == 0:
            self._record(batch)

    def training_step(self, batch, batch_idx: int):
        x, y = batch
        self._last_batch = (x.detach(), y.detach())
        loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        self._epoch_loss[0] += float(loss) * len(y)
        self._epoch_loss[1] += len(y)
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_loss = [0.0, 0]

    def on_train_epoch_end(self) -> None:
        # Train every member of a family to the same training loss (then compare their minima).
        target = self.hparams.stop_at_train_loss
        total, count = self._epoch_loss
        if target is not None and count and total / count <= target:
            self.trainer.should_stop = True

    def on_train_end(self) -> None:
        if self.hparams.trajectory_every and self._last_batch is not None:
            self._record(self._last_batch)
        if self.hparams.trajectory_every and self.trainer is not None and self.trainer.default_root_dir:
            path = Path(self.trainer.default_root_dir) / TRAJECTORY_FILE
            path.write_text(json.dumps({"width_params": self.n_params, "trajectory": self.trajectory}) + "\n")

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["curvature_trajectory"] = [dict(point) for point in self.trajectory]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.trajectory = [dict(point) for point in checkpoint.get("curvature_trajectory", [])]

    # --------------------------------------------------------------- test: gap and curvature
    def on_test_epoch_start(self) -> None:
        self._test_sums = {}
        self._measure = []

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0):
        x, y = batch
        logits = self(x)
        sums = self._test_sums.setdefault(dataloader_idx, [0.0, 0.0, 0])
        sums[0] += float(F.cross_entropy(logits, y, reduction="sum"))
        sums[1] += float((logits.argmax(1) == y).sum())
        sums[2] += len(y)
        if dataloader_idx == 0:
            self._measure.append((x, y))

    def curvature_metrics(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """R (estimate, its standard error, exact when small), tr H, λ_max, sharpness on (x, y)."""
        hp = self.hparams
        with torch.inference_mode(False), torch.enable_grad():
            x, y = x.clone(), y.clone()
            flat = self.flat_loss(x, y)
            part = "gauss_newton" if self.part == "gauss_newton" else "full"
            estimate = estimate_curvature(flat, probes=hp.probes, seed=hp.curvature_seed, part=part)
            out = {
                "R": estimate.R, "R_se": estimate.R_se, "trace": estimate.trace, "trace_se": estimate.trace_se,
                "trace_sq": estimate.trace_sq, "gHg": estimate.gHg, "grad_norm": math.sqrt(estimate.grad_sq),
                "lambda_max": top_eigenvalue(flat, hp.lanczos_iterations, seed=hp.curvature_seed, part=part),
                "sharpness": sharpness(flat, hp.sharpness_epsilon, hp.sharpness_steps),
                "n_params": float(flat.n_params),
            }
            if flat.n_params <= hp.exact_max_params:
                exact = exact_curvature(flat, part)
                out.update(R_exact=exact["R"], trace_exact=exact["trace"], lambda_min=exact["lambda_min"],
                           lambda_max_exact=exact["lambda_max"])
        return out

    def on_test_epoch_end(self) -> None:
        if set(self._test_sums) != {0, 1}:
            raise RuntimeError("the test loaders must be [training subset, test set]")
        (train_loss, train_hits, n_train), (test_loss, test_hits, n_test) = self._test_sums[0], self._test_sums[1]
        metrics = {
            "train/eval_loss": train_loss / n_train, "train/acc": train_hits / n_train,
            "test/loss": test_loss / n_test, "test/acc": test_hits / n_test,
        }
        metrics["test/gap"] = metrics["train/acc"] - metrics["test/acc"]
        metrics["test/loss_gap"] = metrics["test/loss"] - metrics["train/eval_loss"]
        x = torch.cat([b[0] for b in self._measure])
        y = torch.cat([b[1] for b in self._measure])
        metrics.update({f"curv/{k}": v for k, v in self.curvature_metrics(x, y).items()})
        for key, value in metrics.items():
            self.log(key, float(value), add_dataloader_idx=False)
