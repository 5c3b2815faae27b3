"""Networks and modules: vectorised members are independent, head copying, losses, bad input."""
import pytest
import torch
from torch import nn

from common.errors import ConfigError
from papers.hydra_distillation import metrics as M
from papers.hydra_distillation.model import DistillModule, EnsembleModule, ensemble_loss
from papers.hydra_distillation.nets import GroupedLinear, MultiHeadMLP


def adam(params):
    return torch.optim.Adam(params, lr=1e-3)


def test_grouped_linear_is_independent_linears():
    torch.manual_seed(0)
    layer = GroupedLinear(3, 4, 5)
    x = torch.randn(7, 4)
    out = layer(x)
    for g in range(3):
        linear = nn.Linear(4, 5)
        linear.weight.data = layer.weight[g].T.clone()
        linear.bias.data = layer.bias[g, 0].clone()
        assert torch.allclose(out[g], linear(x), atol=1e-6)


def test_vectorised_ensemble_trains_each_member_as_if_alone():
    """SGD on the summed loss of the stacked members = SGD on each member alone."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 2), torch.randint(0, 3, (32,))
    ensemble = MultiHeadMLP(2, 3, hidden=[8, 8], shared_layers=0, num_heads=3)
    alone = [MultiHeadMLP(2, 3, hidden=[8, 8], shared_layers=0, num_heads=1) for _ in range(3)]
    for m, member in enumerate(alone):
        for big, small in zip(ensemble.parameters(), member.parameters(), strict=True):
            small.data = big.data[m : m + 1].clone()
    opt = torch.optim.SGD(ensemble.parameters(), lr=0.1)
    opts = [torch.optim.SGD(member.parameters(), lr=0.1) for member in alone]
    for _ in range(5):
        opt.zero_grad()
        ensemble_loss(ensemble(x), y, "classification", 1e-3).backward()
        opt.step()
        for member, o in zip(alone, opts, strict=True):
            o.zero_grad()
            ensemble_loss(member(x), y, "classification", 1e-3).backward()
            o.step()
    out = ensemble(x)
    for m, member in enumerate(alone):
        assert torch.allclose(out[m], member(x)[0], atol=1e-5)
    # Members start from different random weights, so they disagree.
    assert not torch.allclose(out[0], out[1])


def test_hydra_shares_the_body_and_copies_the_head():
    torch.manual_seed(0)
    net = MultiHeadMLP(2, 3, hidden=[16, 16, 16], shared_layers=2, num_heads=4)
    assert net.body_parameter_count() == (2 * 16 + 16) + (16 * 16 + 16)
    assert net.head_parameter_count() == (16 * 16 + 16) + (16 * 3 + 3)
    x = torch.randn(10, 2)
    probs = net(x).detach().softmax(-1)
    assert float(M.entropy_decomposition(probs)["mutual_information"].mean()) > 0  # random heads disagree
    net.copy_head(0)
    out = net(x)
    assert torch.allclose(out, out[:1].expand_as(out))
    assert float(M.entropy_decomposition(out.softmax(-1))["mutual_information"].max()) == 0.0


def _nets(heads=4, members=4, shared=2, out=3):
    teacher = MultiHeadMLP(2, out, hidden=[8, 8, 8], shared_layers=0, num_heads=members)
    student = MultiHeadMLP(2, out, hidden=[8, 8, 8], shared_layers=shared, num_heads=heads)
    return student, teacher


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"heads": 1, "members": 4}, "Hydra needs model.net.num_heads >= 2"),
    ({"heads": 3, "members": 4}, "must\nequal|must equal"),
    ({"heads": 4, "members": 1}, "teacher must be an ensemble"),
])
def test_hydra_head_count_errors(kwargs, message):
    student, teacher = _nets(**kwargs)
    with pytest.raises(ConfigError, match=message):
        DistillModule(student, teacher, adam, method="hydra")


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(temperature):
    student, teacher = _nets()
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        DistillModule(student, teacher, adam, method="hydra", temperature=temperature)


def test_kd_is_one_network_and_ensemble_has_members():
    student, teacher = _nets(heads=2)
    with pytest.raises(ConfigError, match="KD distils into one network"):
        DistillModule(student, teacher, adam, method="kd")
    with pytest.raises(ConfigError, match="num_heads >= 2 members"):
        EnsembleModule(MultiHeadMLP(2, 3, hidden=[8], num_heads=1), adam)
    with pytest.raises(ConfigError, match="shared_layers must be 0"):
        EnsembleModule(MultiHeadMLP(2, 3, hidden=[8, 8], shared_layers=1, num_heads=3), adam)
    with pytest.raises(ConfigError, match="method must be one of"):
        DistillModule(*_nets(), adam, method="hydra2")


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_distillation_losses_vanish_only_at_the_target(task):
    torch.manual_seed(0)
    out = 3 if task == "classification" else 2
    student, teacher = _nets(heads=4, members=4, shared=0, out=out)
    module = DistillModule(student, teacher, adam, method="hydra", temperature=2.0, task=task)
    t = teacher(torch.randn(16, 2))
    assert float(module.distillation_loss(t, t, per_member=True)) == pytest.approx(0.0, abs=1e-6)
    assert float(module.distillation_loss(t.flip(0), t, per_member=True)) > 1e-3
    # A head at the ensemble mean: zero for the mean target, not for the members.
    if task == "classification":
        mean_logits = torch.log(torch.softmax(t / 2.0, -1).mean(0, keepdim=True)) * 2.0
    else:
        moments = M.mixture_moments(t[..., 0], torch.nn.functional.softplus(t[..., 1]) + 1e-3)
        raw = torch.log(torch.expm1(moments["variance"] - 1e-3))
        mean_logits = torch.stack([moments["mean"], raw], -1)[None]
    assert float(module.distillation_loss(mean_logits, t, per_member=False)) == pytest.approx(0.0, abs=1e-5)
    assert float(module.distillation_loss(mean_logits.expand_as(t), t, per_member=True)) > 1e-3


def test_ensemble_clips_each_members_gradient_as_if_alone():
    """trainer.gradient_clip_val on the ensemble = clip_grad_norm_ on each member alone."""
    from papers.hydra_distillation.model import clip_member_gradients

    torch.manual_seed(0)
    x, y = torch.randn(32, 2), torch.randint(0, 3, (32,))
    ensemble = MultiHeadMLP(2, 3, hidden=[8, 8], shared_layers=0, num_heads=3)
    with torch.no_grad():
        ensemble.heads[-1].weight[1] *= 50  # member 1 gets a large gradient, the others small ones
    alone = [MultiHeadMLP(2, 3, hidden=[8, 8], shared_layers=0, num_heads=1) for _ in range(3)]
    for m, member in enumerate(alone):
        for big, small in zip(ensemble.parameters(), member.parameters(), strict=True):
            small.data = big.data[m : m + 1].clone()
    ensemble_loss(ensemble(x), y, "classification", 1e-3).backward()
    clip_member_gradients(ensemble, 0.5)
    clipped = 0
    for m, member in enumerate(alone):
        ensemble_loss(member(x), y, "classification", 1e-3).backward()
        clipped += float(torch.nn.utils.clip_grad_norm_(list(member.parameters()), 0.5)) > 0.5
        for big, small in zip(ensemble.parameters(), member.parameters(), strict=True):
            assert torch.allclose(big.grad[m : m + 1], small.grad, atol=1e-6)
    assert 0 < clipped < 3  # some members were clipped, some not: a global norm would differ


def test_hinton_temperature_applies_to_the_mean_target_only():
    """hinton_temperature (hydra_plus: 1 for the mean, 8 per member on CIFAR-10) changes the loss
    against the ensemble mean and leaves the per-member loss at `temperature`."""
    torch.manual_seed(0)
    student, teacher = _nets(heads=4, members=4, shared=0)
    x = torch.randn(16, 2)
    s, t = student(x), teacher(x)
    same = DistillModule(student, teacher, adam, method="hydra", temperature=8.0)
    split = DistillModule(student, teacher, adam, method="hydra", temperature=8.0, hinton_temperature=1.0)
    one = DistillModule(student, teacher, adam, method="hydra", temperature=1.0)
    assert float(split.distillation_loss(s, t, per_member=True)) == pytest.approx(
        float(same.distillation_loss(s, t, per_member=True)))
    assert float(split.distillation_loss(s[:1], t, per_member=False)) == pytest.approx(
        float(one.distillation_loss(s[:1], t, per_member=False)))
    assert float(split.distillation_loss(s[:1], t, per_member=False)) != pytest.approx(
        float(same.distillation_loss(s[:1], t, per_member=False)))
    with pytest.raises(ConfigError, match="hinton_temperature"):
        DistillModule(student, teacher, adam, method="hydra", hinton_temperature=0.0)
