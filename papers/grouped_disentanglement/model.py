"""ML-VAE / GVAE with a content code shared by a group and a style code per image, and the paper's
adversarial mutual-information penalty on the style code (Németh, AAAI 2020; the author's
jonemeth/aaai20 code for the layers and the schedule).

Encoder: conv 5x5 stride 2 with c1 then c2 channels (16, 32), ReLU, then four heads (content mean,
style mean, content log-variance, style log-variance), each conv 5x5 stride 2 to 64 channels -> fc 128
-> output; log-variance = 5 tanh(.). The group's content posterior is the product of its members'
Gaussians (ML-VAE) or their arithmetic mean (GVAE). Decoder: fc 256 -> fc 4x4x64 -> transposed convs
32 -> 16 -> 1, Bernoulli likelihood (sigmoid).

Loss per batch: [sum of reconstruction NLLs + beta1 KL(content), once per group, + beta2 KL(style) of
every image] / number of groups + lambda * I_hat, where I_hat is a Donsker-Varadhan estimate of the
mutual information between the style code and the group's content, read by a critic T(image, style
code): positive pairs are an image with the style code of another member of its group, negative
pairs an image with a style code from another group. Per autoencoder step the critic takes
`critic_steps` Adam steps up the bound on detached codes; lambda then adapts,
lambda <- max(0, lambda + rate (I_hat / I* - 1)), after a warm-up of `lambda_warmup` autoencoder
iterations during which it is held at lambda0 (the author's code adapts it from the first iteration,
src/Model.py line 242, where an untrained critic's I_hat ~ 0 takes it to 0 within 1 / rate iterations).

Test-time sampling (the sampled codes and the importance-weighted NLL) draws from a generator of its
own seeded by `eval_seed` (the run seed), so that the test metrics depend only on the weights.

Test: two loaders, 0 = labelled single training images (the SVM's training codes), 1 = test groups.
Logged: the importance-weighted test NLL per image (nats), the reconstruction NLL, and the digit
accuracy of an RBF SVM (gamma 'scale') on the content and on the style codes (mean and sampled).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import ConfigError
from common.lightning import ReproModule
from papers.grouped_disentanglement.core import (
    GROUPINGS,
    check_group_size,
    critic_pairs,
    donsker_varadhan,
    gaussian_log_density,
    group_posterior,
    kl_standard_normal,
    scheduled_lambda,
)

DOWNSAMPLE = 8  # three stride-2 convolutions (two in the body, one in each head)


def _check_image_size(image_size: int) -> None:
    if image_size < DOWNSAMPLE or image_size % DOWNSAMPLE:
        raise ConfigError(f"model.image_size must be a positive multiple of {DOWNSAMPLE}, got {image_size}")


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 5, stride=2, padding=2)


def _deconv(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)


class Head(nn.Module):
    """conv 5x5 stride 2 -> fc hidden -> fc out (ReLU between)."""

    def __init__(self, c_in: int, channels: int, bottom: int, hidden: int, out: int):
        super().__init__()
        self.conv = _conv(c_in, channels)
        self.fc = nn.Linear(channels * bottom * bottom, hidden)
        self.out = nn.Linear(hidden, out)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.fc(F.relu(self.conv(h)).flatten(1))))


class Encoder(nn.Module):
    """(N, 1, s, s) -> content mean, content log-variance, style mean, style log-variance."""

    def __init__(self, image_size: int, content_dim: int, style_dim: int, channels=(16, 32), head_channels: int = 64,
                 head_hidden: int = 128, logvar_bound: float = 5.0):
        super().__init__()
        _check_image_size(image_size)
        c1, c2 = channels
        self.image_size = image_size
        self.body = nn.Sequential(_conv(1, c1), nn.ReLU(), _conv(c1, c2), nn.ReLU())
        bottom = image_size // DOWNSAMPLE
        self.content_mean = Head(c2, head_channels, bottom, head_hidden, content_dim)
        self.style_mean = Head(c2, head_channels, bottom, head_hidden, style_dim)
        self.content_logvar = Head(c2, head_channels, bottom, head_hidden, content_dim)
        self.style_logvar = Head(c2, head_channels, bottom, head_hidden, style_dim)
        self.logvar_bound = float(logvar_bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1:] != (1, self.image_size, self.image_size):
            raise ValueError(f"expected images (N, 1, {self.image_size}, {self.image_size}), got {tuple(x.shape)}")
        h = self.body(x)
        bound = self.logvar_bound
        return (self.content_mean(h), bound * torch.tanh(self.content_logvar(h) / bound),
                self.style_mean(h), bound * torch.tanh(self.style_logvar(h) / bound))


class Decoder(nn.Module):
    """(N, content + style) -> (N, 1, s, s) Bernoulli logits."""

    def __init__(self, image_size: int, latent_dim: int, channels=(16, 32), top_channels: int = 64, hidden: int = 256):
        super().__init__()
        _check_image_size(image_size)
        c1, c2 = channels
        self.bottom = image_size // DOWNSAMPLE
        self.top_channels = top_channels
        self.fc = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                nn.Linear(hidden, top_channels * self.bottom**2), nn.ReLU())
        self.deconvs = nn.Sequential(_deconv(top_channels, c2), nn.ReLU(), _deconv(c2, c1), nn.ReLU(), _deconv(c1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.fc(z).view(len(z), self.top_channels, self.bottom, self.bottom))


class Critic(nn.Module):
    """T(image, style code): the image through conv 16-32-64 -> fc 128 -> fc `features` (linear; the
    author's src/Model_mnist.py discriminator_encode_mnist ends in the content dimension), joined with
    the code, fc 500 tanh -> scalar."""

    def __init__(self, image_size: int, style_dim: int, channels=(16, 32, 64), hidden: int = 128, joint: int = 500,
                 features: int = 2):
        super().__init__()
        _check_image_size(image_size)
        c1, c2, c3 = channels
        bottom = image_size // DOWNSAMPLE
        self.image = nn.Sequential(_conv(1, c1), nn.ReLU(), _conv(c1, c2), nn.ReLU(), _conv(c2, c3), nn.ReLU(),
                                   nn.Flatten(), nn.Linear(c3 * bottom * bottom, hidden), nn.ReLU(),
                                   nn.Linear(hidden, features))
        self.joint = nn.Sequential(nn.Linear(features + style_dim, joint), nn.Tanh(), nn.Linear(joint, 1))

    def forward(self, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.image(images), style], dim=-1)).squeeze(-1)

    def scores(self, features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Scores from image features computed once (`self.image(images)`), for several pairings."""
        return self.joint(torch.cat([features, style], dim=-1)).squeeze(-1)


def mi_estimate(critic: Critic, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Donsker-Varadhan estimate of I(style code; group content) on a (B, G) batch of groups:
    images (B, G, 1, s, s), style codes (B, G, d)."""
    positive, negative = critic_pairs(style)
    features = critic.image(images.flatten(0, 1))
    return donsker_varadhan(critic.scores(features, positive.flatten(0, 1)),
                            critic.scores(features, negative.flatten(0, 1)))


def _reparameterise(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    if generator is None:
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * noise.to(mean.device)


class GroupedVAE(ReproModule):
    """ML-VAE (`grouping: mlvae`) or GVAE (`gvae`), with the adversarial MI penalty when `mi` is on."""

    def __init__(
        self,
        optimizer: Callable[..., torch.optim.Optimizer],
        critic_optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        image_size: int = 32,
        content_dim: int = 2,
        style_dim: int = 14,
        grouping: str = "mlvae",
        group_size: int = 2,
        beta1: float = 1.0,
        beta2: float = 1.0,
        mi: bool = True,
        lambda0: float = 1.0,
        lambda_rate: float = 0.1,
        mi_target: float = 0.2,
        lambda_warmup: int = 0,
        critic_steps: int = 3,
        channels: tuple[int, int] = (16, 32),
        head_channels: int = 64,
        head_hidden: int = 128,
        decoder_hidden: int = 256,
        critic_channels: tuple[int, int, int] = (16, 32, 64),
        critic_hidden: int = 128,
        critic_joint: int = 500,
        critic_features: int | None = None,
        logvar_bound: float = 5.0,
        nll_samples: int = 10,
        eval_seed: int = 0,
        svm_max_fit: int | None = None,
        scheduler=None,
        cpu_threads: int | None = None,
    ):
        super().__init__(optimizer, scheduler, cpu_threads=cpu_threads)
        # plain lists in the saved hyper-parameters (a config's ListConfig would not load with weights_only)
        channels, critic_channels = [int(c) for c in channels], [int(c) for c in critic_channels]
        if len(channels) != 2 or len(critic_channels) != 3:
            raise ConfigError(f"model.channels takes 2 widths and model.critic_channels 3, got {channels}, {critic_channels}")
        if grouping not in GROUPINGS:
            raise ConfigError(f"model.grouping must be one of {GROUPINGS}, got {grouping!r}")
        check_group_size(group_size)
        if content_dim < 1 or style_dim < 1:
            raise ConfigError(f"model.content_dim and model.style_dim must be >= 1, got {content_dim}, {style_dim}")
        if beta1 < 0 or beta2 < 0:
            raise ConfigError(f"model.beta1 and model.beta2 must be >= 0, got {beta1}, {beta2}")
        if lambda0 < 0 or lambda_rate < 0:
            raise ConfigError(f"model.lambda0 and model.lambda_rate must be >= 0, got {lambda0}, {lambda_rate}")
        if mi_target <= 0:
            raise ConfigError(f"model.mi_target must be > 0, got {mi_target}")
        if lambda_warmup < 0:
            raise ConfigError(f"model.lambda_warmup must be >= 0 iterations, got {lambda_warmup}")
        if critic_steps < 1:
            raise ConfigError(f"model.critic_steps must be >= 1, got {critic_steps}")
        if nll_samples < 1:
            raise ConfigError(f"model.nll_samples must be >= 1, got {nll_samples}")
        self.save_hyperparameters(ignore=["optimizer", "critic_optimizer", "scheduler"])
        self.critic_optimizer_factory = critic_optimizer or optimizer
        self.encoder = Encoder(image_size, content_dim, style_dim, tuple(channels), head_channels, head_hidden, logvar_bound)
        self.decoder = Decoder(image_size, content_dim + style_dim, tuple(channels), head_channels, decoder_hidden)
        self.critic = Critic(image_size, style_dim, tuple(critic_channels), critic_hidden, critic_joint,
                             critic_features or content_dim)
        self.image_size = image_size
        self.content_dim, self.style_dim = content_dim, style_dim
        self.grouping, self.group_size = grouping, group_size
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.mi = bool(mi)
        self.lambda_rate, self.mi_target = float(lambda_rate), float(mi_target)
        self.critic_steps = int(critic_steps)
        self.lambda_warmup = int(lambda_warmup)
        self.nll_samples = int(nll_samples)
        self.eval_seed = int(eval_seed)
        self._eval_generator: torch.Generator | None = None
        self.svm_max_fit = svm_max_fit
        # the adaptive weight travels with the checkpoint (a resumed run goes on with it)
        self.register_buffer("mi_lambda", torch.tensor(float(lambda0)))
        self.register_buffer("ae_steps", torch.tensor(0, dtype=torch.long))  # autoencoder iterations done
        self.automatic_optimization = False
        self._codes: dict[int, list[dict[str, torch.Tensor]]] = {}

    # ------------------------------------------------------------------ encoding
    def _check_groups(self, images: torch.Tensor) -> None:
        if images.ndim != 5 or images.shape[2:] != (1, self.image_size, self.image_size):
            raise ValueError(f"expected groups (B, G, 1, {self.image_size}, {self.image_size}), got {tuple(images.shape)}")
        if images.shape[1] < 2:
            raise ConfigError(f"a group needs at least 2 members, got groups of {images.shape[1]}")

    def encode_groups(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, G, 1, s, s) -> per-image posteriors (B, G, d) and the group content posterior (B, dc)."""
        self._check_groups(images)
        b, g = images.shape[:2]
        c_mean, c_logvar, s_mean, s_logvar = (t.view(b, g, -1) for t in self.encoder(images.flatten(0, 1)))
        group_mean, group_logvar = group_posterior(c_mean, c_logvar, self.grouping)
        return {"c_mean": c_mean, "c_logvar": c_logvar, "s_mean": s_mean, "s_logvar": s_logvar,
                "group_mean": group_mean, "group_logvar": group_logvar}

    @torch.no_grad()
    def encode(self, images: torch.Tensor, batch_size: int = 500, sample: bool = False,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(content, style) codes of single images (N, 1, s, s): the posterior means, or one draw each."""
        was_training = self.training
        self.eval()
        contents, styles = [], []
        for start in range(0, len(images), batch_size):
            c_mean, c_logvar, s_mean, s_logvar = self.encoder(images[start:start + batch_size].to(self.device))
            if sample:
                c_mean = c_mean + torch.exp(0.5 * c_logvar) * torch.randn(c_mean.shape, generator=generator).to(c_mean)
                s_mean = s_mean + torch.exp(0.5 * s_logvar) * torch.randn(s_mean.shape, generator=generator).to(s_mean)
            contents.append(c_mean.cpu())
            styles.append(s_mean.cpu())
        self.train(was_training)
        return torch.cat(contents), torch.cat(styles)

    @torch.no_grad()
    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Images (probabilities) from (N, dc) content and (N, ds) style codes."""
        return torch.sigmoid(self.decoder(torch.cat([content, style], dim=-1).to(self.device))).cpu()

    # ------------------------------------------------------------------ losses
    def elbo_terms(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms of a (B, G) batch of groups, each summed over the batch and divided by B."""
        b, g = images.shape[:2]
        post = self.encode_groups(images)
        content = _reparameterise(post["group_mean"], post["group_logvar"])  # (B, dc): one draw per group
        style = _reparameterise(post["s_mean"], post["s_logvar"])  # (B, G, ds)
        z = torch.cat([content.unsqueeze(1).expand(b, g, -1), style], dim=-1)
        logits = self.decoder(z.flatten(0, 1))
        rec = F.binary_cross_entropy_with_logits(logits, images.flatten(0, 1), reduction="sum") / b
        kl_content = kl_standard_normal(post["group_mean"], post["group_logvar"]).sum() / b
        kl_style = kl_standard_normal(post["s_mean"], post["s_logvar"]).sum() / b
        return {"rec": rec, "kl_content": kl_content, "kl_style": kl_style, "style": style,
                "loss": rec + self.beta1 * kl_content + self.beta2 * kl_style}

    def configure_optimizers(self):
        autoencoder = self.optimizer_factory(params=[*self.encoder.parameters(), *self.decoder.parameters()])
        critic = self.critic_optimizer_factory(params=self.critic.parameters())
        return [autoencoder, critic]

    def training_step(self, batch, batch_idx):
        opt_ae, opt_critic = self.optimizers()
        images = batch["images"]
        terms = self.elbo_terms(images)
        loss = terms["loss"]
        if self.mi:
            detached = terms["style"].detach()
            for _ in range(self.critic_steps):  # the critic climbs the bound on fixed codes
                critic_loss = -mi_estimate(self.critic, images, detached)
                opt_critic.zero_grad()
                self.manual_backward(critic_loss)
                opt_critic.step()
            # the encoder lowers the (updated) critic's estimate; the critic's gradients are discarded
            estimate = mi_estimate(self.critic, images, terms["style"])
            weight = float(self.mi_lambda)
            loss = loss + weight * estimate
            self.mi_lambda.fill_(scheduled_lambda(weight, float(estimate.detach()), self.mi_target, self.lambda_rate,
                                                  int(self.ae_steps), self.lambda_warmup))
            self.log_dict({"train/mi": estimate.detach(), "train/lambda": self.mi_lambda.clone()},
                          on_step=False, on_epoch=True)
        opt_ae.zero_grad()
        self.manual_backward(loss)
        opt_ae.step()
        opt_critic.zero_grad()
        self.ae_steps += 1
        self.log_dict({"train/loss": loss.detach(), "train/rec": terms["rec"].detach() / images.shape[1],
                       "train/kl_content": terms["kl_content"].detach(), "train/kl_style": terms["kl_style"].detach()},
                      on_step=False, on_epoch=True, prog_bar=False)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def importance_weighted_nll(self, images: torch.Tensor, samples: int | None = None,
                                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-image NLL estimate, per-image reconstruction NLL at the posterior means), both (B,) in nats.

    The group's likelihood p(x_1..x_G) = E_q[p(c) prod_i p(s_i) p(x_i | c, s_i) / (q(c) prod_i q(s_i))],
    estimated with K draws from the grouped posterior (log-mean-exp), divided by G per image."""
        samples = samples or self.nll_samples
        b, g = images.shape[:2]
        post = self.encode_groups(images)
        x = images.flatten(0, 1)
        log_weights = []
        for _ in range(samples):
            c = _reparameterise(post["group_mean"], post["group_logvar"], generator)
            s = _reparameterise(post["s_mean"], post["s_logvar"], generator)
            logits = self.decoder(torch.cat([c.unsqueeze(1).expand(b, g, -1), s], dim=-1).flatten(0, 1))
            log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).view(b, g)
            zeros_c, zeros_s = torch.zeros_like(c), torch.zeros_like(s)
            log_w = (gaussian_log_density(c, zeros_c, zeros_c) - gaussian_log_density(c, post["group_mean"], post["group_logvar"])
                     + (gaussian_log_density(s, zeros_s, zeros_s) - gaussian_log_density(s, post["s_mean"], post["s_logvar"])
                        + log_px).sum(1))
            log_weights.append(log_w)
        log_likelihood = torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(samples)
        z = torch.cat([post["group_mean"].unsqueeze(1).expand(b, g, -1), post["s_mean"]], dim=-1).flatten(0, 1)
        rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").flatten(1).sum(1).view(b, g)
        return -log_likelihood / g, rec.mean(1)

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.elbo_terms(batch["images"])["loss"] / batch["images"].shape[1])

    def on_test_epoch_start(self) -> None:
        self._codes = {}
        # the test's own draws, seeded by the run seed: a reused run and a fresh one give the same numbers
        self._eval_generator = torch.Generator().manual_seed(self.eval_seed)

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        if "images" in batch:  # test groups: likelihood, and the codes of every member
            images, labels = batch["images"], batch["labels"]
            nll, rec = self.importance_weighted_nll(images, generator=self._eval_generator)
            self.log("test/nll", nll.mean(), add_dataloader_idx=False)
            self.log("test/rec", rec.mean(), add_dataloader_idx=False)
            singles, labels = images.flatten(0, 1), labels.flatten()
        else:  # labelled single training images: the SVM's training codes
            singles, labels = batch["image"], batch["label"]
        c_mean, c_logvar, s_mean, s_logvar = self.encoder(singles)
        self._codes.setdefault(dataloader_idx if "images" not in batch else -1, []).append({
            "content": c_mean.cpu(), "style": s_mean.cpu(), "label": labels.cpu(),
            "content_sampled": _reparameterise(c_mean, c_logvar, self._eval_generator).cpu(),
            "style_sampled": _reparameterise(s_mean, s_logvar, self._eval_generator).cpu()})

    def on_test_epoch_end(self) -> None:
        if -1 not in self._codes or len(self._codes) < 2:
            return  # no labelled codes to fit the SVM on
        fit_key = next(k for k in self._codes if k != -1)
        fit = {k: torch.cat([part[k] for part in self._codes[fit_key]]).numpy() for k in self._codes[fit_key][0]}
        test = {k: torch.cat([part[k] for part in self._codes[-1]]).numpy() for k in self._codes[-1][0]}
        for name in ("content", "style", "content_sampled", "style_sampled"):
            accuracy = svm_accuracy(fit[name], fit["label"], test[name], test["label"], self.svm_max_fit)
            self.log(f"test/{name}_acc", accuracy, add_dataloader_idx=False)
        self.log("test/lambda", float(self.mi_lambda), add_dataloader_idx=False)
        self._codes = {}


def svm_accuracy(fit_codes: np.ndarray, fit_labels: np.ndarray, test_codes: np.ndarray, test_labels: np.ndarray,
                 max_fit: int | None = None) -> float:
    """Accuracy of an RBF SVM (gamma 'scale', C = 1) fitted on labelled codes, on the test codes."""
    from sklearn.svm import SVC

    if max_fit is not None:
        fit_codes, fit_labels = fit_codes[:max_fit], fit_labels[:max_fit]
    classifier = SVC(kernel="rbf", gamma="scale").fit(fit_codes, fit_labels)
    return float((classifier.predict(test_codes) == test_labels).mean())
