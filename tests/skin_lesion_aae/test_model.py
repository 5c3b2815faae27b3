"""The autoencoder family: shapes, the two adversarial losses, the corruption, determinism."""
from functools import partial

import pytest
import torch

from common.errors import ConfigError
from papers.skin_lesion_aae.model import (
    Decoder,
    Discriminator,
    Encoder,
    LesionAutoencoder,
    SupervisedLesionClassifier,
    corrupt,
    discriminator_loss,
    encoder_adversarial_loss,
)

SMALL = dict(image_size=16, width=4, nz=6, discriminator_hidden=16)


def _model(**overrides):
    return LesionAutoencoder(optimizer=partial(torch.optim.Adam, lr=1e-3), **{**SMALL, **overrides})


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes_follow_the_authors_layout(size):
    encoder, decoder = Encoder(size, 4, 10), Decoder(size, 4, 10)
    x = torch.rand(3, 3, size, size)
    z = encoder(x)
    assert z.shape == (3, 10)
    y = decoder(z)
    assert y.shape == x.shape and y.min() > 0 and y.max() < 1  # sigmoid output
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.out_channels) for c in convs] == [((5, 5), (2, 2), 4 * 2**i) for i in range(4)]
    assert Discriminator(10, 32)(z).shape == (3,)


def test_bad_geometry_and_values_are_named():
    with pytest.raises(ConfigError, match="image_size"):
        Encoder(40, 4, 10)
    with pytest.raises(ConfigError, match="sigma"):
        _model(sigma=-0.1)
    with pytest.raises(ConfigError, match="reconstruction"):
        _model(reconstruction="l1")
    with pytest.raises(ValueError, match="expected images"):
        Encoder(16, 4, 10)(torch.rand(2, 1, 16, 16))


def test_corruption_has_the_configured_sigma():
    x = torch.full((64, 3, 32, 32), 0.5)
    for sigma in (0.1, 0.25):
        noise = corrupt(x, sigma, torch.Generator().manual_seed(0)) - x
        assert abs(noise.std().item() - sigma) < 0.01 * sigma * 10 and abs(noise.mean().item()) < 0.005
    assert torch.equal(corrupt(x, 0.0), x)


def test_discriminator_and_encoder_losses_move_the_right_way():
    torch.manual_seed(0)
    discriminator = Discriminator(4, 32)
    z_codes = torch.randn(256, 4) * 0.3 + 2.0  # codes far from the N(0, I) prior
    z_prior = torch.randn(256, 4)
    opt = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    before = discriminator_loss(discriminator, z_codes, z_prior).item()
    for _ in range(20):
        opt.zero_grad()
        discriminator_loss(discriminator, z_codes, z_prior).backward()
        opt.step()
    after = discriminator_loss(discriminator, z_codes, z_prior).item()
    assert after < before - 0.2  # the discriminator learns to tell codes from prior samples
    # the encoder's loss is high against a discriminator that sees through it, and its gradient
    # moves the codes toward the prior (their mean toward 0)
    codes = z_codes.clone().requires_grad_(True)
    loss = encoder_adversarial_loss(discriminator, codes)
    assert loss.item() > 0.69
    loss.backward()
    step = -codes.grad.mean(0)
    assert (step * (0 - z_codes.mean(0))).sum() > 0
    # and the discriminator loss detaches the codes: no gradient reaches them
    codes.grad = None
    discriminator_loss(discriminator, codes, z_prior).backward()
    assert codes.grad is None


def test_one_training_step_of_each_variant_runs_and_only_the_adversarial_ones_train_the_discriminator():
    batch = {"image": torch.rand(8, 3, 16, 16), "label": torch.tensor([0, 1] * 4)}
    for sigma, adversarial in [(0.0, False), (0.1, False), (0.0, True), (0.1, True)]:
        torch.manual_seed(0)
        model = _model(sigma=sigma, adversarial=adversarial)
        opts = model.configure_optimizers()
        model.optimizers = lambda opts=opts: opts
        model.manual_backward = lambda loss: loss.backward()
        model.log = model.log_dict = lambda *a, **k: None
        before_d = [p.clone() for p in model.discriminator.parameters()]
        before_e = [p.clone() for p in model.encoder.parameters()]
        model.training_step(batch, 0)
        moved_d = any(not torch.equal(a, b) for a, b in zip(before_d, model.discriminator.parameters(), strict=True))
        moved_e = any(not torch.equal(a, b) for a, b in zip(before_e, model.encoder.parameters(), strict=True))
        assert moved_e and moved_d == adversarial
        assert model.name == {(0.0, False): "AE", (0.1, False): "DAE", (0.0, True): "AAE", (0.1, True): "DAAE"}[(sigma, adversarial)]


def test_same_seed_same_codes():
    x = torch.rand(4, 3, 16, 16)
    codes = []
    for _ in range(2):
        torch.manual_seed(3)
        model = _model()
        torch.manual_seed(5)
        losses = model.losses(x)
        codes.append((model.encode(x), losses["rec"].detach(), losses["dis"].detach()))
    assert all(torch.equal(a, b) for a, b in zip(*codes, strict=True))


def test_supervised_baseline_shapes_and_threshold_from_training_labels():
    model = SupervisedLesionClassifier(optimizer=partial(torch.optim.Adam, lr=1e-3), image_size=16, width=4, nz=6)
    x = torch.rand(5, 3, 16, 16)
    assert model(x).shape == (5,)
    model.log = lambda *a, **k: None
    model.training_step({"image": x, "label": torch.tensor([0, 0, 0, 1, 1])}, 0)
    assert model.label_counts.tolist() == [3.0, 2.0]
    assert "label_counts" in model.state_dict()
    with pytest.raises(ConfigError, match="pos_weight"):
        SupervisedLesionClassifier(optimizer=torch.optim.Adam, pos_weight=0.0)
