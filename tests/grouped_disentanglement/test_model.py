"""The grouped VAE: shapes, the grouped posterior in the loss, the critic's training step, the NLL
estimate against the ELBO, and named errors."""
from functools import partial

import pytest
import torch

from common.errors import ConfigError
from papers.grouped_disentanglement.model import GroupedVAE, mi_estimate


def _model(**kwargs):
    torch.manual_seed(0)
    settings = {"image_size": 16, "content_dim": 2, "style_dim": 3, **kwargs}
    model = GroupedVAE(optimizer=partial(torch.optim.Adam, lr=1e-3), **settings)
    optimizers = model.configure_optimizers()
    model.optimizers = lambda: optimizers
    model.manual_backward = lambda loss: loss.backward()
    model.log = model.log_dict = lambda *a, **k: None
    return model


def _groups(b=4, g=2):
    return (torch.rand(b, g, 1, 16, 16) > 0.7).float()


def test_group_posterior_is_shared_and_codes_have_their_shapes():
    model = _model()
    post = model.encode_groups(_groups(3, 4))
    assert post["c_mean"].shape == (3, 4, 2) and post["s_mean"].shape == (3, 4, 3) and post["group_mean"].shape == (3, 2)
    # the product's variance is below every member's
    assert (post["group_logvar"].unsqueeze(1) < post["c_logvar"]).all()
    content, style = model.encode(torch.rand(5, 1, 16, 16))
    assert content.shape == (5, 2) and style.shape == (5, 3)
    assert model.decode(content, style).shape == (5, 1, 16, 16)


def test_training_step_moves_the_critic_and_lambda_only_with_mi():
    x = _groups(6, 2)
    on = _model(mi=True, critic_steps=2)
    critic_before = [p.clone() for p in on.critic.parameters()]
    on.training_step({"images": x}, 0)
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, on.critic.parameters(), strict=True))
    assert float(on.mi_lambda) >= 0 and float(on.mi_lambda) != 1.0
    off = _model(mi=False)
    critic_before = [p.clone() for p in off.critic.parameters()]
    off.training_step({"images": x}, 0)
    assert all(torch.equal(a, b) for a, b in zip(critic_before, off.critic.parameters(), strict=True))
    assert float(off.mi_lambda) == 1.0


def test_lambda_is_held_for_the_warm_up_iterations_then_adapts():
    x = _groups(6, 2)
    model = _model(mi=True, critic_steps=1, lambda_warmup=3, lambda_rate=0.5)
    for _ in range(3):
        model.training_step({"images": x}, 0)
        assert float(model.mi_lambda) == 1.0  # held at lambda0 while the critic learns
    assert int(model.ae_steps) == 3
    model.training_step({"images": x}, 0)
    assert float(model.mi_lambda) != 1.0 and float(model.mi_lambda) >= 0
    assert "ae_steps" in model.state_dict()  # a resumed run knows where its warm-up stands
    with pytest.raises(ConfigError, match="lambda_warmup"):
        _model(lambda_warmup=-1)


def _evaluate(model, fit_batches, test_batches):
    """The test loop as Lightning runs it (labelled singles, then test groups); the logged metrics."""
    logged = {}
    model.log = lambda name, value, **k: logged.__setitem__(name, float(value))
    model.eval()
    model.on_test_epoch_start()
    with torch.no_grad():
        for batch in fit_batches:
            model.test_step(batch, 0, dataloader_idx=0)
        for batch in test_batches:
            model.test_step(batch, 0, dataloader_idx=1)
    model.on_test_epoch_end()
    return logged


def test_evaluation_draws_are_seeded_apart_from_training():
    """The test's sampled codes and NLL draws come from the model's own generator (eval_seed): the same
    weights give the same metrics, whatever the global random state (a reused run or a fresh one)."""
    model = _model(eval_seed=7, nll_samples=3)
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 4
    fit = [{"image": (torch.rand(40, 1, 16, 16, generator=gen) > 0.7).float(), "label": labels}]
    test = [{"images": (torch.rand(10, 2, 1, 16, 16, generator=gen) > 0.7).float(), "labels": labels[:20].view(10, 2)}]
    torch.manual_seed(1)
    first = _evaluate(model, fit, test)
    torch.manual_seed(2)
    torch.randn(1000)  # other use of the global generator (training, another run) in between
    second = _evaluate(model, fit, test)
    assert set(first) >= {"test/nll", "test/content_sampled_acc", "test/style_sampled_acc", "test/lambda"}
    assert first == second
    other = _evaluate(_model(eval_seed=8, nll_samples=3), fit, test)
    assert other["test/nll"] != first["test/nll"]  # the draws do depend on the evaluation seed


def test_mi_estimate_is_finite_and_a_batch_needs_two_groups():
    model = _model()
    style = torch.randn(4, 2, 3)
    assert torch.isfinite(mi_estimate(model.critic, _groups(4, 2), style))
    with pytest.raises(ValueError, match="two groups"):
        mi_estimate(model.critic, _groups(1, 2), torch.randn(1, 2, 3))


def test_importance_weighted_nll_is_below_the_negative_elbo_on_average():
    model = _model().eval()
    x = _groups(8, 2)
    torch.manual_seed(1)
    with torch.no_grad():
        elbo = torch.stack([model.elbo_terms(x)["loss"] for _ in range(200)]).mean() / 2  # per image
        nll, rec = model.importance_weighted_nll(x, samples=200)
    assert nll.mean() <= elbo + 1e-3 and torch.isfinite(rec).all()


def test_groups_of_one_and_bad_settings_are_named():
    model = _model()
    with pytest.raises(ConfigError, match="at least 2 members"):
        model.encode_groups(torch.zeros(3, 1, 1, 16, 16))
    with pytest.raises(ConfigError, match="one member"):
        _model(group_size=1)
    with pytest.raises(ConfigError, match="model.grouping"):
        _model(grouping="mean")
    with pytest.raises(ConfigError, match="multiple of 8"):
        _model(image_size=20)
    with pytest.raises(ConfigError, match="mi_target"):
        _model(mi_target=0)


def test_gvae_averages_the_members():
    model = _model(grouping="gvae")
    post = model.encode_groups(_groups(2, 3))
    assert torch.allclose(post["group_mean"], post["c_mean"].mean(1))
