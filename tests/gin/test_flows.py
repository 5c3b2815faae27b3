"""GIN coupling blocks: Jacobian determinant exactly 1, exact inverses; GLOW (the ablation) is not volume-preserving."""

import pytest
import torch
from torch.autograd.functional import jacobian

from common.errors import ConfigError
from papers.gin.flows import FixedPermutation, conv_flow, fc_flow, random_glow_net


def _randomise(flow: torch.nn.Module, scale: float = 0.2, seed: int = 0) -> torch.nn.Module:
    """Give the zero-initialised last layers random weights, so the blocks are far from identity."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in flow.parameters():
            if not param.requires_grad:  # i-RevNet downsampling's fixed kernel
                continue
            param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * scale)
    return flow


def _numerical_log_det(flow, x_single: torch.Tensor) -> float:
    jac = jacobian(lambda v: flow(v[None])[0][0].reshape(-1), x_single)
    jac = jac.reshape(jac.shape[0], -1)
    return torch.linalg.slogdet(jac)[1].item()


def test_gin_fc_block_log_det_exactly_zero_and_jacobian_determinant_one():
    flow = _randomise(fc_flow(dims=10, n_blocks=8, width=10)).double()
    x = torch.randn(16, 10, dtype=torch.float64) * 3
    z, log_det = flow(x)
    assert torch.equal(log_det, torch.zeros(16, dtype=torch.float64))  # exactly, by construction
    assert not torch.allclose(z, x)  # the flow does something
    for i in range(3):
        assert abs(_numerical_log_det(flow, x[i])) < 1e-9


def test_glow_block_is_not_volume_preserving_and_reports_its_log_det():
    flow = _randomise(fc_flow(dims=10, n_blocks=4, width=10, volume_preserving=False)).double()
    x = torch.randn(4, 10, dtype=torch.float64)
    _, log_det = flow(x)
    for i in range(4):
        numerical = _numerical_log_det(flow, x[i])
        assert abs(numerical) > 1e-3
        assert numerical == pytest.approx(log_det[i].item(), abs=1e-8)


@pytest.mark.parametrize("volume_preserving", [True, False])
def test_fc_flow_inverts_exactly_in_float64(volume_preserving):
    flow = _randomise(fc_flow(dims=10, volume_preserving=volume_preserving), seed=1).double()
    x = torch.randn(64, 10, dtype=torch.float64) * 5
    z, _ = flow(x)
    back, _ = flow(z, rev=True)
    assert (back - x).abs().max().item() < 1e-5
    x_again, _ = flow(flow(x, rev=True)[0])
    assert (x_again - x).abs().max().item() < 1e-5


def test_conv_flow_has_zero_log_det_and_inverts_in_float64():
    flow = _randomise(conv_flow(image_size=8, conv_blocks=(2, 2), conv_widths=(4, 8), fc_blocks=1, fc_width=16),
                      scale=0.2).double()
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    z, log_det = flow(x)
    assert z.shape == (5, 64)
    assert torch.equal(log_det, torch.zeros(5, dtype=torch.float64))
    back, _ = flow(z, rev=True)
    assert back.shape == x.shape
    assert (back - x).abs().max().item() < 1e-5
    assert abs(_numerical_log_det(flow, x[0])) < 1e-8


def test_paper_emnist_architecture_shapes():
    flow = conv_flow()  # 28×28, 4 + 4 conv blocks (16, 32), 2 FC blocks (392)
    couplings = [m for m in flow.module_list if type(m).__name__ == "GINCouplingBlock"]
    assert len(couplings) == 10
    z, log_det = flow(torch.rand(2, 1, 28, 28))
    assert z.shape == (2, 784) and torch.equal(log_det, torch.zeros(2))


def test_zero_initialised_flow_starts_as_a_permutation():
    flow = fc_flow(dims=10)
    x = torch.randn(8, 10)
    z, _ = flow(x)
    assert torch.allclose(torch.sort(z, 1).values, torch.sort(x, 1).values)


def test_permutation_is_seeded_and_saved():
    a, b = FixedPermutation([(10,)], seed=3), FixedPermutation([(10,)], seed=3)
    assert torch.equal(a.perm, b.perm) and "perm" in a.state_dict()
    x = torch.randn(2, 10)
    (y,), _ = a([x])
    (back,), _ = a([y], rev=True)
    assert torch.equal(back, x)


def test_random_glow_mixing_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = random_glow_net(seed=5), random_glow_net(seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    x = torch.randn(3, 10)
    with torch.no_grad():
        assert torch.equal(a(x)[0], b(x)[0])
        assert not torch.allclose(a(x)[0], x)


def test_bad_flow_settings_raise_config_errors():
    with pytest.raises(ConfigError, match="clamp"):
        fc_flow(clamp=0)
    with pytest.raises(ConfigError, match="dims"):
        fc_flow(dims=1)
    with pytest.raises(ConfigError, match="divisible by 4"):
        conv_flow(image_size=10)


def test_gin_block_scales_sum_to_zero_and_stay_within_clamp():
    # First half of a block: y1 = exp(s(x2)) * x1 + t(x2), so dy1/dx1 = diag(exp(s)) with
    # s = clamp·(2/π)·atan(raw) − mean: the log-scales sum to 0 and lie in (−2·clamp, 2·clamp).
    clamp = 0.5
    flow = _randomise(fc_flow(dims=6, n_blocks=1, width=8, clamp=clamp, seed=0), scale=1.0).double()
    block = flow.module_list[0]
    generator = torch.Generator().manual_seed(0)
    largest = 0.0
    for _ in range(5):
        x = torch.randn(6, dtype=torch.float64, generator=generator) * 3
        jac = jacobian(lambda v: block([v[None]])[0][0][0], x)
        d11 = jac[:3, :3]
        assert torch.allclose(d11, torch.diag(torch.diagonal(d11)))
        log_scales = torch.diagonal(d11).log()
        assert abs(log_scales.sum().item()) < 1e-10
        assert log_scales.abs().max().item() < 2 * clamp
        largest = max(largest, log_scales.abs().max().item())
    assert largest > 0.05  # not the identity
