"""LightningModules: the vectorised ensemble (teacher), knowledge distillation to its mean (KD), and Hydra.

Outputs of every network are stacked over members/heads, (M, batch, out):
- classification: `out` logits per class; a member's prediction is softmax(logits);
- regression: `out` = 2: mean and a raw scale, variance = softplus(raw) + min_variance; the
  prediction of M members/heads is the uniform mixture of their Gaussians.

Distillation losses (teacher = the trained ensemble, frozen; T = temperature):
- KD, and Hydra's phase 1 (the "Hinton head"): match one head to the ensemble mean,
  classification T² · KL( mean_m softmax(t_m / T) || softmax(s / T) ) (T = `hinton_temperature`
  when set, else `temperature`); regression
  KL( N(ensemble mixture mean, ensemble mixture variance) || N(s) ).
- Hydra's phase 2: every head is initialised as a copy of the Hinton head, then head m is matched
  to member m: T² · KL( softmax(t_m / T) || softmax(s_m / T) ), or KL( N(t_m) || N(s_m) ) for
  Gaussians, averaged over heads. `match_members: false` switches this mechanism off (each head is
  matched to the ensemble mean instead, so the heads stay copies of each other).
The distillation inputs are the training inputs; `augment_std` > 0 adds a copy of each batch
jittered by Gaussian noise (our addition, not the paper's: used on the spiral, where the inputs are
2-D, and by the regression toy's `hydra_jitter` variant).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from common.errors import ConfigError, DataError
from common.lightning import ReproModule
from papers.hydra_distillation import metrics as M
from papers.hydra_distillation.nets import MultiHeadMLP, MultiHeadResNet

TASKS = ("classification", "regression")
METHODS = ("kd", "hydra")


def gaussian_params(out: torch.Tensor, min_variance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, B, 2) network output -> means (M, B) and variances (M, B)."""
    return out[..., 0], F.softplus(out[..., 1]) + min_variance


def member_predictions(out: torch.Tensor, task: str, min_variance: float):
    """Classification: probabilities (M, B, C). Regression: (means, variances), each (M, B)."""
    if task == "classification":
        return out.softmax(-1)
    return gaussian_params(out, min_variance)


def evaluate_predictions(task: str, preds: list, targets: list[torch.Tensor], ood_names: Sequence[str],
                         n_bins: int = 10) -> tuple[dict[str, float], torch.Tensor]:
    """Metrics of one model on [in-domain, *OOD sets]; also returns its model-uncertainty score per
    point (MI for classification, variance of the means for regression) over all sets concatenated."""
    result: dict[str, float] = {}
    if task == "classification":
        probs_in, y_in = preds[0], targets[0]
        result.update(M.classification_report(probs_in, y_in, n_bins))
        mi_in = M.entropy_decomposition(probs_in)["mutual_information"]
        ent_in = M.entropy_decomposition(probs_in)["total"]
        scores = [mi_in]
        for name, probs in zip(ood_names, preds[1:], strict=True):
            decomposition = M.entropy_decomposition(probs)
            mi, ent = decomposition["mutual_information"], decomposition["total"]
            result[f"mi_ood/{name}"] = float(mi.mean())
            result[f"entropy_ood/{name}"] = float(ent.mean())
            result[f"auroc_mi/{name}"] = M.auroc(mi_in, mi)
            result[f"auroc_entropy/{name}"] = M.auroc(ent_in, ent)
            result[f"mi_ratio/{name}"] = float(mi.mean() / max(float(mi_in.mean()), 1e-12))
            scores.append(mi)
        return result, torch.cat(scores)
    (means_in, vars_in), y_in = preds[0], targets[0]
    result.update(M.regression_report(means_in, vars_in, y_in))
    epi_in = M.mixture_moments(means_in, vars_in)["epistemic"]
    scores = [epi_in]
    for name, (means, variances), y in zip(ood_names, preds[1:], targets[1:], strict=True):
        report = M.regression_report(means, variances, y)
        for key, value in report.items():
            result[f"{key}_ood/{name}"] = value
        epi = M.mixture_moments(means, variances)["epistemic"]
        result[f"auroc_epistemic/{name}"] = M.auroc(epi_in, epi)
        result[f"epistemic_ratio/{name}"] = float(epi.mean() / max(float(epi_in.mean()), 1e-12))
        scores.append(epi)
    return result, torch.cat(scores)


class _UncertaintyModule(ReproModule):
    """Shared test loop: dataloader 0 is in-domain, dataloaders 1.. are the OOD sets `ood_names`."""

    def __init__(self, net: MultiHeadMLP | MultiHeadResNet, task: str, ood_names: Sequence[str], min_variance: float,
                 n_bins: int, optimizer: Callable, scheduler: Callable | None, cpu_threads: int | None):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        if task not in TASKS:
            raise ConfigError(f"model.task must be one of {TASKS}, got {task!r}")
        if task == "regression" and net.out_features != 2:
            raise ConfigError(f"model.net.out_features must be 2 (mean, scale) for regression, got {net.out_features}")
        if min_variance <= 0:
            raise ConfigError(f"model.min_variance must be > 0, got {min_variance}")
        if n_bins < 1:
            raise ConfigError(f"model.n_bins must be >= 1, got {n_bins}")
        self.net = net
        self.task = task
        self.ood_names = list(ood_names)
        self.min_variance = float(min_variance)
        self.n_bins = int(n_bins)
        self._test_outputs: dict[int, list] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor):
        """Per-head predictions of this model: probabilities (H, N, C) or (means, variances)."""
        return member_predictions(self.net(x), self.task, self.min_variance)

    def teacher_outputs(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch
        teacher = self.teacher_outputs(x)
        # Kept on the CPU in float32 (also under bf16 autocast): the test sets are scored at the epoch's end.
        self._test_outputs.setdefault(dataloader_idx, []).append(
            (self.net(x).float().cpu(), None if teacher is None else teacher.float().cpu(), y.cpu()))

    def on_test_epoch_start(self) -> None:
        self._test_outputs = {}

    def _gather(self, which: int):
        preds, targets = [], []
        for idx in sorted(self._test_outputs):
            outs = [o[which] for o in self._test_outputs[idx]]
            if outs[0] is None:
                return None, None
            out = torch.cat(outs, 1)
            preds.append(member_predictions(out, self.task, self.min_variance))
            targets.append(torch.cat([o[2] for o in self._test_outputs[idx]]))
        return preds, targets

    def on_test_epoch_end(self) -> None:
        if len(self._test_outputs) != 1 + len(self.ood_names):
            raise DataError(f"expected 1 in-domain + {len(self.ood_names)} OOD test sets "
                            f"({self.ood_names}), got {len(self._test_outputs)}")
        preds, targets = self._gather(0)
        student, student_scores = evaluate_predictions(self.task, preds, targets, self.ood_names, self.n_bins)
        logged = {f"test/{k}": v for k, v in student.items()}
        teacher_preds, _ = self._gather(1)
        if teacher_preds is not None:
            teacher, teacher_scores = evaluate_predictions(self.task, teacher_preds, targets, self.ood_names, self.n_bins)
            logged.update({f"test/teacher/{k}": v for k, v in teacher.items()})
            # Does this model rank the points by model uncertainty as its teacher does?
            logged["test/uncertainty_spearman"] = M.spearman(student_scores, teacher_scores)
            # Its permutation p-value (1,000 seeded shuffles: p >= 1/1001) and the points it is over.
            logged["test/uncertainty_spearman_p"] = M.spearman_p_value(student_scores, teacher_scores)
            logged["test/uncertainty_spearman_n"] = float(len(student_scores))
            for key, value in teacher.items():
                if key.startswith(("auroc", "nll", "acc", "rmse")) and key in student:
                    logged[f"test/minus_teacher/{key}"] = student[key] - value
        self._test_outputs = {}
        for key, value in logged.items():
            self.log(key, value, add_dataloader_idx=False)


class EnsembleModule(_UncertaintyModule):
    """M members trained at once (`net` with shared_layers = 0 and num_heads = M), each on its own
    loss (cross-entropy or Gaussian NLL) from its own random initialisation."""

    def __init__(self, net: MultiHeadMLP, optimizer: Callable, scheduler: Callable | None = None,
                 task: str = "classification", ood_names: Sequence[str] = ("ood",), min_variance: float = 1e-3,
                 n_bins: int = 10, cpu_threads: int | None = None, clip_per_member: bool = False):
        ood_names = [str(name) for name in ood_names]  # plain list in the checkpoint's hparams
        super().__init__(net, task, ood_names, min_variance, n_bins, optimizer, scheduler, cpu_threads)
        self.clip_per_member = bool(clip_per_member)
        if not _shares_nothing(net):
            raise ConfigError(f"an ensemble's members share nothing: model.net.shared_layers must be 0 (and "
                              f"head_blocks null), got {net.shared_layers}")
        if net.num_heads < 2:
            raise ConfigError(f"an ensemble needs model.net.num_heads >= 2 members, got {net.num_heads}")
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """With `clip_per_member`, `trainer.gradient_clip_val` clips each member's gradient norm on
        its own, as if the member were trained alone; otherwise (the default, kept for the
        measured results) Lightning clips one norm over all members' gradients, which couples them
        whenever the clip is reached."""
        if not self.clip_per_member:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        if not gradient_clip_val:
            return
        if gradient_clip_algorithm not in (None, "norm"):
            raise ConfigError(f"the ensemble clips each member's gradient norm: trainer.gradient_clip_algorithm "
                              f"must be 'norm', got {gradient_clip_algorithm!r}")
        clip_member_gradients(self.net, float(gradient_clip_val))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        out = self.net(x)
        loss = ensemble_loss(out, y, self.task, self.min_variance)
        self.log("train/loss", loss / out.shape[0], prog_bar=True)
        return loss


def _shares_nothing(net: MultiHeadMLP | MultiHeadResNet) -> bool:
    return net.shares_nothing if hasattr(net, "shares_nothing") else net.shared_layers == 0


def ensemble_loss(out: torch.Tensor, y: torch.Tensor, task: str, min_variance: float) -> torch.Tensor:
    """Sum over members of each member's mean loss (cross-entropy or Gaussian NLL): every member
    gets the gradient it would get if trained alone."""
    if task == "classification":
        per_member = F.cross_entropy(out.flatten(0, 1), y.repeat(out.shape[0]), reduction="none")
        return per_member.view(out.shape[0], -1).mean(1).sum()
    means, variances = gaussian_params(out, min_variance)
    return M.gaussian_nll(means, variances, y[None]).mean(1).sum()


@torch.no_grad()
def clip_member_gradients(net: MultiHeadMLP | MultiHeadResNet, max_norm: float) -> None:
    """Scale each member's gradient to norm <= max_norm (torch.nn.utils.clip_grad_norm_ per member).
    Members are the heads of a net with no shared body: the slices of the grouped weights
    (`MultiHeadMLP`) or each head's own parameters (`MultiHeadResNet`)."""
    if not _shares_nothing(net):
        raise ConfigError("per-member gradient clipping needs members that share nothing (shared_layers=0)")
    if hasattr(net, "head_parameter_groups"):
        for params in net.head_parameter_groups():
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        return
    grads = [p.grad for p in net.heads.parameters() if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.ndim - 1))))


@torch.no_grad()
def copy_head_state(optimizer: torch.optim.Optimizer, net: MultiHeadMLP, source: int = 0) -> None:
    """Copy head `source`'s per-parameter optimizer state to every head: slices of the grouped
    weights (`MultiHeadMLP`), or the state of each head's own parameters (`MultiHeadResNet`)."""
    if hasattr(net, "head_parameter_groups"):
        groups = net.head_parameter_groups()
        for head, params in enumerate(groups):
            if head == source:
                continue
            for src, dst in zip(groups[source], params, strict=True):
                if src in optimizer.state:
                    optimizer.state[dst] = {k: v.clone() if isinstance(v, torch.Tensor) else v
                                            for k, v in optimizer.state[src].items()}
                else:
                    optimizer.state.pop(dst, None)
        return
    for param in net.heads.parameters():
        for value in optimizer.state.get(param, {}).values():
            if isinstance(value, torch.Tensor) and value.shape == param.shape:
                value.copy_(value[source : source + 1].expand_as(value))


def load_ensemble_weights(teacher: MultiHeadMLP, ckpt_path: str) -> None:
    """Load an EnsembleModule checkpoint's `net.*` weights into `teacher`."""
    from common.run import read_checkpoint

    state = read_checkpoint(ckpt_path).get("state_dict", {})
    net_state = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
    try:
        teacher.load_state_dict(net_state)
    except RuntimeError as err:
        raise DataError(f"{ckpt_path} is not an ensemble of the teacher's shape (model.teacher): {err}") from err


class DistillModule(_UncertaintyModule):
    """KD (`method: kd`, one head) or Hydra (`method: hydra`, M heads, two phases) from a frozen ensemble.

    The teacher's weights are read from `teacher_ckpt` when fitting starts and are then part of this
    module's own checkpoint, so a trained student loads and is scored beside its teacher without it.
    """

    def __init__(self, net: MultiHeadMLP, teacher: MultiHeadMLP, optimizer: Callable,
                 scheduler: Callable | None = None, method: str = "hydra", teacher_ckpt: str | None = None,
                 temperature: float = 1.0, phase1_epochs: int = 0, match_members: bool = True,
                 hinton_temperature: float | None = None,
                 teacher_epochs: int = 0, augment_std: float = 0.0,
                 task: str = "classification", ood_names: Sequence[str] = ("ood",), min_variance: float = 1e-3,
                 n_bins: int = 10, cpu_threads: int | None = None):
        ood_names = [str(name) for name in ood_names]  # plain list in the checkpoint's hparams
        super().__init__(net, task, ood_names, min_variance, n_bins, optimizer, scheduler, cpu_threads)
        if method not in METHODS:
            raise ConfigError(f"model.method must be one of {METHODS}, got {method!r}")
        if not temperature > 0:
            raise ConfigError(f"model.temperature must be > 0, got {temperature}")
        if hinton_temperature is not None and not hinton_temperature > 0:
            raise ConfigError(f"model.hinton_temperature must be > 0 or null, got {hinton_temperature}")
        if phase1_epochs < 0:
            raise ConfigError(f"model.phase1_epochs must be >= 0, got {phase1_epochs}")
        if teacher.num_heads < 2:
            raise ConfigError(f"the teacher must be an ensemble of >= 2 members, got model.teacher.num_heads={teacher.num_heads}")
        if teacher.out_features != net.out_features:
            raise ConfigError(f"model.net.out_features ({net.out_features}) must equal the teacher's ({teacher.out_features})")
        if method == "kd" and net.num_heads != 1:
            raise ConfigError(f"KD distils into one network: model.net.num_heads must be 1, got {net.num_heads}")
        if method == "hydra":
            if net.num_heads < 2:
                raise ConfigError(f"Hydra needs model.net.num_heads >= 2 heads, got {net.num_heads}")
            if net.num_heads != teacher.num_heads:
                raise ConfigError(f"Hydra matches one head per member: model.net.num_heads ({net.num_heads}) must "
                                  f"equal the ensemble's members (model.teacher.num_heads={teacher.num_heads})")
        self.teacher = teacher.requires_grad_(False)
        self.method = method
        self.teacher_ckpt = teacher_ckpt
        self.temperature = float(temperature)
        # Matching the ensemble mean (KD, Hydra's phase 1 and tied heads) at its own temperature when
        # set (hydra_plus: 1 against 8 per member on CIFAR-10); null: the same T as phase 2.
        self.hinton_temperature = self.temperature if hinton_temperature is None else float(hinton_temperature)
        self.phase1_epochs = int(phase1_epochs)
        self.match_members = bool(match_members)
        self.teacher_epochs = int(teacher_epochs)
        if augment_std < 0:
            raise ConfigError(f"model.augment_std must be >= 0, got {augment_std}")
        self.augment_std = float(augment_std)
        # 1 once the Hinton head has been copied into every head (saved, so a resumed run does not redo it).
        self.register_buffer("heads_split", torch.zeros((), dtype=torch.long))
        self.save_hyperparameters(ignore=["net", "teacher", "optimizer", "scheduler"])

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.net.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "interval": "epoch"}}

    def on_fit_start(self) -> None:
        max_epochs = self.trainer.max_epochs
        quick = bool(self.trainer.fast_dev_run)
        if (self.method == "hydra" and not quick and max_epochs is not None and max_epochs >= 0
                and self.phase1_epochs >= max_epochs):
            raise ConfigError(f"model.phase1_epochs ({self.phase1_epochs}) leaves no epoch for Hydra's phase 2 "
                              f"(trainer.max_epochs={max_epochs})")

    def on_train_start(self) -> None:
        quick = bool(self.trainer.fast_dev_run)
        if self.trainer.ckpt_path is not None:
            return  # resumed: the teacher's weights came with the checkpoint
        if self.teacher_ckpt:
            load_ensemble_weights(self.teacher, self.teacher_ckpt)
            self.teacher.to(self.device)
        else:
            self.fit_teacher(self.trainer.train_dataloader, 1 if quick else self.teacher_epochs, quick)

    def fit_teacher(self, loader, epochs: int, one_batch: bool = False) -> None:
        """No `teacher_ckpt`: train the ensemble here first (same optimizer settings, no scheduler),
        so that a distillation experiment also runs on its own; `scripts/reproduce.py` instead
        trains the ensemble as its own run and passes its checkpoint to KD and Hydra."""
        if epochs < 1:
            raise ConfigError("model.teacher_ckpt is null, so model.teacher_epochs must be >= 1 to train the "
                              f"ensemble first, got {epochs}")
        self.teacher.requires_grad_(True)
        optimizer = self.optimizer_factory(params=self.teacher.parameters())
        for _ in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                out = self.teacher(x.to(self.device))
                ensemble_loss(out, y.to(self.device), self.task, self.min_variance).backward()
                optimizer.step()
                if one_batch:
                    break
        self.teacher.requires_grad_(False).eval()

    def on_train_epoch_start(self) -> None:
        if self.method == "hydra" and self.current_epoch >= self.phase1_epochs and not bool(self.heads_split):
            self.net.copy_head(0)
            # The optimizer's state (Adam's moments) of the head weights is copied too: the heads
            # then start phase 2 as exact copies, and differ only through their targets.
            for optimizer in self.trainer.optimizers:
                copy_head_state(optimizer, self.net)
            self.heads_split.fill_(1)

    @torch.no_grad()
    def teacher_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen ensemble's outputs, its batch norms in eval mode. Set here, at every call: Lightning
        sets the mode of each submodule itself while fitting, bypassing a `train()` override, and the
        teacher's batch-norm statistics then drifted towards the distillation batches (a CIFAR ResNet
        teacher scored 0.19 inside KD where its own run scored 0.136 from the same weights)."""
        self.teacher.eval()
        return self.teacher(x)

    def in_phase2(self) -> bool:
        return self.method == "hydra" and bool(self.heads_split)

    def distillation_loss(self, student: torch.Tensor, teacher: torch.Tensor, per_member: bool) -> torch.Tensor:
        """student (H, B, o), teacher (M, B, o). per_member: head m to member m (H = M); else every
        head to the ensemble mean."""
        t = self.temperature if per_member else self.hinton_temperature
        if self.task == "classification":
            log_q = F.log_softmax(student / t, -1)
            if per_member:
                p = F.softmax(teacher / t, -1)
            else:
                p = F.softmax(teacher / t, -1).mean(0, keepdim=True).expand_as(log_q)
            kl = (p * (torch.log(p.clamp_min(M.EPS)) - log_q)).sum(-1)
            return t**2 * kl.mean()
        s_mean, s_var = gaussian_params(student, self.min_variance)
        t_mean, t_var = gaussian_params(teacher, self.min_variance)
        if not per_member:
            moments = M.mixture_moments(t_mean, t_var)
            t_mean, t_var = moments["mean"][None].expand_as(s_mean), moments["variance"][None].expand_as(s_var)
        return M.gaussian_kl(t_mean, t_var, s_mean, s_var).mean()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, _ = batch
        if self.augment_std > 0:
            # Our addition (off unless set): distil on the batch and on a copy jittered by
            # N(0, augment_std²), so the students also see the teacher around the data.
            x = torch.cat([x, x + self.augment_std * torch.randn_like(x)])
        teacher = self.teacher_outputs(x)
        student = self.net(x)
        if self.in_phase2():
            loss = self.distillation_loss(student, teacher, per_member=self.match_members)
        else:
            loss = self.distillation_loss(student[:1], teacher, per_member=False)
        self.log("train/loss", loss, prog_bar=True)
        return loss
